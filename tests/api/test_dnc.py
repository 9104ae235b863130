"""Do-not-call lists over the API: admins read, add and remove; the dialer obeys at once."""

from __future__ import annotations

from pathlib import Path

import httpx
from attrs import evolve

from pbx.app import Application
from pbx.config import AppConfig
from tests.api.helpers import bearer, token, with_api

NY = "+12125550123"
NY2 = "+12125550124"


def with_internal_list(config: AppConfig) -> AppConfig:
    """The example with an ``internal`` list named by ``sales-out``."""
    sales = evolve(config.campaigns["sales-out"], dnc_lists=("internal",))
    return evolve(
        config,
        dnc={"internal": ("+74951234567",)},
        campaigns={**config.campaigns, "sales-out": sales},
    )


def test_an_admin_reads_adds_and_removes_numbers(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        admin = bearer(await token(client, "admin", "admin"))
        r = await client.get("/api/dnc/internal", headers=admin)
        assert r.json() == {"list": "internal", "count": 1, "numbers": ["+74951234567"]}
        assert (await client.get("/api/dnc/global", headers=admin)).json()["numbers"] == []

        r = await client.post(
            "/api/dnc/internal", json={"numbers": ["+1 212 555 0123", "2125550124"]}, headers=admin
        )
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {
                "field": "numbers[1]",
                "problem": "needs its country code (+...): no default region applies here",
                "value": "2125550124",
            }
        ]
        assert app.dialer.dnc.listed(NY, ("internal",)) is None  # all or nothing

        r = await client.post(
            "/api/dnc/internal", json={"numbers": ["+1 212 555 0123"]}, headers=admin
        )
        assert r.status_code == 200
        assert r.json()["numbers"] == [NY, "+74951234567"]
        assert app.dialer.dnc.listed(NY, ("internal",)) == "internal"

        # An import into the campaign naming the list now refuses the number.
        csv = f"phone,name\n{NY},Jane\n{NY2},Bob\n"
        r = await client.post(
            "/api/campaigns/sales-out/leads",
            content=csv,
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["problem"] == "is on a do-not-call list"

        r = await client.request(
            "DELETE", "/api/dnc/internal", json={"numbers": [NY]}, headers=admin
        )
        assert r.json() == {"list": "internal", "count": 1, "numbers": ["+74951234567"]}
        r = await client.post(
            "/api/campaigns/sales-out/leads",
            content=csv,
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert r.json() == {"campaign": "sales-out", "rows": 2, "imported": 2}

    with_api(tmp_path, body, with_internal_list)


def test_only_admins_and_known_lists(tmp_path: Path) -> None:
    async def body(app: Application, client: httpx.AsyncClient) -> None:
        sup = bearer(await token(client, "2099"))
        admin = bearer(await token(client, "admin", "admin"))
        r = await client.post("/api/dnc/global", json={"numbers": [NY]}, headers=sup)
        assert r.status_code == 403
        assert app.dialer.dnc.listed(NY) is None
        r = await client.get("/api/dnc/nope", headers=admin)
        assert r.status_code == 404
        assert r.json()["detail"] == "no do-not-call list 'nope' (lists: global)"

    with_api(tmp_path, body)


def test_changes_made_over_the_api_survive_a_restart(tmp_path: Path) -> None:
    async def change(app: Application, client: httpx.AsyncClient) -> None:
        admin = bearer(await token(client, "admin", "admin"))
        r = await client.post("/api/dnc/global", json={"numbers": [NY, NY2]}, headers=admin)
        assert r.json()["count"] == 2
        r = await client.request(
            "DELETE", "/api/dnc/internal", json={"numbers": ["+74951234567"]}, headers=admin
        )
        assert r.json()["count"] == 0
        r = await client.request(
            "DELETE", "/api/dnc/global", json={"numbers": [NY2]}, headers=admin
        )
        assert r.json()["numbers"] == [NY]

    async def after(app: Application, client: httpx.AsyncClient) -> None:
        admin = bearer(await token(client, "admin", "admin"))
        assert (await client.get("/api/dnc/global", headers=admin)).json()["numbers"] == [NY]
        # Taken off the configured list over the API: it stays off.
        assert (await client.get("/api/dnc/internal", headers=admin)).json()["count"] == 0
        assert app.dialer.dnc.listed(NY, ()) == "global"
        audit = app.store.query("SELECT user, action, resource FROM audit ORDER BY id")
        assert [(a["user"], a["action"], a["resource"]) for a in audit] == [
            ("admin", "dnc_add", "dnc/global"),
            ("admin", "dnc_remove", "dnc/internal"),
            ("admin", "dnc_remove", "dnc/global"),
        ]

    with_api(tmp_path, change, with_internal_list)
    with_api(tmp_path, after, with_internal_list)  # the same store, a new process
