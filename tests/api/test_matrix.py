"""Every endpoint × role: what an agent, a supervisor, an admin and nobody get.

No calls are up, so endpoints about a live call answer 404 to everyone who may ask at
all; what matters here is that each role is let in or refused as documented.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from pbx.app import Application
from tests.api.helpers import bearer, token, with_api

# (method, path, body) → expected status for (anonymous, agent 2001, supervisor 2099, admin)
MATRIX: list[tuple[str, str, dict[str, object] | None, tuple[int, int, int, int]]] = [
    ("GET", "/api/me", None, (401, 200, 200, 200)),
    ("GET", "/api/me/phone", None, (401, 200, 200, 404)),
    ("GET", "/api/queues", None, (401, 403, 200, 200)),
    ("GET", "/api/queues/sales", None, (401, 403, 200, 200)),
    ("GET", "/api/queues/sales/calls", None, (401, 403, 200, 200)),
    ("POST", "/api/queues/sales/calls/x/priority", {"priority": 1}, (401, 403, 404, 404)),
    ("POST", "/api/queues/sales/calls/x/move", {"to": "queue:support"}, (401, 403, 404, 404)),
    ("GET", "/api/agents", None, (401, 200, 200, 200)),
    ("GET", "/api/agents/2001", None, (401, 200, 200, 200)),
    ("GET", "/api/agents/2002", None, (401, 403, 200, 200)),
    ("POST", "/api/agents/2001/state", {"state": "logged_in"}, (401, 200, 200, 200)),
    ("POST", "/api/agents/2002/state", {"state": "logged_in"}, (401, 403, 200, 200)),
    ("POST", "/api/agents/2001/monitor", {"mode": "listen"}, (401, 403, 409, 422)),
    ("PUT", "/api/agents/2001/queues/support", {"penalty": 1}, (401, 403, 200, 200)),
    ("DELETE", "/api/agents/2002/queues/nope", None, (401, 403, 404, 404)),
    (
        "PUT",
        "/api/agents/2001/skills",
        {"skills": {"sales": 5, "english": 5}},
        (401, 403, 200, 200),
    ),
    ("GET", "/api/agents/2001/preview", None, (401, 200, 200, 200)),
    ("GET", "/api/agents/2002/preview", None, (401, 403, 200, 200)),
    ("POST", "/api/agents/2001/preview", {"lead": "x", "action": "dial"}, (401, 409, 409, 409)),
    ("POST", "/api/agents/2002/preview", {"lead": "x", "action": "skip"}, (401, 403, 409, 409)),
    ("GET", "/api/calls", None, (401, 200, 200, 200)),
    ("GET", "/api/calls/nope", None, (401, 404, 404, 404)),
    ("GET", "/api/calls/nope/history", None, (401, 404, 404, 404)),
    ("POST", "/api/calls", {"agent": "2001", "to": "2002"}, (401, 409, 409, 409)),
    ("POST", "/api/calls", {"agent": "2002", "to": "2001"}, (401, 403, 409, 409)),
    ("POST", "/api/calls/nope/hangup", None, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/hold", {"on": True}, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/transfer", {"to": "2002"}, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/consult", {"to": "2002"}, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/consult/complete", None, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/consult/cancel", None, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/dtmf", {"digits": "1"}, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/recording", {"paused": True}, (401, 404, 404, 404)),
    ("PATCH", "/api/calls/nope/data", {"k": "v"}, (401, 404, 404, 404)),
    ("POST", "/api/calls/nope/disposition", {"code": "sale"}, (401, 404, 404, 404)),
    ("GET", "/api/conferences", None, (401, 403, 200, 200)),
    ("GET", "/api/conferences/main", None, (401, 403, 200, 200)),
    ("GET", "/api/conferences/nope", None, (401, 403, 404, 404)),
    ("POST", "/api/conferences/main/lock", {"on": False}, (401, 403, 200, 200)),
    ("POST", "/api/conferences/main/mute", {"on": False}, (401, 403, 200, 200)),
    ("POST", "/api/conferences/main/members/x/mute", {"on": True}, (401, 403, 404, 404)),
    ("DELETE", "/api/conferences/main/members/x", None, (401, 403, 404, 404)),
    ("GET", "/api/cdr", None, (401, 200, 200, 200)),
    ("GET", "/api/cdr?agent=2002", None, (401, 403, 200, 200)),
    ("GET", "/api/cdr?format=csv", None, (401, 200, 200, 200)),
    ("GET", "/api/queue-log", None, (401, 200, 200, 200)),
    ("GET", "/api/voicemail/2001", None, (401, 200, 200, 200)),
    ("GET", "/api/voicemail/2002", None, (401, 403, 200, 200)),
    ("GET", "/api/voicemail/800", None, (401, 403, 403, 200)),
    ("GET", "/api/voicemail/2001/1/audio", None, (401, 404, 404, 404)),
    ("POST", "/api/voicemail/2001/1/heard", {"heard": True}, (401, 404, 404, 404)),
    ("DELETE", "/api/voicemail/2001/1", None, (401, 404, 404, 404)),
    ("GET", "/api/recordings", None, (401, 200, 200, 200)),
    ("GET", "/api/recordings/nope/audio", None, (401, 404, 404, 404)),
    ("DELETE", "/api/recordings/nope", None, (401, 403, 404, 404)),
    ("GET", "/api/campaigns", None, (401, 403, 200, 200)),
    ("GET", "/api/campaigns/sales-out", None, (401, 403, 200, 200)),
    ("GET", "/api/campaigns/reminders", None, (401, 403, 403, 200)),
    ("GET", "/api/campaigns/collections", None, (401, 403, 200, 200)),
    ("POST", "/api/campaigns/reminders/leads", None, (401, 403, 403, 422)),
    ("POST", "/api/campaigns/sales-out/stop", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/queues", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/queues?queue=sales&interval=day", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/agents?agent=2001", None, (401, 200, 200, 200)),
    ("GET", "/api/reports/agents?agent=2002", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/agents", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/calls?by=trunk", None, (401, 403, 403, 200)),
    ("GET", "/api/reports/ivr", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/campaigns", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/campaigns?campaign=reminders", None, (401, 403, 403, 200)),
    ("GET", "/api/reports/custom", None, (401, 403, 200, 200)),
    ("GET", "/api/reports/custom/nope", None, (401, 403, 403, 404)),
    ("GET", "/api/staffing?queue=sales", None, (401, 403, 200, 200)),
    ("GET", "/api/dnc/global", None, (401, 403, 403, 200)),
    ("GET", "/api/dnc/nope", None, (401, 403, 403, 404)),
    ("POST", "/api/dnc/global", {"numbers": ["+12125550199"]}, (401, 403, 403, 200)),
    ("DELETE", "/api/dnc/global", {"numbers": ["+12125550199"]}, (401, 403, 403, 200)),
    ("GET", "/api/config", None, (401, 403, 403, 200)),
    ("GET", "/api/health", None, (200, 200, 200, 200)),
    ("GET", "/api/version", None, (200, 200, 200, 200)),
]


def test_every_endpoint_for_every_role(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> list[str]:
        tokens = [
            {},
            bearer(await token(client, "2001")),
            bearer(await token(client, "2099")),
            bearer(await token(client, "admin", "admin")),
        ]
        wrong = []
        for method, path, payload, expected in MATRIX:
            for who, headers, status in zip(
                ("anonymous", "agent", "supervisor", "admin"), tokens, expected, strict=True
            ):
                r = await client.request(method, path, json=payload, headers=headers)
                if r.status_code != status:
                    wrong.append(
                        f"{method} {path} as {who}: {r.status_code}, expected {status}:"
                        f" {r.text[:120]}"
                    )
                if r.status_code >= 400:
                    assert r.headers["content-type"] == "application/problem+json", path
        return wrong

    assert with_api(tmp_path, body) == []


def test_every_documented_path_is_in_the_matrix(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> set[str]:
        spec = (await client.get("/api/openapi.json")).json()
        return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}

    documented = with_api(tmp_path, body)
    tested = set()
    for method, path, _, _ in MATRIX:
        bare = path.split("?")[0]
        for known in documented:
            m, p = known.split(" ", 1)
            parts, got = p.split("/"), bare.split("/")
            if (
                m == method
                and len(parts) == len(got)
                and all(a == b or a.startswith("{") for a, b in zip(parts, got, strict=True))
            ):
                tested.add(known)
    assert documented - tested - {"POST /api/login"} == set()
