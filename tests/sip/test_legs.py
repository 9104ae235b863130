"""A leg's state changes only through one table; a move it lacks names state and input."""

from __future__ import annotations

import pytest

from pbx.errors import InvalidStateError
from pbx.sip.legs import TRANSITIONS, SipLeg, SipLegState, advance
from pbx.sip.message import Request, parse_message
from pbx.sip.transport import Destination

INVITE = (
    b"INVITE sip:600@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKl\r\n"
    b"From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:600@127.0.0.1>\r\nCall-ID: legs\r\n"
    b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def leg(state: SipLegState = SipLegState.CALLING) -> SipLeg:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    return SipLeg("l1", "uas", "legs", req, Destination("UDP", "127.0.0.1", 5070), state=state)


def test_an_incoming_call_rings_is_answered_acked_and_ended() -> None:
    one = leg()
    for event, state in [
        ("send_1xx", SipLegState.EARLY),
        ("send_2xx", SipLegState.ANSWERED),
        ("ack", SipLegState.CONFIRMED),
        ("send_bye", SipLegState.ENDING),
        ("ended", SipLegState.ENDED),
    ]:
        assert advance(one, event) is state and one.state is state


def test_a_move_the_table_lacks_names_the_leg_state_and_input() -> None:
    with pytest.raises(InvalidStateError, match=r"leg l1: ack in state calling"):
        advance(leg(), "ack")
    with pytest.raises(InvalidStateError, match=r"leg l1: send_2xx in state confirmed"):
        advance(leg(SipLegState.CONFIRMED), "send_2xx")


def test_every_live_state_can_end_and_nothing_leaves_ended_but_ended() -> None:
    for state in SipLegState:
        assert TRANSITIONS[(state, "ended")] is SipLegState.ENDED
    assert {e for (s, e) in TRANSITIONS if s is SipLegState.ENDED} == {"ended"}


def test_the_2xx_deadline_is_dropped_when_the_ack_comes() -> None:
    one = leg(SipLegState.ANSWERED)
    one.ok_deadline = 3.0
    advance(one, "ack")
    assert one.ok_deadline is None
