"""``pbx campaign ...`` from a shell: into the store when the pbx is stopped, through the
API when it runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from pbx.app import Application
from pbx.config import load_config
from pbx.store import Store
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "callcenter.toml"
LEADS = (
    "phone,name,lang,amount,due\n"
    "+12125550123,Jane Roe,en,42.50,2027-01-15\n"
    "+74951234567,Иван,ru,1000,2027-01-20\n"
)


def config_copy(tmp_path: Path, http_port: int) -> Path:
    text = EXAMPLE.read_text()
    text = text.replace('listen = "127.0.0.1:5060"', f'listen = "127.0.0.1:{free_port()}"')
    text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{http_port}"')
    text = text.replace('dir = "prompts"', f'dir = "{ROOT / "examples" / "prompts"}"')
    text = text.replace('file = "ivr/', f'file = "{ROOT / "examples" / "ivr"}/')
    text = text.replace('path = "callcenter.db"', f'path = "{tmp_path / "callcenter.db"}"')
    text = text.replace('recordings = "recordings"', f'recordings = "{tmp_path / "recordings"}"')
    text = text.replace('voicemail = "voicemail"', f'voicemail = "{tmp_path / "voicemail"}"')
    rtp = free_port()
    text = text.replace('ports = "20000-29999"', f'ports = "{rtp + 100}-{rtp + 300}"')
    path = tmp_path / "cc.toml"
    path.write_text(text)
    return path


def pbx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pbx", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_with_the_pbx_stopped_leads_and_the_start_wait_in_the_store(tmp_path: Path) -> None:
    config = config_copy(tmp_path, free_port())
    (tmp_path / "leads.csv").write_text(LEADS)
    (tmp_path / "bad.csv").write_text("phone,name\n+12125550199,A\nnonsense,B\n")
    bad = pbx("campaign", "import", "reminders", "bad.csv", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 1 and "bad.csv: row 3" in bad.stderr
    done = pbx(
        "campaign", "import", "reminders", "leads.csv", "--config", str(config), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "imported 2 leads (the pbx is not running)" in done.stdout
    again = pbx(
        "campaign", "import", "reminders", "leads.csv", "--config", str(config), cwd=tmp_path
    )
    assert again.returncode == 1 and "already in the campaign" in again.stderr
    start = pbx("campaign", "start", "reminders", "--config", str(config), cwd=tmp_path)
    assert start.returncode == 0 and "running from the next start" in start.stdout
    unknown = pbx("campaign", "start", "nope", "--config", str(config), cwd=tmp_path)
    assert unknown.returncode == 2 and "no campaign 'nope'" in unknown.stderr
    store = Store(tmp_path / "callcenter.db")
    assert [d["phone"] for d in store.leads("reminders")] == ["+12125550123", "+74951234567"]
    assert store.campaign_states() == {"reminders": "running"}


def test_with_the_pbx_stopped_an_import_obeys_the_do_not_call_changes_in_the_store(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path, free_port())
    store = Store(tmp_path / "callcenter.db")
    store.dnc_change("global", ["+12125550188"], True, 1.7e9, "admin")  # listed over the API
    store.close()
    (tmp_path / "dnc.csv").write_text("phone,name\n+12125550187,Ok\n+12125550188,Listed\n")
    refused = pbx(
        "campaign", "import", "reminders", "dnc.csv", "--config", str(config), cwd=tmp_path
    )
    assert refused.returncode == 1
    assert "row 3" in refused.stderr and "do-not-call" in refused.stderr, refused.stderr
    assert Store(tmp_path / "callcenter.db").leads("reminders") == []


def test_with_the_pbx_running_the_command_goes_through_its_api(tmp_path: Path) -> None:
    port = free_port()
    config = config_copy(tmp_path, port)
    (tmp_path / "leads.csv").write_text(LEADS)

    async def cli(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pbx",
            "campaign",
            *args,
            "--config",
            str(config),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode()

    async def main() -> None:
        app = Application(load_config(config))
        await app.start()
        try:
            rc, out = await cli("import", "sales-out", "leads.csv")
            assert rc == 0 and "imported 2 leads" in out and "not running" not in out, out
            assert len(app.dialer.leads("sales-out")) == 2
            rc, out = await cli("pause", "sales-out")
            assert rc == 1 and "idle" in out  # not started yet: refused, said why
            rc, out = await cli("start", "sales-out")
            assert rc == 0 and "sales-out: running" in out, out
            rc, out = await cli("pause", "sales-out")
            assert rc == 0 and "sales-out: paused" in out
            rc, out = await cli("show", "sales-out")
            assert rc == 0 and "paused" in out
        finally:
            await app.close()

    asyncio.run(main())
