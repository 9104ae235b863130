"""The simulated carrier: each behaviour answers a call the pbx places over the trunk."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.calls.dialplan import Target
from pbx.calls.events import (
    AnsweringMachine,
    DigitReceived,
    LegAnswered,
    LegEnded,
    LegFailed,
    MachineGreetingEnded,
    Purpose,
)
from pbx.config import load_config
from pbx.errors import ConfigError
from pbx.media.amd import AmdDetector, AmdParams
from pbx.media.g711 import ulaw_decode, ulaw_encode
from pbx.media.prompts import PromptItem
from pbx.testing import (
    AnswerThenHangUp,
    Busy,
    Harness,
    Machine,
    NoAnswer,
    Person,
    Press,
    Reject,
    SimCarrier,
    SimulationError,
    Speech,
    Unallocated,
)
from pbx.testing.carrier import number_key, point_trunk

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with Harness(EXAMPLE, tmp_path=tmp_path, carrier="sim") as harness:
        yield harness


def dial(h: Harness, number: str, *, ring_timeout: float = 10.0) -> tuple[str, str]:
    """The pbx calls ``number`` over the trunk ``sim`` as the dialer does; (call, leg)."""
    now = h.now()
    manager = h.app.calls
    call = manager.originate(now, number=number, data={})
    leg = manager.dial(
        call,
        Target("trunk", "sim", number=number),
        now,
        purpose=Purpose("test", ref=number),
        from_number="5550100",
        ring_timeout=ring_timeout,
    )
    h.app.sip.flush()
    return call, leg


def test_the_trunk_points_at_the_carrier_which_owns_its_port(h: Harness) -> None:
    trunk = next(t for t in h.config.trunks if t.name == "sim")
    assert (trunk.host, trunk.port) == ("127.0.0.1", h.carrier.port)
    local = h.carrier.sip.udp.local
    assert local is not None and trunk.port == local[1] != 5080


def test_a_harness_without_a_carrier_says_how_to_get_one(tmp_path: Path) -> None:
    with Harness(EXAMPLE, tmp_path=tmp_path) as h, pytest.raises(SimulationError, match="carrier="):
        h.carrier  # noqa: B018


def test_an_unknown_trunk_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"trunks\.nope: no such trunk \(known: sim\)"):
        point_trunk(load_config(EXAMPLE), "nope", 5999)


def test_numbers_are_compared_by_their_digits() -> None:
    assert number_key("+1 (212) 555-0123") == "12125550123"


def test_a_person_answers_after_ringing_says_hello_and_presses_digits(h: Harness) -> None:
    h.carrier.set_behaviour("+12125550123", Person(ring=0.3, press=Press("5", at=1.0)))
    call_id, leg = dial(h, "+12125550123")
    call = h.carrier.wait_for_call("12125550123")
    assert (call.number, call.caller_id) == ("+12125550123", "5550100")
    h.wait_for_event(LegAnswered, leg=leg)
    assert call.answered_at is not None and call.answered_at - call.invited_at >= 0.3
    h.wait_for_event(DigitReceived, digit="5", timeout=3)
    assert call.digits_pressed == "5" and call.dtmf_sent[0][1] >= call.answered_at + 1.0
    h.app.calls.hangup_call(call_id, h.now())
    h.app.sip.flush()
    ended = h.carrier.wait_ended("+12125550123")
    assert ended is call and (call.status, call.ended_by, call.confirmed) == (200, "pbx", True)
    assert call.ended_at is not None and call.ended_at > call.answered_at


def test_a_person_presses_a_digit_after_hearing_a_prompt(h: Harness) -> None:
    prompt = "en/reminder-thanks"
    h.carrier.set_behaviour("555", Person(ring=0.1, press=Press("1", at=0.2, after_prompt=prompt)))
    call_id, leg = dial(h, "555")
    h.wait_for_event(LegAnswered, leg=leg)
    call = h.carrier.wait_for_call("555")
    assert not call.heard_prompt(prompt)
    h.app.calls.play(leg, [PromptItem(prompt)], h.now())
    h.app.sip.flush()
    length = len(h.prompt(prompt)) / 8000
    started = h.now()
    h.wait_for_event(DigitReceived, digit="1", timeout=length + 3)
    assert h.now() - started >= length  # not before the prompt was heard to its end
    assert call.heard_prompt(prompt) and not call.heard_prompt("en/goodbye")


def test_a_person_who_hangs_up_ends_the_call_with_bye(h: Harness) -> None:
    h.carrier.set_behaviour("556", Person(ring=0.1, hang_up_after=0.5))
    _, leg = dial(h, "556")
    call = h.carrier.wait_ended("556", timeout=3)
    assert (call.status, call.ended_by) == (200, "carrier")
    event = h.wait_for_event(LegEnded, leg=leg)
    assert event.by == "remote"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [(Busy(), 486), (Reject(), 603), (Reject(480, ring=0.3), 480), (Unallocated(), 404)],
)
def test_a_refusal_gives_its_status(h: Harness, behaviour: Busy | Reject, status: int) -> None:
    h.carrier.set_behaviour("700100", behaviour)
    _, leg = dial(h, "700100")
    failed = h.wait_for_event(LegFailed, leg=leg)
    assert failed.status == status
    call = h.carrier.wait_ended("700100")
    assert (call.status, call.ended_by, call.answered_at) == (status, "carrier", None)


def test_no_answer_rings_until_the_pbx_gives_up(h: Harness) -> None:
    h.carrier.set_behaviour("700200", NoAnswer())
    _, leg = dial(h, "700200", ring_timeout=1.0)
    call = h.carrier.wait_for_call("700200")
    h.sleep(0.5)
    assert call.state == "ringing"
    failed = h.wait_for_event(LegFailed, leg=leg, timeout=3)
    assert failed.status in (408, 487)
    h.carrier.wait_ended("700200")
    assert (call.status, call.ended_by) == (487, "pbx")
    with pytest.raises(SimulationError, match="was not answered: it ended with 487"):
        call.wait_answered()


def test_answer_then_hang_up(h: Harness) -> None:
    h.carrier.set_behaviour("700300", AnswerThenHangUp(ring=0.2, after=0.5))
    _, leg = dial(h, "700300")
    h.wait_for_event(LegAnswered, leg=leg)
    call = h.carrier.wait_ended("700300", timeout=3)
    assert call.answered_at is not None and call.ended_at is not None
    assert call.ended_at - call.answered_at == pytest.approx(0.5, abs=0.1)
    assert call.ended_by == "carrier"


def test_unconfigured_numbers_get_the_default_person(h: Harness) -> None:
    h.carrier.default = Busy()
    _, leg = dial(h, "999")
    assert h.wait_for_event(LegFailed, leg=leg).status == 486
    h.carrier.default = Person(ring=0.1)
    _, leg = dial(h, "999")
    h.wait_for_event(LegAnswered, leg=leg)
    assert [c.status for c in h.carrier.calls_to("999")] == [486, 200]
    first, second = h.carrier.wait_for_call("999"), h.carrier.wait_for_call("999")
    assert (first.status, second.status) == (486, 200)


def test_amd_hears_the_person_as_human_and_the_machine_as_machine_at_its_beep(h: Harness) -> None:
    h.carrier.set_behaviour("801", Person(ring=0.1))
    h.carrier.set_behaviour("802", Machine(ring=0.1, greeting=4.0))
    verdicts = {}
    legs = {}
    for number in ("801", "802"):
        _, legs[number] = dial(h, number)
    for leg in legs.values():
        h.wait_for_event(LegAnswered, leg=leg)
        h.app.calls.detect_machine(leg)
    for number, leg in legs.items():
        verdicts[number] = h.wait_for_event(AnsweringMachine, leg=leg, timeout=6).verdict
    assert verdicts == {"801": "human", "802": "machine"}
    ended = h.wait_for_event(MachineGreetingEnded, leg=legs["802"], timeout=6)
    assert ended.by == "beep"


def test_speech_reads_as_words_to_amd_and_short_speech_as_a_person() -> None:
    def verdict(pcm: np.ndarray) -> str:
        pcm = ulaw_decode(ulaw_encode(pcm))
        detector = AmdDetector()
        detector.start(0, AmdParams())
        block = np.zeros((1, 160), dtype=np.int16)
        for k in range(len(pcm) // 160):
            block[0] = pcm[k * 160 : (k + 1) * 160]
            got, _ = detector.process(block)
            if got:
                return str(got[0][1])
        return "undecided"

    quiet = np.zeros(12000, dtype=np.int16)
    for seed in range(4):
        assert verdict(np.concatenate([Speech(0.6, seed=seed).samples(), quiet])) == "human"
        assert verdict(np.concatenate([Machine(seed=seed).audio(), quiet])) == "machine"
    assert np.array_equal(Speech(1.0, seed=3).samples(), Speech(1.0, seed=3).samples())


def test_closing_the_harness_closes_the_carriers_port_and_its_calls_ports(tmp_path: Path) -> None:
    h = Harness(EXAMPLE, tmp_path=tmp_path, carrier="sim")
    try:
        h.carrier.set_behaviour("803", Person(ring=0.1))
        _, leg = dial(h, "803")
        h.wait_for_event(LegAnswered, leg=leg)
        call = h.carrier.wait_for_call("803")
        ports = [h.carrier.port, call.rtp_port, call.rtp_port + 1]
    finally:
        h.close()
    assert call.ended and call.ended_by == "pbx"  # the application hung up as it closed
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))  # free again


def test_the_pbx_carrier_fixture_stands_behind_the_campaigns_trunk(
    pbx_harness: Harness, pbx_carrier: SimCarrier
) -> None:
    assert pbx_carrier is pbx_harness.carrier and pbx_carrier.trunk == "sim"
    pbx_carrier.set_behaviour("42", Unallocated())
    _, leg = dial(pbx_harness, "42")
    assert pbx_harness.wait_for_event(LegFailed, leg=leg).status == 404
