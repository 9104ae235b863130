"""RFC 4028 session timers over the wire: a call whose refreshes stop is ended with BYE,
a caller without timers is refreshed by the pbx, and a too-short interval gets 422.

The caller is a raw socket writing its own bytes (tests/net/wire.py); the pbx is the
example call center, its session interval shortened to seconds for the test.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from attrs import evolve

from pbx.app import Application
from pbx.config import AppConfig
from tests.net.test_app_peers import with_app
from tests.net.test_hardening_wire import good_call, idle
from tests.net.wire import RawCaller

INTERVAL = 6  # seconds: the pbx refreshes at 3, and ends a silent session at 6 - 2 = 4


async def no_legs(app: Application) -> None:
    """The SIP endpoint has freed every leg (the BYE's 200 came in) within 2 s."""
    for _ in range(100):
        if not app.endpoint.legs:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"legs left: {[leg.state for leg in app.endpoint.legs.values()]}")


def short_timers(config: AppConfig) -> AppConfig:
    return evolve(config, sip=evolve(config.sip, session_expires=INTERVAL, session_min_se=2))


def test_a_caller_that_stops_refreshing_is_hung_up_before_the_interval_ends(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[float, str, str]:
        caller = RawCaller(app.port)
        try:
            caller.invite(
                "600",
                b"st-silent@wire",
                extra=f"Supported: timer\r\nSession-Expires: {INTERVAL};refresher=uac\r\n".encode(),
            )
            ok = await caller.final_response()
            answered = time.monotonic()
            assert ok.status == 200
            assert await caller.echo_ratio(frames=50) >= 0.9
            bye, at = await caller.next_request("BYE", 8.0)
            caller.answer(bye, 200)
            await idle(app)
            await no_legs(app)
            return (
                at - answered,
                ok.headers.get("session-expires") or "",
                ok.headers.get("require") or "",
            )
        finally:
            caller.close()

    waited, expires, require = with_app(tmp_path, body, configure=short_timers)
    assert expires == f"{INTERVAL};refresher=uac" and require == "timer"
    assert INTERVAL - 2 - 0.5 <= waited <= INTERVAL - 2 + 1.0


def test_a_caller_without_timers_is_refreshed_by_update_and_a_481_ends_the_call(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[str, list[float], float]:
        caller = RawCaller(app.port)
        try:
            caller.invite(
                "600", b"st-refresh@wire", extra=b"Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n"
            )
            ok = await caller.final_response()
            answered = time.monotonic()
            assert ok.status == 200
            # First refresh at half the interval: answered, and the call goes on with audio.
            update, at1 = await caller.next_request("UPDATE", 6.0)
            assert update.headers.get("session-expires") == f"{INTERVAL};refresher=uac"
            caller.answer(update, 200)
            assert await caller.echo_ratio(frames=50) >= 0.9
            # The second is refused as if the dialog were gone: BYE (RFC 4028 §10).
            update2, at2 = await caller.next_request("UPDATE", 6.0)
            caller.answer(update2, 481)
            bye, at3 = await caller.next_request("BYE", 3.0)
            caller.answer(bye, 200)
            await idle(app)
            await no_legs(app)
            return (
                ok.headers.get("session-expires") or "",
                [at1 - answered, at2 - at1],
                at3 - at2,
            )
        finally:
            caller.close()

    expires, gaps, bye_after = with_app(tmp_path, body, configure=short_timers)
    assert expires == f"{INTERVAL};refresher=uas"
    for gap in gaps:
        assert INTERVAL / 2 - 0.5 <= gap <= INTERVAL / 2 + 1.0
    assert bye_after < 1.0


def test_a_caller_without_update_is_refreshed_by_reinvite_with_the_same_sdp(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[bytes, bytes, float]:
        caller = RawCaller(app.port)
        try:
            caller.invite("600", b"st-reinvite@wire", extra=b"Allow: INVITE, ACK, BYE, CANCEL\r\n")
            ok = await caller.final_response()
            assert ok.status == 200
            reinvite, _ = await caller.next_request("INVITE", 6.0)
            caller.answer(reinvite, 200, body=caller.last_offer)
            ack, _ = await caller.next_request("ACK", 2.0)
            assert ack.cseq.seq == reinvite.cseq.seq
            ratio = await caller.echo_ratio(frames=50)
            assert await caller.bye() == 200
            return ok.body, reinvite.body, ratio
        finally:
            caller.close()

    answer, refresh_offer, ratio = with_app(tmp_path, body, configure=short_timers)
    assert refresh_offer == answer  # the same o= version: no media change (RFC 3264 §8)
    assert ratio >= 0.9


def test_an_interval_below_min_se_is_answered_422_with_min_se(tmp_path: Path) -> None:
    async def body(app: Application) -> tuple[int, str]:
        caller = RawCaller(app.port)
        try:
            caller.invite(
                "600", b"st-short@wire", extra=b"Supported: timer\r\nSession-Expires: 1\r\n"
            )
            final = await caller.final_response()
            await idle(app)
            return final.status, final.headers.get("min-se") or ""
        finally:
            caller.close()

    assert with_app(tmp_path, body, configure=short_timers) == (422, "2")


def test_malformed_session_timer_fields_get_400_and_the_other_call_keeps_its_audio(
    tmp_path: Path,
) -> None:
    async def body(app: Application) -> tuple[list[int], float]:
        good = await good_call(app, b"st")
        statuses = []
        try:
            for i, field in enumerate(
                [
                    b"Session-Expires: soon\r\n",
                    b"Session-Expires: 1800;refresher=\xff\r\n",
                    b"Session-Expires: 99999999999999999999\r\n",
                    b"Min-SE: -5\r\nSession-Expires: 1800\r\n",
                ]
            ):
                bad = RawCaller(app.port)
                try:
                    bad.invite(
                        "600",
                        b"st-bad-%d@wire" % i,
                        branch=b"z9hG4bKstbad%d" % i,
                        extra=b"Supported: timer\r\n" + field,
                    )
                    statuses.append((await bad.final_response()).status)
                finally:
                    bad.close()
            ratio = await good.echo_ratio(frames=50)
            assert await good.bye() == 200
            await idle(app)
            return statuses, ratio
        finally:
            good.close()

    statuses, ratio = with_app(tmp_path, body, configure=short_timers)
    assert statuses == [400, 400, 400, 400]
    assert ratio >= 0.9
