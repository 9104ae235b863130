"""``pbx campaign import|start|pause|resume|stop|show NAME [CSV]``: campaigns from a shell.

With the call center running, the command goes to its control API (``[http] listen``,
logged in as the first ``[http.admins]`` user), so the running dialer takes it at once.
With it stopped, the command is written to the store the configuration names: imported
leads are validated the same way and stored, a start is remembered, and the next
``pbx run`` resumes from there. Either way a lead list is imported whole or not at all;
a refusal prints every row's problem and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from pbx.config import AppConfig
from pbx.dialer.compliance import DncRegistry
from pbx.dialer.leads import import_leads, lead_from_dict, lead_to_dict
from pbx.store import Store

VERBS = ("import", "start", "pause", "resume", "stop", "show")
STATES = {"start": "running", "resume": "running", "pause": "paused", "stop": "stopped"}


def add_parser(sub: Any) -> None:
    """The ``campaign`` sub-command."""
    p = sub.add_parser("campaign", help="import leads, start/pause/resume/stop or show a campaign")
    p.add_argument("verb", choices=VERBS)
    p.add_argument("name", help="the campaign ([campaigns.NAME])")
    p.add_argument("csv", nargs="?", help="the lead list (import)")
    p.add_argument("--config", default="examples/callcenter.toml", help="the TOML configuration")


def run(config: AppConfig, args: argparse.Namespace) -> int:
    """Carry out the command; the exit status."""
    if args.name not in config.campaigns:
        known = ", ".join(sorted(config.campaigns)) or "none"
        print(f"pbx: no campaign {args.name!r} (campaigns: {known})", file=sys.stderr)
        return 2
    text = ""
    if args.verb == "import":
        if not args.csv:
            print("pbx: campaign import needs the CSV file", file=sys.stderr)
            return 2
        text = Path(args.csv).read_text(encoding="utf-8-sig")
    client = _api(config)
    if client is None:
        return _offline(config, args, text)
    try:
        return _online(client, args, text)
    finally:
        client.close()


def _api(config: AppConfig) -> httpx.Client | None:
    """A client logged in to the running call center's API, or None when it is not up."""
    http = config.http
    if not http.enabled or not http.admins:
        return None
    admin = http.admins[0]
    client = httpx.Client(base_url=f"http://{http.host}:{http.port}", timeout=30.0)
    try:
        r = client.post("/api/login", json={"user": admin.name, "password": admin.password})
    except httpx.HTTPError:
        client.close()
        return None
    if r.status_code != 200:
        client.close()
        return None
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return client


def _online(client: httpx.Client, args: argparse.Namespace, text: str) -> int:
    base = f"/api/campaigns/{args.name}"
    if args.verb == "import":
        r = client.post(f"{base}/leads", content=text, headers={"Content-Type": "text/csv"})
        if r.status_code != 200:
            for e in r.json().get("errors", []):
                print(f"{args.csv}: {e['field']}: {e['problem']}", file=sys.stderr)
            return 1
        print(f"{args.name}: imported {r.json()['imported']} leads")
        return 0
    r = client.post(f"{base}/{args.verb}") if args.verb != "show" else client.get(base)
    if r.status_code != 200:
        print(f"pbx: {r.json().get('detail', r.text)}", file=sys.stderr)
        return 1
    view = r.json()
    print(f"{args.name}: {view['state']}, leads {view['leads']}, lines {view['lines_in_use']}")
    return 0


def _offline(config: AppConfig, args: argparse.Namespace, text: str) -> int:
    store = Store(config.store_path, recordings=config.recordings_dir)
    try:
        if args.verb == "import":
            campaign = config.campaigns[args.name]
            existing = {str(d["phone"]) for d in store.leads(args.name)}
            # The configured lists with the run-time changes over them, as the pbx has them.
            dnc = DncRegistry(config.dnc)
            for list_name, number, listed in store.dnc_changes():
                (dnc.add if listed else dnc.remove)(list_name, [number])
            report = import_leads(
                text,
                args.name,
                default_region=campaign.default_region,
                dnc=dnc.view(campaign.dnc_lists),
                existing_numbers=existing,
            )
            if not report.ok:
                for error in report.errors:
                    print(f"{args.csv}: {error}", file=sys.stderr)
                return 1
            for lead in report.leads:
                store.lead_save(lead_to_dict(lead))
            print(f"{args.name}: imported {len(report.leads)} leads (the pbx is not running)")
        elif args.verb == "show":
            leads = [lead_from_dict(d) for d in store.leads(args.name)]
            states: dict[str, int] = {}
            for lead in leads:
                states[lead.state.value] = states.get(lead.state.value, 0) + 1
            state = store.campaign_states().get(args.name, "stopped")
            print(f"{args.name}: {state}, leads {states} (the pbx is not running)")
        else:
            import time

            store.campaign_state(args.name, STATES[args.verb], time.time())
            print(f"{args.name}: {STATES[args.verb]} from the next start (the pbx is not running)")
        return 0
    finally:
        store.close()
