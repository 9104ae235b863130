"""Outbound campaigns of the example end to end, against the simulated carrier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import evolve

from pbx.acd.models import AgentState
from pbx.config import AppConfig, load_config
from pbx.dialer.campaign import CallingHours
from pbx.dialer.leads import Lead, LeadState
from pbx.testing import Busy, Harness, Machine, Person, Press, Tone, Unallocated
from pbx.testing.audio import SAMPLE_RATE
from pbx.testing.tuning import fast_queues

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
ALL_DAY = CallingHours(start=dt.time(0, 0), end=dt.time(23, 59), days=frozenset(range(7)))

PERSON, MACHINE, BUSY, NOBODY = "+12125550101", "+12125550102", "+12125550103", "+12125550104"


def example(*campaigns: str) -> AppConfig:
    """The example, its queues' timers fast, ``campaigns`` allowed to call at any hour."""
    config = fast_queues(load_config(EXAMPLE))
    changed = {
        name: evolve(c, calling_hours=ALL_DAY) if name in campaigns else c
        for name, c in config.campaigns.items()
    }
    return evolve(config, campaigns=changed)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    campaigns = ("reminders", "sales-out", "collections")
    with Harness(example(*campaigns), tmp_path=tmp_path, carrier="sim") as harness:
        yield harness


def shorten(h: Harness, *prompts: str, seconds: float = 1.0) -> None:
    """Keep only the first ``seconds`` of each prompt, so a script is heard in seconds."""
    for name in prompts:
        h.set_prompt(name, h.prompt(name)[: round(seconds * SAMPLE_RATE)])


def settled(h: Harness, lead_id: str) -> Lead:
    """Wait until the lead's last attempt has its outcome; return the lead."""

    def done() -> bool:
        lead = h.app.dialer.lead(lead_id)
        return lead is not None and bool(lead.attempts) and lead.attempts[-1].outcome is not None

    h.wait_for(done, timeout=10, what=f"the outcome of {lead_id}'s attempt")
    lead = h.app.dialer.lead(lead_id)
    assert lead is not None
    return lead


def test_reminders_reach_a_person_a_machine_a_busy_line_and_a_dead_number(h: Harness) -> None:
    shorten(h, "en/reminder-intro", "en/reminder-menu", "en/reminder-voicemail")
    carrier = h.carrier
    confirms = Press("1", after_prompt="en/reminder-menu")
    carrier.set_behaviour(PERSON, Person(ring=0.5, press=confirms))
    carrier.set_behaviour(MACHINE, Machine(ring=0.5, greeting=4.0))
    carrier.set_behaviour(BUSY, Busy())
    carrier.set_behaviour(NOBODY, Unallocated())
    service = h.app.campaigns
    ids_order = (PERSON, MACHINE, BUSY, NOBODY)
    rows = [f"{n},Lead {i},en,42.50,2026-01-15" for i, n in enumerate(ids_order)]
    csv = "phone,name,lang,amount,due\n" + "\n".join(rows)
    report = service.import_leads("reminders", csv, h.now())
    assert report.ok, report.errors
    ids = {lead.phone: lead.id for lead in report.leads}
    service.command("reminders", "start", h.now())
    h.app.sip.flush()

    # The person hears the reminder (about 8 s: amount and date are spoken), presses 1
    # at the menu, and hears the thanks.
    person = carrier.wait_for_call(PERSON, timeout=5)
    assert person.caller_id == "5550100"
    person.assert_heard_prompt("en/reminder-intro", timeout=8)
    # (its beginning: the pbx hangs up as its last frames leave, a loaded machine may
    # lose a few of them)
    person.assert_heard_prompt("en/reminder-thanks", timeout=20, first_seconds=1.0)
    assert person.digits_pressed == "1"
    lead = settled(h, ids[PERSON])
    attempt = lead.attempts[-1]
    assert (attempt.outcome, attempt.amd, attempt.digit) == ("delivered", "human", "1")
    assert (lead.state, lead.disposition) == (LeadState.DONE, "confirmed")

    # The machine gets the machine message after its beep, then the pbx hangs up.
    machine = carrier.wait_ended(MACHINE, timeout=10)
    assert machine.ended_by == "pbx" and machine.answered_at is not None
    assert machine.heard_prompt("en/reminder-voicemail", first_seconds=0.7)
    assert not machine.heard_prompt("en/reminder-intro")
    beep_end = machine.answered_at + 4.5
    heard_at = machine.assert_heard_prompt("en/reminder-voicemail", timeout=0.1, first_seconds=0.7)
    assert heard_at >= beep_end
    lead = settled(h, ids[MACHINE])
    assert (lead.attempts[-1].outcome, lead.attempts[-1].amd) == ("message_left", "machine")
    assert lead.state is LeadState.DONE

    # Busy: dialled again after the campaign's busy delay; 404: never again.
    busy = settled(h, ids[BUSY])
    assert (busy.attempts[-1].outcome, busy.attempts[-1].sip_status) == ("busy", 486)
    rule = h.config.campaigns["reminders"].retry.busy
    assert busy.state is LeadState.PENDING and busy.next_attempt_at is not None
    assert busy.next_attempt_at - busy.attempts[-1].time == pytest.approx(rule.delay, abs=5)
    dead = settled(h, ids[NOBODY])
    assert (dead.attempts[-1].outcome, dead.attempts[-1].sip_status) == ("invalid", 404)
    assert (dead.state, dead.disposition) == (LeadState.DONE, "invalid_number")
    assert [c.status for c in carrier.calls_to(BUSY)] == [486]
    assert [c.status for c in carrier.calls_to(NOBODY)] == [404]

    stored = {row["phone"]: row for row in h.app.store.leads("reminders")}
    assert stored[PERSON]["disposition"] == "confirmed"
    assert stored[PERSON]["attempts"][-1]["digit"] == "1"
    assert stored[BUSY]["attempts"][-1]["outcome"] == "busy"


