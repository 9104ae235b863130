"""Outbound campaigns against SIPp as the called party, over the trunk ``sim``.

Each test starts one SIPp UAS (``tests/peers/scenarios/uas_*.xml``) on a free port,
points the campaign's trunk at it, imports one lead and runs the campaign: SIPp answers
with its bundled speech (``g711a.pcap``), is busy (486), rings until the pbx CANCELs, or
does not know the number (404). The assertions are on what the dialer stored for the
lead (the store's ``lead`` rows), the CDRs, and what SIPp saw on the wire. Every SIPp
is stopped by its process group when the test ends, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from attrs import evolve, frozen

from pbx.config import AppConfig, IvrConfig, TrunkConfig, load_config
from pbx.dialer.campaign import CampaignConfig, campaign_from_dict
from pbx.dialer.leads import Lead, LeadState
from pbx.ivr.loader import loads_graph
from pbx.media.g711 import alaw_decode
from pbx.testing import Harness
from pbx.testing.audio import SAMPLE_RATE
from pbx.testing.tuning import fast_queues
from tests.conftest import free_port, need_peer
from tests.peers.sipp import SCENARIOS
from tests.rtp.helpers import read_pcap_udp_payloads

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
PCAPS = Path("/usr/share/sip-tester")
SPEECH = PCAPS / "g711a.pcap"
LEAD = "+12125550123"
CAMPAIGN = "out"
WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAY = {"start": "00:00", "end": "23:59", "days": WEEK}

# What an agentless call plays: one short prompt, then the pbx hangs up.
NOTICE_IVR = """
[ivr]
name = "notice"
start = "notice"

[nodes.notice]
kind = "play"
prompt = ["{lang}/reminder-thanks"]
interruptible = false
next = "bye"

[nodes.bye]
kind = "hangup"
"""


# ---------------------------------------------------------------------- SIPp


@frozen
class Uas:
    """One SIPp UAS listening on 127.0.0.1:``port`` and the directory it runs in."""

    proc: subprocess.Popen[bytes]
    port: int
    work: Path

    def messages(self) -> str:
        """Every SIP message SIPp sent and received so far (its ``-trace_msg`` log)."""
        return "".join(p.read_text("utf-8", "replace") for p in self.work.glob("*_messages.log"))

    def received(self, start_line: str) -> int:
        """How many received messages start with ``start_line`` (``INVITE``, ``CANCEL``,
        ``ACK`` …); retransmissions count too."""
        blocks = self.messages().split("message received")[1:]
        return sum(
            1 for b in blocks if any(line.startswith(start_line) for line in b.splitlines()[:3])
        )

    def errors(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in self.work.glob("*_errors.log"))

    def describe(self) -> str:
        screen = self.work / "screen.txt"
        tail = screen.read_text("utf-8", "replace")[-1500:] if screen.exists() else ""
        return f"SIPp exit {self.proc.poll()}; errors: {self.errors()[-1500:]!r}; screen: {tail}"


def wait_exit(h: Harness, uas: Uas, timeout: float) -> int:
    """Let the pbx run until SIPp has exited (its calls done); its exit code (0: every call
    went through the scenario)."""
    h.wait_for(lambda: uas.proc.poll() is not None, timeout, "SIPp to finish", uas.describe)
    code = uas.proc.poll()
    assert code is not None
    return code


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[..., Uas]]:
    """Start SIPp UAS scenarios by name; each is killed by its process group at the end."""
    sipp = need_peer("sipp")
    started: list[subprocess.Popen[bytes]] = []

    def start(scenario: str, calls: int = 1) -> Uas:
        work = tmp_path / f"sipp-{len(started)}"
        (work / "pcap").mkdir(parents=True)
        (work / "pcap" / SPEECH.name).symlink_to(SPEECH)
        port = free_port()
        args = [
            sipp,
            "-sf",
            str(SCENARIOS / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_port()),
            "-m",
            str(calls),
            "-timeout",
            "60",
            "-nostdin",
            "-trace_msg",
            "-trace_err",
        ]
        with open(work / "screen.txt", "wb") as screen:
            proc = subprocess.Popen(
                args,
                cwd=work,
                stdout=screen,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return Uas(proc, port, work)

    try:
        yield start
    finally:
        for proc in started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


# ---------------------------------------------------------------------- the pbx


def campaign(**settings: Any) -> CampaignConfig:
    """The campaign ``out`` over the trunk ``sim``, allowed to call at any hour."""
    table = {"trunk": "sim", "caller_id": "5550100", "hours": ALL_DAY, **settings}
    return campaign_from_dict(CAMPAIGN, table, "test: campaigns.out")


def config_for(uas: Uas, out: CampaignConfig) -> AppConfig:
    """The example with its queues fast, the trunk ``sim`` at SIPp, one campaign ``out``."""
    config = fast_queues(load_config(EXAMPLE))
    trunk = TrunkConfig("sim", "127.0.0.1", uas.port, caller_id="5550100")
    ivr = {**config.ivr, "notice": IvrConfig(loads_graph(NOTICE_IVR, source="notice"))}
    return evolve(config, trunks=(trunk,), campaigns={CAMPAIGN: out}, ivr=ivr)


def start_campaign(h: Harness) -> str:
    """Import the one lead and start the campaign; the lead's id."""
    service = h.app.campaigns
    report = service.import_leads(CAMPAIGN, f"phone,name\n{LEAD},Jane Roe\n", h.now())
    assert report.ok, report.errors
    service.command(CAMPAIGN, "start", h.now())
    h.app.sip.flush()
    return report.leads[0].id


