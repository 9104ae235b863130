"""Transaction state machines on a hand-driven clock (RFC 3261 §17, RFC 6026)."""

from __future__ import annotations

import pytest

from pbx.errors import InvalidStateError
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.timers import TimerConfig
from pbx.sip.transaction import (
    AckTimedOut,
    Kind,
    RequestReceived,
    ResponseReceived,
    State,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    client_key,
)
from pbx.sip.transport import Destination
from tests.sip.helpers import UAC, UAS, request, response_to

TCP = Destination("TCP", "127.0.0.1", 5060, connection=7)


def drain(layer: TransactionLayer) -> list[object]:
    out = []
    while (ev := layer.next_event()) is not None:
        out.append(ev)
    return out


def fire_until(layer: TransactionLayer, until: float) -> list[tuple[float, bytes]]:
    """Run the clock from timer to timer; return (time, datagram) of everything sent."""
    sent = []
    while (t := layer.get_timer()) is not None and t <= until:
        layer.handle_timer(t)
        sent.extend((t, d) for d, _ in layer.datagrams_to_send())
    return sent


def test_invite_client_retransmits_on_timer_a_doubling_until_timer_b_17_1_1_2() -> None:
    layer = TransactionLayer()
    tx = layer.send_request(request("INVITE"), UAS, now=0.0)
    assert len(layer.datagrams_to_send()) == 1
    assert layer.get_timer() == 0.5
    sent = fire_until(layer, 40.0)
    times = [t for t, _ in sent]
    # A fires at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 (doubling from T1), B at 32 (64·T1).
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    events = drain(layer)
    assert isinstance(events[0], TransactionTimedOut) and events[0].transaction == tx
    assert isinstance(events[1], TransactionTerminated)
    assert layer.get_timer() is None and len(layer) == 0


def test_non_invite_client_caps_timer_e_at_t2_17_1_2_2() -> None:
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS"), UAS, now=0.0)
    layer.datagrams_to_send()
    times = [t for t, _ in fire_until(layer, 40.0)]
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert times[-1] == 31.5 and len(times) == 10
    assert isinstance(drain(layer)[0], TransactionTimedOut)


def test_non_invite_client_retransmits_at_t2_once_proceeding() -> None:
    layer = TransactionLayer()
    req = request("REGISTER")
    layer.send_request(req, UAS, now=0.0)
    layer.datagrams_to_send()
    layer.receive(parse_message(bytes(response_to(req, 100, None))), UAS, now=0.1)
    assert isinstance(drain(layer)[0], ResponseReceived)
    times = [t for t, _ in fire_until(layer, 9.0)]
    assert times == [0.5, 4.5, 8.5]


def test_no_retransmissions_over_tcp_but_timeout_still_fires() -> None:
    layer = TransactionLayer()
    layer.send_request(request("INVITE"), TCP, now=0.0)
    layer.datagrams_to_send()
    assert layer.get_timer() == 32.0
    layer.handle_timer(32.0)
    assert layer.datagrams_to_send() == []
    assert isinstance(drain(layer)[0], TransactionTimedOut)


def test_invite_client_acks_non_2xx_and_absorbs_retransmissions_17_1_1_3() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    tx = layer.send_request(req, UAS, now=0.0)
    layer.datagrams_to_send()
    busy = parse_message(bytes(response_to(req, 486)))
    layer.receive(busy, UAS, now=0.2)
    [ev] = drain(layer)
    assert isinstance(ev, ResponseReceived) and ev.response.status == 486
    [(ack_bytes, dest)] = layer.datagrams_to_send()
    ack = parse_message(ack_bytes)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.cseq.seq == req.cseq.seq and ack.cseq.method == "ACK"
    assert ack.top_via.branch == req.top_via.branch
    assert ack.to_tag == "tt1" and dest == UAS
    # A retransmitted 486 gets the same ACK again, and is not passed up twice.
    layer.receive(busy, UAS, now=0.3)
    assert drain(layer) == []
    assert layer.datagrams_to_send() == [(ack_bytes, UAS)]
    assert layer.get(tx) is not None and layer.get(tx).state is State.COMPLETED  # type: ignore[union-attr]
    layer.handle_timer(0.2 + 32.0)
    assert isinstance(drain(layer)[0], TransactionTerminated)


def test_invite_client_passes_retransmitted_2xx_up_in_accepted_rfc6026() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    tx = layer.send_request(req, UAS, now=0.0)
    ok = parse_message(bytes(response_to(req, 200)))
    layer.receive(ok, UAS, now=0.1)
    layer.receive(ok, UAS, now=0.6)
    events = drain(layer)
    assert [type(e) for e in events] == [ResponseReceived, ResponseReceived]
    assert layer.get(tx).state is State.ACCEPTED  # type: ignore[union-attr]
    assert layer.get_timer() == pytest.approx(0.1 + 32.0)


