"""Hardening regressions over the wire: one sender's bad bytes never hurt other calls.

Each test starts the example call center on loopback, keeps a good call to the echo test
(DID 600) running, sends the exact bytes that used to break the server from a raw
socket, and checks the good call's audio, the answer the bad request got, and that
nothing is left behind (calls, legs, RTP ports).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from attrs import evolve

from pbx.app import Application
from pbx.calls.events import CallEvent
from pbx.sip.message import Request
from tests.net.test_app_peers import with_app
from tests.net.wire import RawCaller, sdp


async def good_call(app: Application, tag: bytes) -> RawCaller:
    caller = RawCaller(app.port)
    caller.invite("600", b"good-" + tag, branch=b"z9hG4bKgood" + tag)
    final = await caller.final_response()
    assert final.status == 200
    return caller


async def idle(app: Application, timeout: float = 3.0) -> None:
    """Wait until no call, leg or RTP port is left."""
    deadline = time.monotonic() + timeout
    pool = app.media.pool
    while time.monotonic() < deadline:
        if not app.calls.calls and not app.calls.legs and pool.available == pool.size:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(
        f"left behind: {len(app.calls.calls)} calls, {len(app.calls.legs)} legs, "
        f"{pool.size - pool.available} RTP ports"
    )


@pytest.mark.parametrize(
    "address",
    [b"127.0.0.\xff", b"media.example.invalid"],
    ids=["non-utf8", "host-name"],
)
def test_bad_sdp_address_is_refused_at_once_and_other_calls_keep_their_audio(
    tmp_path: Path, address: bytes
) -> None:
    """Bytes that are no address make a 488; so does a host name, without any DNS."""

    async def body(app: Application) -> None:
        good = await good_call(app, b"1")
        bad = RawCaller(app.port)
        try:
            assert await good.echo_ratio(25, tag=1) >= 0.9
            started = time.monotonic()
            bad.invite("600", b"bad-addr", body=sdp(bad.rtp_port, address))
            assert (await bad.final_response()).status == 488
            assert time.monotonic() - started < 1.0
            refused = [r for r in app.store.cdrs() if r["disposition"] == "refused"]
            assert [r["hangup_cause"] for r in refused] == ["488 Not Acceptable Here"]
            ticks = app.media.ticks
            assert await good.echo_ratio(50, tag=2) >= 0.9
            assert app.media.ticks > ticks + 40
            assert await good.bye() == 200
            await idle(app)
        finally:
            good.close()
            bad.close()

    with_app(tmp_path, body)


def test_tick_survives_a_channel_whose_address_no_socket_takes(tmp_path: Path) -> None:
    """Even past the SDP check, one channel's unsendable address drops only that channel."""

    async def body(app: Application) -> None:
        good = await good_call(app, b"1")
        other = await good_call(app, b"2")
        try:
            streams = [x.stream for x in app.calls.legs.values() if x.stream is not None]
            victim = next(s for s in streams if s.remote_addr == ("127.0.0.1", other.rtp_port))
            victim.set_remote(("127.0.0.\udcff", 4000))
            await asyncio.sleep(0.1)
            assert app.media.dropped_channels == 1
            assert await good.echo_ratio(50, tag=3) >= 0.9
            assert await other.echo_ratio(10, tag=4) == 0.0
            assert await good.bye() == 200
            assert await other.bye() == 200
            await idle(app)
        finally:
            good.close()
            other.close()

    with_app(tmp_path, body)


def test_non_utf8_from_and_call_id_are_stored_escaped_and_the_call_is_freed(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> None:
        caller = RawCaller(app.port)
        try:
            caller.invite("600", b"cid-\xff\xfe@wire", from_name=b'"Jos\xe9 \xff" ')
            final = await caller.final_response()
            assert final.status == 200
            assert await caller.echo_ratio(25, tag=6) >= 0.9
            assert await caller.bye() == 200
            await idle(app)
        finally:
            caller.close()
        rows = app.store.cdrs()
        assert len(rows) == 1
        row = rows[0]
        assert row["sip_call_id"] == "cid-\\xff\\xfe@wire"
        assert row["caller_name"] == "Jos\\xe9 \\xff"
        assert row["disposition"] == "answered"
        assert row["end_time"] is not None
        assert app.calls.store_errors == 0

    with_app(tmp_path, body)


def test_a_failing_event_handler_does_not_stop_dispatch_or_timers(tmp_path: Path) -> None:
    """The guards that catch a handler's exception must not raise themselves."""
    seen: list[str] = []

    async def body(app: Application) -> None:
        def broken(event: CallEvent, now: float) -> None:
            seen.append(type(event).__name__)
            raise RuntimeError("a handler with a bug")

        app.on_call_event(broken)
        caller = RawCaller(app.port)
        try:
            caller.invite("600", b"handler-bug")
            assert (await caller.final_response()).status == 200
            assert await caller.echo_ratio(10, tag=7) >= 0.9
            assert await caller.bye() == 200
            await idle(app)
            # The SIP timer is still armed: a request that needs a retransmitted answer
            # (a 200 to an INVITE nobody ACKs) is retransmitted (RFC 3261 §13.3.1.4).
            again = RawCaller(app.port)
            try:
                again.invite("600", b"handler-bug-2")
                first = None
                deadline = time.monotonic() + 3.0
                retransmitted = 0
                while time.monotonic() < deadline and retransmitted < 2:
                    for message in again.read():
                        if getattr(message, "status", 0) == 200:
                            if first is None:
                                first = message
                            else:
                                retransmitted += 1
                    await asyncio.sleep(0.01)
                assert retransmitted >= 1
            finally:
                again.close()
        finally:
            caller.close()

    with_app(tmp_path, body)
    assert "CallEnded" in seen


def test_a_call_whose_media_stops_is_ended_but_a_call_on_hold_is_not(tmp_path: Path) -> None:
    """Zombie calls: no RTP or RTCP for the inactivity timeout ends the call with BYE."""

    async def body(app: Application) -> None:
        silent = RawCaller(app.port)
        held = RawCaller(app.port)
        try:
            silent.invite("600", b"zombie")
            assert (await silent.final_response()).status == 200
            held.invite(
                "600",
                b"on-hold",
                branch=b"z9hG4bKheld",
                body=sdp(held.rtp_port).replace(b"a=sendrecv", b"a=inactive"),
            )
            assert (await held.final_response()).status == 200
            assert await silent.echo_ratio(10, tag=8) >= 0.9
            stopped = time.monotonic()
            bye = None
            while time.monotonic() - stopped < 4.0 and bye is None:
                for message in silent.read():
                    if isinstance(message, Request) and message.method == "BYE":
                        bye = message
                await asyncio.sleep(0.02)
            assert bye is not None, "no BYE for a call whose media stopped"
            # The last packet went 0.2 s before `stopped` (echo_ratio waits for stragglers).
            assert 0.7 <= time.monotonic() - stopped < 3.5
            assert len(app.calls.calls) == 1  # the held call is still up
            assert await held.bye() == 200
            await idle(app)
        finally:
            silent.close()
            held.close()

    with_app(
        tmp_path,
        body,
        configure=lambda c: evolve(c, rtp=evolve(c.rtp, inactivity_timeout=1.0)),
    )
