"""Dial-in conference rooms: 850 with PIN 4321 (moderators 9876) in the example.

Callers over the carrier trunk enter the PIN with RFC 4733 digits; each says its own
tone, so what a member hears tells who is heard: everyone else, not the muted, never
oneself. The moderator's keys mute everyone, lock the room and remove the last to join;
the room is recorded as one mono file of what its members say.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from attrs import evolve

from pbx.calls.events import ConferenceChanged
from pbx.config import load_config
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, tone_share
from tests.test_config_validation import example_copy, refusal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
A_HZ, B_HZ, C_HZ = 440, 700, 1300


def share(heard: np.ndarray, hz: float) -> float:
    """The median share of ``hz`` in what was heard (0 when nothing was)."""
    frames = frames_of(np.asarray(heard))
    return float(np.median(tone_share(frames, hz))) if len(frames) else 0.0


def enter(h: Harness, audio: Tone | None, pin: str, caller_id: str):  # type: ignore[no-untyped-def]
    caller = h.call("850", caller_id=caller_id, audio=None)
    caller.wait_answered()
    caller.assert_heard_prompt("en/enter-pin", timeout=8)
    caller.send_dtmf(pin)
    if audio is not None:
        caller.play(audio)
    return caller


def members(h: Harness) -> list[dict[str, object]]:
    view = h.app.conferences.view(h.app.conferences.room("main"))
    return view["members"]  # type: ignore[return-value]


def test_members_hear_each_other_and_the_moderator_runs_the_room(pbx_harness: Harness) -> None:
    h = pbx_harness
    a = enter(h, Tone(A_HZ, level_dbov=-20), "4321", "5550101")
    h.wait_for(lambda: len(members(h)) == 1, 5, "A in the room")
    # Alone in the room: the hold music.
    a.assert_heard_prompt("moh", first_seconds=1.0, timeout=5)
    b = enter(h, None, "9876", "5550102")
    h.wait_for(lambda: len(members(h)) == 2, 5, "B in the room")
    joined = h.now()
    a.assert_heard_tone(900, min_seconds=0.1, since=joined - 0.5, timeout=3)  # the join tone
    b.play(Tone(B_HZ, level_dbov=-20))
    a.assert_heard_tone(B_HZ, min_seconds=0.5, since=joined, timeout=4)
    b.assert_heard_tone(A_HZ, min_seconds=0.5, since=joined, timeout=4)
    assert share(b.heard_timeline.since(joined + 0.5), B_HZ) < 0.02  # never oneself
    view = members(h)
    assert [m["moderator"] for m in view] == [False, True]
    assert [m["number"] for m in view] == ["5550101", "5550102"]

    c = enter(h, None, "4321", "5550103")
    h.wait_for(lambda: len(members(h)) == 3, 5, "C in the room")
    entered = h.now()
    h.sleep(1.0)
    both = c.heard_timeline.since(entered + 0.3)  # A and B, mixed
    assert share(both, A_HZ) > 0.2 and share(both, B_HZ) > 0.2

    # The moderator's 1 mutes every participant: B hears A no more, C hears B only.
    b.send_dtmf("1")
    h.wait_for(lambda: all(m["muted"] for m in members(h)[::2]), 3, "participants muted")
    muted = h.now()
    h.sleep(1.0)
    assert share(b.heard_timeline.since(muted + 0.3), A_HZ) < 0.02
    c.assert_heard_tone(B_HZ, min_seconds=0.4, since=muted + 0.3, timeout=3)
    assert share(c.heard_timeline.since(muted + 0.3), A_HZ) < 0.02
    # ... and 1 again lifts it.
    b.send_dtmf("1")
    h.wait_for(lambda: not any(m["muted"] for m in members(h)), 3, "participants unmuted")
    b.assert_heard_tone(A_HZ, min_seconds=0.4, since=h.now(), timeout=3)

    # 2 locks the room: a fourth caller is told so and hung up.
    b.send_dtmf("2")
    h.wait_for(lambda: h.app.conferences.room("main").locked, 3, "the room locked")
    d = h.call("850", caller_id="5550104")
    d.wait_answered()
    d.assert_heard_prompt("en/conference-locked", timeout=8)
    d.wait_ended(timeout=8)
    assert len(members(h)) == 3

    # 3 removes the participant who joined last (C); A's 0 mutes A.
    b.send_dtmf("3")
    c.wait_ended(timeout=5)
    h.wait_for(lambda: len(members(h)) == 2, 3, "C removed")
    a.send_dtmf("0")
    h.wait_for(lambda: members(h)[0]["muted"], 3, "A muted")
    quiet = h.now()
    h.sleep(0.8)
    assert share(b.heard_timeline.since(quiet + 0.3), A_HZ) < 0.02

    changes = [e.change for e in h.call_events if isinstance(e, ConferenceChanged)]
    for change in ("joined", "muted", "unmuted", "locked", "removed", "left"):
        assert change in changes, changes
    a.hang_up()
    b.hang_up()
    h.wait_for(lambda: not members(h), 5, "the room empty")
    room = h.app.conferences.room("main")
    assert not room.locked and room.bridge is None

    # Every member's CDR names the room and its recording; the file holds A and B.
    row = a.cdr()
    data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
    assert data["conference"] == "main"
    path = Path(data["conference_recording"])
    assert path.exists() and not path.with_name(path.name + ".part").exists()
    samples, rate = soundfile.read(str(path), dtype="int16")
    assert rate == 8000 and samples.ndim == 1
    frames = frames_of(samples)
    assert (tone_share(frames, A_HZ) > 0.3).sum() * 0.02 > 2.0
    assert (tone_share(frames, B_HZ) > 0.3).sum() * 0.02 > 2.0
    assert c.cdr()["disposition"]


def test_a_wrong_pin_three_times_is_goodbye(pbx_harness: Harness) -> None:
    h = pbx_harness
    caller = enter(h, None, "1111", "5550111")
    caller.assert_heard_prompt("en/wrong-pin", timeout=5)
    caller.send_dtmf("2222")
    caller.send_dtmf("3333")
    caller.assert_heard_prompt("en/goodbye", timeout=10)
    caller.wait_ended(timeout=8)
    assert not members(h)
    assert caller.cdr()["disposition"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ('conference = "main"', 'conference = "mian"'),
            "dialplan[{n}].target: unknown conference room 'mian' (conference rooms: main;"
            " add [conferences.NAME])",
        ),
        (('pin = "4321"', 'pin = "43x1"'), "conferences.main.pin: expected 1 to 16 digits"),
        (("max_members = 50", "max_members = 1"), "conferences.main.max_members: expected 2"),
        (('pin = "4321"', 'pin = "9876"'), "conferences.main.moderator_pin: must differ"),
    ],
)
def test_conference_settings_are_checked_at_load(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    path = example_copy(tmp_path, change)
    routes = load_config(EXAMPLE).dialplan
    n = next(i for i, r in enumerate(routes) if r.target.kind == "conference")
    assert refusal(path).startswith(f"{path}: {problem.format(n=n)}")


def test_a_supervisor_runs_the_room_over_the_api(pbx_harness: Harness) -> None:
    h = pbx_harness
    a = enter(h, Tone(A_HZ, level_dbov=-20), "4321", "5550121")
    b = enter(h, Tone(B_HZ, level_dbov=-20), "4321", "5550122")
    h.wait_for(lambda: len(members(h)) == 2, 5, "both in the room")
    base = f"http://127.0.0.1:{h.app.http_port}"
    legs = [str(m["leg"]) for m in members(h)]

    async def api(steps: list[tuple[str, str, dict[str, object] | None]]) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            login = await client.post("/api/login", json={"user": "2099", "password": "pw2099"})
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            agent = await client.post("/api/login", json={"user": "2001", "password": "pw2001"})
            refused = await client.get(
                "/api/conferences", headers={"Authorization": f"Bearer {agent.json()['token']}"}
            )
            assert refused.status_code == 403
            return [
                await client.request(method, path, json=body, headers=auth)
                for method, path, body in steps
            ]

    [listed, malformed, nobody, muted] = h.run(
        api(
            [
                ("GET", "/api/conferences", None),
                ("POST", f"/api/conferences/main/members/{legs[0]}/mute", {"on": "x"}),
                ("POST", "/api/conferences/main/members/nope/mute", {"on": True}),
                ("POST", f"/api/conferences/main/members/{legs[0]}/mute", {"on": True}),
            ]
        )
    )
    # A malformed body is a 422 naming the field; an unknown member is a 404.
    assert malformed.status_code == 422 and "on" in malformed.text
    assert nobody.status_code == 404 and "nope" in nobody.text
    [room] = listed.json()
    assert [m["number"] for m in room["members"]] == ["5550121", "5550122"]
    assert room["recording"] and not room["locked"]
    assert muted.json() == {"room": "main", "leg": legs[0], "muted": True}
    quiet = h.now()
    h.sleep(0.8)
    assert share(b.heard_timeline.since(quiet + 0.3), A_HZ) < 0.02
    a.assert_heard_tone(B_HZ, min_seconds=0.3, since=quiet, timeout=3)  # still hears

    [locked, kicked, gone, room_now] = h.run(
        api(
            [
                ("POST", "/api/conferences/main/lock", {"on": True}),
                ("DELETE", f"/api/conferences/main/members/{legs[1]}", None),
                ("DELETE", f"/api/conferences/main/members/{legs[1]}", None),
                ("GET", "/api/conferences/main", None),
            ]
        )
    )
    assert locked.json()["locked"] is True
    assert kicked.json()["removed"] is True
    assert gone.status_code == 404
    b.wait_ended(timeout=5)
    assert [m["leg"] for m in room_now.json()["members"]] == [legs[0]]
    a.hang_up()


def test_a_full_room_says_so_and_hangs_up(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    room = evolve(config.conferences["main"], max_members=2, pin="", moderator_pin="")
    with Harness(evolve(config, conferences={"main": room}), tmp_path=tmp_path) as h:
        first = h.call("850", caller_id="5550131")
        second = h.call("850", caller_id="5550132")
        first.wait_answered()
        second.wait_answered()
        h.wait_for(lambda: len(members(h)) == 2, 5, "two in the room (no PIN asked)")
        third = h.call("850", caller_id="5550133")
        third.wait_answered()
        third.assert_heard_prompt("en/conference-full", timeout=8)
        third.wait_ended(timeout=8)
        assert len(members(h)) == 2
        first.hang_up()
        second.hang_up()
