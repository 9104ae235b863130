"""The control API over loopback: login, roles, problem bodies, agents, queues, calls,
records, health, metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from attrs import evolve

from pbx.app import Application
from tests.api.helpers import bearer, token, with_api

PROBLEM = "application/problem+json"


def test_login_gives_a_token_and_wrong_passwords_a_401_then_429(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/login", json={"user": "2001", "password": "pw2001"})
        assert r.status_code == 200
        assert r.json()["role"] == "agent" and len(r.json()["token"]) > 30
        me = await client.get("/api/me", headers=bearer(r.json()["token"]))
        assert me.json()["user"] == "2001"
        for _ in range(5):
            bad = await client.post("/api/login", json={"user": "2002", "password": "nope"})
            assert bad.status_code == 401
            assert bad.headers["content-type"] == PROBLEM
            assert bad.json()["detail"] == "wrong user or password"
        limited = await client.post("/api/login", json={"user": "2002", "password": "pw2002"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # Another user is not held up by 2002's failures.
        assert (
            await client.post("/api/login", json={"user": "2003", "password": "pw2003"})
        ).status_code == 200

    with_api(tmp_path, body)


def test_no_token_or_a_bad_one_is_a_401_with_a_bearer_challenge(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic eDp5"}):
            r = await client.get("/api/calls", headers=headers)
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["status"] == 401 and r.headers["content-type"] == PROBLEM

    with_api(tmp_path, body)


def test_bad_bodies_get_problem_bodies_naming_the_field(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        t = bearer(await token(client, "admin", "admin"))
        r = await client.post("/api/agents/2001/state", json={"state": "sleeping"}, headers=t)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        assert r.json()["errors"][0]["field"] == "state"
        assert r.json()["detail"].startswith("state:")
        r = await client.post(
            "/api/agents/2001/state",
            content=b"{not json",
            headers={**t, "Content-Type": "application/json"},
        )
        assert r.status_code == 400 and r.json()["detail"] == "the request body is not valid JSON"
        r = await client.post("/api/login", json={"user": 5})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"user", "password"}
        r = await client.get("/api/cdr?since=yesterday", headers=t)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"
        r = await client.get("/api/cdr?limit=0", headers=t)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
        r = await client.get("/api/agents/9999", headers=t)
        assert r.status_code == 404 and "9999" in r.json()["detail"]
        r = await client.get("/api/nothing-here", headers=t)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM

    with_api(tmp_path, body)


def test_roles_agent_sees_itself_supervisor_its_queues_admin_everything(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        agent = bearer(await token(client, "2001"))
        sup = bearer(await token(client, "2099"))
        admin = bearer(await token(client, "admin", "admin"))
        assert (await client.get("/api/agents/2001", headers=agent)).status_code == 200
        assert (await client.get("/api/agents/2002", headers=agent)).status_code == 403
        assert [a["id"] for a in (await client.get("/api/agents", headers=agent)).json()] == [
            "2001"
        ]
        assert (await client.get("/api/queues", headers=agent)).status_code == 403
        assert (
            await client.post("/api/agents/2002/state", json={"state": "ready"}, headers=agent)
        ).status_code == 403
        assert (await client.get("/api/cdr?agent=2002", headers=agent)).status_code == 403
        for who in (sup, admin):
            queues = (await client.get("/api/queues", headers=who)).json()
            assert {q["name"] for q in queues} == {"sales", "support"}
            assert len((await client.get("/api/agents", headers=who)).json()) == 10
        assert (await client.get("/api/queues/sales", headers=sup)).json()["waiting"] == 0

    with_api(tmp_path, body)


def test_a_supervisor_of_one_queue_sees_only_it(tmp_path: Path) -> None:
    def one_queue(config):  # type: ignore[no-untyped-def]
        users = tuple(
            evolve(u, supervises=("support",)) if u.extension == "2099" else u for u in config.users
        )
        return evolve(config, users=users)

    async def body(app: Application, client: httpx.AsyncClient) -> None:
        sup = bearer(await token(client, "2099"))
        assert [q["name"] for q in (await client.get("/api/queues", headers=sup)).json()] == [
            "support"
        ]
        assert (await client.get("/api/queues/sales", headers=sup)).status_code == 404
        seen = {a["id"] for a in (await client.get("/api/agents", headers=sup)).json()}
        assert seen == {"2006", "2007", "2008", "2009", "2010"}
        assert (await client.get("/api/agents/2001", headers=sup)).status_code == 403
        assert (await client.get("/api/cdr?queue=sales", headers=sup)).status_code == 403
        assert (await client.get("/api/cdr", headers=sup)).status_code == 200

    with_api(tmp_path, body, one_queue)


def test_agent_state_changes_through_the_api_reach_the_acd_and_the_queue_log(
    tmp_path: Path,
) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        t = bearer(await token(client, "2001"))
        r = await client.post(
            "/api/agents/2001/state", json={"state": "paused", "reason": "lunch"}, headers=t
        )
        assert r.status_code == 200
        assert r.json()["state"] == "not_ready" and r.json()["reason"] == "lunch"
        assert app.queues.distributor.agent("2001").state.value == "not_ready"
        r = await client.post("/api/agents/2001/state", json={"state": "ready"}, headers=t)
        # Logged in, but no registered phone: the ACD does not offer it calls.
        assert r.json()["state"] in ("ready", "not_ready")
        r = await client.post("/api/agents/2001/state", json={"state": "logged_out"}, headers=t)
        assert r.json()["state"] == "logged_out"
        log = (await client.get("/api/queue-log?agent=2001", headers=t)).json()
        events = [row["event"] for row in log]
        assert "AGENTLOGIN" in events and "PAUSE" in events and "AGENTLOGOFF" in events

    with_api(tmp_path, body)


def test_openapi_health_version_and_metrics(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        spec = (await client.get("/api/openapi.json")).json()
        assert "/api/agents/{agent}/state" in spec["paths"] and "/api/login" in spec["paths"]
        assert (await client.get("/api/docs")).status_code == 200
        health = (await client.get("/api/health")).json()
        assert health["store"]["status"] == "ok" and health["media"]["ticking"]
        metrics = (await client.get("/metrics")).text
        assert "pbx_calls_active 0.0" in metrics
        assert 'pbx_queue_waiting{queue="sales"} 0.0' in metrics
        assert 'pbx_agents{state="logged_out"} 10.0' in metrics
        assert "pbx_media_tick_seconds" in metrics
        assert "pbx_rtp_packets_lost_total 0.0" in metrics
        assert "pbx_rtp_packets_late_total 0.0" in metrics
        # The dialer: leads by state, lines, abandon rates per window.
        admin = bearer(await token(client, "admin", "admin"))
        csv = "phone\n+12125550141\n+12125550142\n"
        headers = {**admin, "Content-Type": "text/csv"}
        r = await client.post("/api/campaigns/reminders/leads", content=csv, headers=headers)
        assert r.status_code == 200, r.text
        metrics = (await client.get("/metrics")).text
        assert 'pbx_dialer_leads{campaign="reminders",state="pending"} 2.0' in metrics
        assert 'pbx_dialer_lines{campaign="reminders"} 0.0' in metrics
        assert 'pbx_dialer_abandon_rate{campaign="sales-out",window="30d"} 0.0' in metrics

    with_api(tmp_path, body)


def test_the_configuration_summary_is_for_admins_and_holds_no_secret(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        admin = bearer(await token(client, "admin", "admin"))
        sup = bearer(await token(client, "2099"))
        assert (await client.get("/api/config", headers=sup)).status_code == 403
        r = await client.get("/api/config", headers=admin)
        assert r.status_code == 200
        summary = r.json()
        assert {u["extension"] for u in summary["users"]} >= {"2001", "2099"}
        assert set(summary["queues"]) == {"sales", "support"}
        assert summary["http"]["admins"] == ["admin"]
        for secret in ("pw2001", "pw2099", '"admin"'):
            assert secret not in r.text.replace('"admins":["admin"]', "")

    with_api(tmp_path, body)