def settled(h: Harness, lead_id: str, attempts: int = 1, timeout: float = 15.0) -> Lead:
    """Wait until the lead has ``attempts`` attempts and the last has its outcome."""

    def done() -> bool:
        lead = h.app.dialer.lead(lead_id)
        return (
            lead is not None
            and len(lead.attempts) == attempts
            and lead.attempts[-1].outcome is not None
        )

    h.wait_for(done, timeout, f"attempt {attempts} of {lead_id} to end")
    lead = h.app.dialer.lead(lead_id)
    assert lead is not None
    return lead


def stored_lead(h: Harness) -> dict[str, Any]:
    """The lead's row as the store holds it (what a restart resumes from)."""
    [row] = h.app.store.leads(CAMPAIGN)
    return row


def lead_cdrs(h: Harness) -> list[dict[str, Any]]:
    return [row for row in h.cdrs(direction="outbound") if row["callee"] == LEAD]


def speech(start: float, end: float) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Seconds ``start`` to ``end`` of the speech in ``g711a.pcap`` (PCMA), as int16."""
    payloads = [d[12:] for _, d in read_pcap_udp_payloads(SPEECH) if d[1] & 0x7F == 8]
    pcm = alaw_decode(np.frombuffer(b"".join(payloads), dtype=np.uint8))
    return pcm[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


# ---------------------------------------------------------------------- the tests


@pytest.mark.peer
def test_an_agentless_call_answered_with_pcap_speech_is_classified_and_recorded(
    tmp_path: Path, sipp_uas: Callable[..., Uas]
) -> None:
    uas = sipp_uas("uas_answer_pcap.xml")
    out = campaign(
        mode="agentless",
        script="notice",
        amd=True,
        on_machine="leave_message",
        machine_message="reminder-voicemail",
        max_lines=1,
    )
    with Harness(config_for(uas, out), tmp_path=tmp_path) as h:
        for prompt in ("en/reminder-thanks", "en/reminder-voicemail"):
            h.set_prompt(prompt, h.prompt(prompt)[:SAMPLE_RATE])
        lead_id = start_campaign(h)
        lead = settled(h, lead_id, timeout=25)
        # The pbx hung up (SIPp's BYE received and answered: its scenario passed).
        assert wait_exit(h, uas, 10) == 0, uas.describe()
        attempt = lead.attempts[-1]
        # Whatever AMD made of 7 s of speech, the verdict is kept and decided the call:
        # a machine gets the message after its greeting, a person the script.
        assert attempt.amd in ("human", "machine", "unsure")
        expected = "message_left" if attempt.amd == "machine" else "delivered"
        assert (attempt.outcome, attempt.sip_status) == (expected, None)
        assert attempt.duration is not None and attempt.duration > 0.5
        assert (lead.state, lead.disposition) == (LeadState.DONE, expected)
        row = stored_lead(h)
        assert row["state"] == "done" and row["disposition"] == expected
        assert row["attempts"][-1]["outcome"] == expected
        assert row["attempts"][-1]["amd"] == attempt.amd
        cdr = h.wait_for_cdr(lambda r: r["direction"] == "outbound" and r["callee"] == LEAD)
        assert cdr["disposition"] == "answered" and cdr["trunk"] == "sim"
        assert cdr["hangup_side"] == "pbx"
        assert uas.received("BYE") == 1


@pytest.mark.peer
def test_a_progressive_call_answered_with_pcap_speech_is_heard_by_the_agent(
    tmp_path: Path, sipp_uas: Callable[..., Uas]
) -> None:
    uas = sipp_uas("uas_answer_pcap.xml")
    out = campaign(mode="progressive", queue="sales", amd=False)
    with Harness(config_for(uas, out), tmp_path=tmp_path) as h:
        agent = h.agent("2001", answer_after=0.1)
        h.login("2001")
        lead_id = start_campaign(h)
        offer = agent.wait_ringing(timeout=10)
        assert offer.header("X-Data-name") == "Jane Roe"
        agent.wait_connected()
        # The lead's words (a second from 4.5 s into the pcap, after the agent took the call)
        # reach the agent's phone through the pbx: PCMA in, G.711 out, by fingerprint.
        agent.assert_heard_prompt(speech(4.5, 5.5), timeout=8)
        agent.hang_up()
        assert wait_exit(h, uas, 10) == 0, uas.describe()
        lead = settled(h, lead_id)
        attempt = lead.attempts[-1]
        assert (attempt.outcome, attempt.agent, attempt.amd) == ("answered", "2001", "none")
        assert (lead.state, lead.disposition) == (LeadState.DONE, "answered")
        assert stored_lead(h)["attempts"][-1]["agent"] == "2001"
        cdr = h.wait_for_cdr(lambda r: r["direction"] == "outbound" and r["callee"] == LEAD)
        assert (cdr["disposition"], cdr["agent"], cdr["queue"]) == ("answered", "2001", "sales")


@pytest.mark.peer
def test_a_busy_lead_is_redialled_after_the_busy_delay_until_its_attempts_are_used(
    tmp_path: Path, sipp_uas: Callable[..., Uas]
) -> None:
    uas = sipp_uas("uas_busy.xml", calls=2)
    out = campaign(
        mode="agentless",
        script="notice",
        amd=False,
        retry={"busy": {"max_attempts": 2, "delay": 1}},
    )
    with Harness(config_for(uas, out), tmp_path=tmp_path) as h:
        lead_id = start_campaign(h)
        first = settled(h, lead_id)
        attempt = first.attempts[-1]
        assert (attempt.outcome, attempt.sip_status) == ("busy", 486)
        # Scheduled by the busy rule: one delay after the attempt ended (486 at once).
        assert first.state is LeadState.PENDING and first.disposition is None
        assert first.next_attempt_at is not None
        assert first.next_attempt_at - attempt.time == pytest.approx(1.0, abs=0.5)
        row = stored_lead(h)
        assert row["state"] == "pending" and row["next_attempt_at"] == first.next_attempt_at
        # Dialled again; busy again; two attempts is the rule's limit.
        second = settled(h, lead_id, attempts=2)
        assert second.attempts[1].time >= first.next_attempt_at
        assert [(a.outcome, a.sip_status) for a in second.attempts] == [("busy", 486)] * 2
        assert (second.state, second.disposition, second.next_attempt_at) == (
            LeadState.DONE,
            "busy",
            None,
        )
        assert wait_exit(h, uas, 10) == 0, uas.describe()
        assert uas.received("INVITE") == 2 and uas.received("ACK") == 2
        assert [a["outcome"] for a in stored_lead(h)["attempts"]] == ["busy", "busy"]
        assert all(r["disposition"] != "answered" for r in lead_cdrs(h))


@pytest.mark.peer
def test_a_lead_that_rings_unanswered_is_cancelled_at_the_ring_timeout(
    tmp_path: Path, sipp_uas: Callable[..., Uas]
) -> None:
    uas = sipp_uas("uas_no_answer.xml")
    ring = 3.0  # under the 15 s floor, which allow_short_ring lifts
    out = campaign(
        mode="agentless",
        script="notice",
        amd=False,
        ring_timeout=ring,
        allow_short_ring=True,
        retry={"no_answer": {"max_attempts": 3, "delay": 3600}},
    )
    with Harness(config_for(uas, out), tmp_path=tmp_path) as h:
        lead_id = start_campaign(h)
        lead = settled(h, lead_id)
        # SIPp got the CANCEL, answered it and the INVITE (487), and had its ACK.
        assert wait_exit(h, uas, 10) == 0, uas.describe()
        assert uas.received("CANCEL") >= 1
        assert "SIP/2.0 487 Request Terminated" in uas.messages()
        attempt = lead.attempts[-1]
        assert attempt.outcome == "no_answer"
        assert attempt.sip_status in (408, 487)
        assert lead.state is LeadState.PENDING and lead.next_attempt_at is not None
        # Given up at the ring timeout, dialled again an hour after that.
        rang = lead.next_attempt_at - 3600 - attempt.time
        assert rang == pytest.approx(ring, abs=1.0)
        assert stored_lead(h)["attempts"][-1]["outcome"] == "no_answer"
        assert all(r["disposition"] != "answered" for r in lead_cdrs(h))


@pytest.mark.peer
def test_a_number_the_carrier_does_not_know_is_never_dialled_again(
    tmp_path: Path, sipp_uas: Callable[..., Uas]
) -> None:
    uas = sipp_uas("uas_not_found.xml", calls=2)
    quick = {"max_attempts": 5, "delay": 0.5}
    out = campaign(
        mode="agentless",
        script="notice",
        amd=False,
        retry={"failed": quick, "no_answer": quick, "busy": quick},
    )
    with Harness(config_for(uas, out), tmp_path=tmp_path) as h:
        lead_id = start_campaign(h)
        lead = settled(h, lead_id)
        attempt = lead.attempts[-1]
        assert (attempt.outcome, attempt.sip_status) == ("invalid", 404)
        assert (lead.state, lead.disposition) == (LeadState.DONE, "invalid_number")
        assert lead.next_attempt_at is None
        row = stored_lead(h)
        assert (row["state"], row["disposition"]) == ("done", "invalid_number")
        assert row["attempts"][-1]["sip_status"] == 404
        # Every retry rule would have redialled within a second: a 404 is not retried.
        h.sleep(3.0)
        assert uas.received("INVITE") == 1 and uas.received("ACK") == 1
        later = h.app.dialer.lead(lead_id)
        assert later is not None and len(later.attempts) == 1
        assert all(r["disposition"] != "answered" for r in lead_cdrs(h))