def test_invite_server_retransmits_final_on_timer_g_until_ack_17_2_1() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction is not None
    tx = ev.transaction
    layer.send_response(tx, response_to(req, 100, None), now=0.0)
    # A retransmitted INVITE gets the last provisional again and is not passed up.
    layer.datagrams_to_send()
    layer.receive(req, UAC, now=0.2)
    [(again, _)] = layer.datagrams_to_send()
    assert parse_message(again).status == 100  # type: ignore[union-attr]
    assert drain(layer) == []
    layer.send_response(tx, response_to(req, 486), now=1.0)
    layer.datagrams_to_send()
    sent = fire_until(layer, 10.0)
    assert [t for t, _ in sent] == [1.5, 2.5, 4.5, 8.5]
    ack = request("ACK", to_tag="tt1")
    layer.receive(ack, UAC, now=10.0)
    assert layer.get(tx).state is State.CONFIRMED  # type: ignore[union-attr]
    assert layer.get_timer() == 15.0  # Timer I = T4
    layer.handle_timer(15.0)
    assert isinstance(drain(layer)[0], TransactionTerminated)


def test_invite_server_timer_h_reports_missing_ack() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction
    layer.send_response(ev.transaction, response_to(req, 404), now=0.0)
    fire_until(layer, 100.0)
    kinds = [type(e) for e in drain(layer)]
    assert kinds == [AckTimedOut, TransactionTerminated]


def test_invite_server_accepted_absorbs_invite_and_passes_ack_rfc6026() -> None:
    layer = TransactionLayer()
    req = request("INVITE")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction
    layer.send_response(ev.transaction, response_to(req, 200), now=0.0)
    layer.datagrams_to_send()
    layer.receive(req, UAC, now=0.5)
    assert drain(layer) == [] and layer.datagrams_to_send() == []
    ack = request("ACK", branch="z9hG4bKack2", to_tag="tt1")
    layer.receive(ack, UAC, now=0.6)
    [ev2] = drain(layer)
    assert isinstance(ev2, RequestReceived) and ev2.transaction is None
    assert ev2.request.method == "ACK"


def test_non_invite_server_answers_retransmissions_from_completed_until_timer_j() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction
    layer.send_response(ev.transaction, response_to(req, 200), now=0.0)
    [(first, _)] = layer.datagrams_to_send()
    layer.receive(req, UAC, now=1.0)
    assert layer.datagrams_to_send() == [(first, UAC.__class__("UDP", "127.0.0.1", 5070))]
    assert layer.get_timer() == 32.0
    layer.handle_timer(32.0)
    assert len(layer) == 0


def test_sending_a_second_final_response_is_a_local_error() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction
    layer.send_response(ev.transaction, response_to(req, 200), now=0.0)
    with pytest.raises(InvalidStateError, match="completed"):
        layer.send_response(ev.transaction, response_to(req, 500), now=0.0)


def test_rfc2543_ack_without_magic_cookie_matches_its_invite() -> None:
    layer = TransactionLayer()
    req = request("INVITE", branch="oldbranch")
    layer.receive(req, UAC, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, RequestReceived) and ev.transaction
    layer.send_response(ev.transaction, response_to(req, 603), now=0.0)
    layer.receive(request("ACK", branch="oldbranch", to_tag="tt1"), UAC, now=0.1)
    assert layer.get(ev.transaction).state is State.CONFIRMED  # type: ignore[union-attr]


def test_responses_go_to_rport_source_or_sent_by_port_18_2_2() -> None:
    from pbx.sip.transaction import response_destination

    src = Destination("UDP", "10.0.0.9", 40000)
    with_rport = request("OPTIONS")
    assert response_destination(with_rport, src) == src
    no_rport = parse_message(bytes(with_rport).replace(b";rport", b""))
    assert isinstance(no_rport, Request)
    assert response_destination(no_rport, src) == Destination("UDP", "10.0.0.9", 5070)


def test_client_key_maps_ack_to_invite() -> None:
    assert client_key("z9hG4bKx", "ACK") == client_key("z9hG4bKx", "INVITE")
    assert Kind.INVITE_CLIENT.value == "ict"


def test_stray_response_is_reported_for_the_ua_core() -> None:
    from pbx.sip.transaction import StrayResponse

    layer = TransactionLayer(TimerConfig(t1=0.1))
    ok = response_to(request("INVITE"), 200)
    layer.receive(parse_message(bytes(ok)), UAS, now=0.0)
    [ev] = drain(layer)
    assert isinstance(ev, StrayResponse) and isinstance(ev.response, Response)