def test_the_predictive_campaign_connects_a_person_to_the_agent_with_the_leads_data(
    h: Harness,
) -> None:
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    h.login("2001")
    h.carrier.set_behaviour(PERSON, Person(ring=0.5))
    service = h.app.campaigns
    report = service.import_leads("sales-out", f"phone,name\n{PERSON},Jane Roe\n", h.now())
    assert report.ok, report.errors
    service.command("sales-out", "start", h.now())
    h.app.sip.flush()

    person = h.carrier.wait_for_call(PERSON, timeout=5)
    offer = agent.wait_ringing(timeout=8)
    assert offer.header("X-Data-name") == "Jane Roe"
    agent.wait_connected()
    assert agent.incoming is not None
    person.assert_heard_tone(660, min_seconds=0.5, since=agent.incoming.at)
    agent.hang_up()
    h.carrier.wait_ended(PERSON)
    assert person.ended_by == "pbx"
    lead = settled(h, report.leads[0].id)
    attempt = lead.attempts[-1]
    assert (attempt.outcome, attempt.agent, attempt.amd) == ("answered", "2001", "human")


def offered(h: Harness, agent: str) -> str:
    """Wait for the preview campaign to offer ``agent`` a lead; its id."""
    h.wait_for(lambda: h.app.campaigns.preview(agent) is not None, timeout=5, what="an offer")
    offer = h.app.campaigns.preview(agent)
    assert offer is not None
    return offer.lead


def acd_state(h: Harness, agent: str) -> AgentState:
    return h.app.acd.agent(agent).state


def test_preview_the_agent_sees_the_lead_dials_it_from_their_phone_and_talks(
    h: Harness,
) -> None:
    agent = h.agent("2006", audio=Tone(660), answer_after=0.1)
    h.login("2006")
    h.carrier.set_behaviour(PERSON, Person(ring=0.5))
    h.carrier.set_behaviour(BUSY, Busy())
    service = h.app.campaigns
    csv = f"phone,name,balance\n{BUSY},John Doe,75.00\n{PERSON},Jane Roe,120.00\n"
    report = service.import_leads("collections", csv, h.now())
    assert report.ok, report.errors
    ids = {lead.phone: lead.id for lead in report.leads}
    service.command("collections", "start", h.now())
    h.app.sip.flush()

    # The first lead is offered, nothing is dialled until the agent decides.
    first = offered(h, "2006")
    offer = service.preview("2006")
    assert first == ids[BUSY] and offer is not None and offer.campaign == "collections"
    assert (offer.number, offer.data["name"], offer.data["balance"]) == (BUSY, "John Doe", "75.00")
    assert h.carrier.calls_to(PERSON) == [] and h.carrier.calls_to(BUSY) == []
    # Skipping puts it back for later; the next lead is offered.
    service.decide_preview("2006", first, False, h.now())
    h.app.sip.flush()
    second = offered(h, "2006")
    assert second == ids[PERSON]
    skipped = h.app.dialer.lead(first)
    assert skipped is not None and skipped.state.value == "pending"
    assert skipped.next_attempt_at is not None and skipped.attempts == ()
    with pytest.raises(LookupError):
        service.decide_preview("2006", first, True, h.now())

    # Dial: the agent's phone rings first, showing the lead; then the lead is called.
    service.decide_preview("2006", second, True, h.now())
    h.app.sip.flush()
    ring = agent.wait_ringing(timeout=5)
    assert ring.caller_id == PERSON and ring.caller_name == "Jane Roe"
    assert ring.header("X-Lead") == second
    agent.wait_connected()
    person = h.carrier.wait_for_call(PERSON, timeout=5)
    assert person.caller_id == "5550100"
    person.wait_answered(timeout=5)
    person.assert_heard_tone(660, min_seconds=0.5, since=person.answered_at)
    h.wait_for(lambda: acd_state(h, "2006") is AgentState.ON_CALL, timeout=2, what="on call")
    person.hang_up()
    agent.wait_ended(timeout=5)
    lead = settled(h, second)
    attempt = lead.attempts[-1]
    assert (attempt.outcome, attempt.agent) == ("answered", "2006")
    assert attempt.duration is not None and attempt.duration > 0.3
    # The campaign's wrap-up, then ready: and the skipped lead waits for its time.
    h.wait_for(lambda: acd_state(h, "2006") is AgentState.WRAP_UP, timeout=2, what="wrap-up")
    assert service.preview("2006") is None


