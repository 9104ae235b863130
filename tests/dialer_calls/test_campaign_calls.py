"""Outbound campaigns over the wire: the dialer's calls to SIPp as the called party."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from attrs import evolve

from pbx.config import AppConfig, TrunkConfig, load_config
from pbx.dialer.campaign import campaign_from_dict
from pbx.testing import Harness, Tone
from pbx.testing.tuning import fast_queues
from tests.conftest import free_port, need_peer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
CARRIER = free_port()


@pytest.fixture
def pbx_config() -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    trunk = TrunkConfig("sim", "127.0.0.1", CARRIER, caller_id="5550100")
    campaign = campaign_from_dict(
        "out",
        {
            "mode": "progressive",
            "trunk": "sim",
            "caller_id": "5550100",
            "queue": "sales",
            "amd": False,
            "ring_timeout": 15,
            "hours": {
                "start": "00:00",
                "end": "23:59",
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            },
        },
        "test: campaigns.out",
    )
    return evolve(config, trunks=(trunk,), campaigns={"out": campaign})


@pytest.fixture
def carrier(tmp_path: Path):  # type: ignore[no-untyped-def]
    """SIPp answering every call the pbx places over the trunk ``sim``."""
    sipp = need_peer("sipp")
    proc = subprocess.Popen(
        [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(CARRIER), "-nostdin"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield proc
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.mark.peer
def test_a_progressive_campaign_dials_a_lead_and_connects_the_answer_to_an_agent(
    pbx_harness: Harness, carrier: subprocess.Popen[bytes]
) -> None:
    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    service = h.app.campaigns
    report = service.import_leads(
        "out", "phone,name,amount\n+12125550123,Jane Roe,42.50\n", h.now()
    )
    assert report.ok, report.errors
    service.command("out", "start", h.now())
    h.app.sip.flush()
    offer = agent.wait_ringing(timeout=10)
    assert offer.header("X-Data-name") == "Jane Roe"
    agent.wait_connected()
    h.sleep(0.5)
    agent.hang_up()
    h.wait_for(
        lambda: (
            (lead := h.app.dialer.lead(report.leads[0].id)) is not None
            and lead.attempts
            and lead.attempts[-1].outcome is not None
        ),
        timeout=10,
        what="the attempt's outcome",
    )
    lead = h.app.dialer.lead(report.leads[0].id)
    assert lead is not None
    attempt = lead.attempts[-1]
    assert attempt.agent == "2001" and attempt.outcome is not None
    stored = [row for row in h.app.store.leads("out")]
    assert stored[0]["attempts"][-1]["outcome"] == attempt.outcome
    cdr = h.app.store.cdrs(queue="sales")
    assert cdr and cdr[-1]["direction"] == "outbound" and cdr[-1]["agent"] == "2001"