def test_preview_from_the_phone_star42_skips_star41_dials_from_that_call_star8_readies(
    h: Harness,
) -> None:
    agent = h.agent("2007", audio=Tone(660), answer_after=0.1)
    h.login("2007")
    h.carrier.set_behaviour(PERSON, Person(ring=0.5))
    service = h.app.campaigns
    csv = f"phone,name\n{BUSY},Skip Me\n{PERSON},Call Me\n"
    report = service.import_leads("collections", csv, h.now())
    assert report.ok, report.errors
    ids = {lead.phone: lead.id for lead in report.leads}
    service.command("collections", "start", h.now())
    h.app.sip.flush()
    assert offered(h, "2007") == ids[BUSY]

    skip = agent.dial("*42")
    skip.wait_answered()
    skip.wait_ended(timeout=3)  # a beep, then the pbx hangs up
    assert offered(h, "2007") == ids[PERSON]
    skipped = h.app.dialer.lead(ids[BUSY])
    assert skipped is not None and skipped.attempts == () and h.carrier.calls_to(BUSY) == []

    call = agent.dial("*41")
    call.wait_answered()
    person = h.carrier.wait_for_call(PERSON, timeout=5)
    assert person.caller_id == "5550100"
    person.wait_answered(timeout=5)
    assert person.answered_at is not None
    person.assert_heard_tone(660, min_seconds=0.4, since=person.answered_at)
    h.wait_for(lambda: acd_state(h, "2007") is AgentState.ON_CALL, timeout=2, what="on call")
    person.hang_up()
    call.wait_ended(timeout=5)
    lead = settled(h, ids[PERSON])
    assert (lead.attempts[-1].outcome, lead.attempts[-1].agent) == ("answered", "2007")
    h.wait_for(lambda: acd_state(h, "2007") is AgentState.WRAP_UP, timeout=2, what="wrap-up")
    ready = agent.dial("*8")
    ready.wait_answered()
    ready.wait_ended(timeout=3)
    h.wait_for(lambda: acd_state(h, "2007") is AgentState.READY, timeout=2, what="ready")
    # Nothing is offered: the number dialled with no lead offered is refused.
    nothing = agent.dial("*41")
    assert nothing.wait_failed() == 404


def test_a_russian_leads_answering_machine_gets_the_message_in_russian(h: Harness) -> None:
    shorten(h, "ru/reminder-voicemail", "en/reminder-voicemail")
    h.carrier.set_behaviour(MACHINE, Machine(ring=0.3, greeting=3.0))
    service = h.app.campaigns
    report = service.import_leads(
        "reminders", f"phone,name,lang,amount,due\n{MACHINE},Иван,ru,10.00,2026-02-01\n", h.now()
    )
    assert report.ok, report.errors
    service.command("reminders", "start", h.now())
    h.app.sip.flush()
    machine = h.carrier.wait_ended(MACHINE, timeout=12)
    assert machine.heard_prompt("ru/reminder-voicemail", first_seconds=0.7)
    assert not machine.heard_prompt("en/reminder-voicemail", first_seconds=0.7)
    lead = settled(h, report.leads[0].id)
    assert lead.attempts[-1].outcome == "message_left"
