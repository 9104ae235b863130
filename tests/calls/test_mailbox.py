"""The mailbox by phone (``*98`` in the example): PIN, messages, delete, the own greeting.

Two callers leave agent 2001 a message each over the carrier trunk (a route to mailbox
2001 added to the example), each message a prompt of the example so that it can be
recognised when the agent's phone plays it back. The agent dials ``*98``, gets the PIN
wrong once, listens, deletes the first message, skips on, records a greeting, and the
next caller hears that greeting instead of the common one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from pbx.config import load_config
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, longest_tone
from tests.test_config_validation import example_copy, refusal

TO_2001 = """
[[dialplan]]
number = "8001"
target = "voicemail"
mailbox = "2001"
"""


def leave_message(h: Harness, prompt: str, caller_id: str) -> None:
    caller = h.call("8001", caller_id=caller_id)
    caller.wait_answered()
    greeted = caller.assert_heard_prompt("en/voicemail-greeting")
    caller.assert_heard_tone(1000, min_seconds=0.2, since=greeted)
    # Half a second of silence first: the recording starts as the beep ends.
    samples = np.concatenate([np.zeros(4000, np.int16), h.app.engine.prompts.get(prompt)])
    caller.talk(len(samples) / 8000 + 0.5, samples)
    caller.send_dtmf("#")
    caller.wait_ended()


@pytest.fixture
def harness(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Harness(load_config(example_copy(tmp_path, append=TO_2001)), tmp_path=tmp_path) as h:
        yield h


def test_the_owner_listens_deletes_and_records_a_greeting(harness: Harness) -> None:
    h = harness
    leave_message(h, "en/welcome", "5550131")
    leave_message(h, "en/transfer-sales", "5550132")
    first, second = h.voicemails("2001")
    assert not first["heard"] and not second["heard"]

    phone = h.agent("2001")
    box = phone.dial("*98")
    box.wait_answered()
    phone.assert_heard_prompt("en/vm-enter-pin", timeout=8)
    phone.send_dtmf("2002")  # not the PIN
    wrong = phone.assert_heard_prompt("en/wrong-pin", timeout=8)
    phone.assert_heard_prompt("en/vm-enter-pin", since=wrong, timeout=8)
    phone.send_dtmf("2001")  # the extension number
    opened = phone.assert_heard_prompt("en/vm-new-messages", timeout=8)
    phone.assert_heard_prompt("en/digits/2", since=opened, timeout=8)
    menu = phone.assert_heard_prompt("en/vm-menu", first_seconds=1.5, since=opened, timeout=15)

    # 1: the new messages, oldest first, each announced and marked heard as it plays.
    phone.send_dtmf("1")
    phone.assert_heard_prompt("en/vm-message", since=menu, timeout=8)
    played = phone.assert_heard_prompt("en/welcome", since=menu, timeout=10, threshold=0.7)
    assert h.voicemails("2001")[0]["heard"] == 1
    phone.assert_heard_prompt("en/vm-message-menu", first_seconds=1.0, since=played, timeout=10)

    # 7 deletes it (file, row, an audit row); the next one follows.
    phone.send_dtmf("7")
    deleted = phone.assert_heard_prompt("en/vm-deleted", since=played, timeout=8)
    h.wait_for(lambda: len(h.voicemails("2001")) == 1, 3, "the message deleted")
    assert not Path(first["path"]).exists()
    (audit,) = h.app.store.query("SELECT * FROM audit WHERE action='delete'")
    assert audit["user"] == "2001" and audit["resource"] == f"voicemail:{first['id']}"
    second_played = phone.assert_heard_prompt(
        "en/transfer-sales", since=deleted, timeout=10, threshold=0.7
    )
    # 9 with no message after it: "no more messages" and the menu.
    phone.send_dtmf("9")
    phone.assert_heard_prompt("en/vm-no-more", since=second_played, timeout=8)
    assert h.voicemails("2001")[0]["heard"] == 1  # saved

    # 3 records the greeting: prompt, beep, what is said until #.
    phone.send_dtmf("3")
    asked = phone.assert_heard_prompt("en/vm-record-greeting", since=second_played, timeout=10)
    beep = phone.assert_heard_tone(1000, min_seconds=0.2, since=asked, timeout=5)
    phone.talk(2.0, Tone(523))
    phone.send_dtmf("#")
    phone.assert_heard_prompt("en/vm-greeting-saved", since=beep, timeout=8)
    greeting = h.tmp_path / "voicemail" / "2001" / "greeting.wav"
    audio, rate = soundfile.read(greeting, dtype="int16")
    assert rate == 8000
    assert 1.6 <= longest_tone(frames_of(np.asarray(audio)), 523)[0] <= 2.3
    phone.send_dtmf("*")
    box.wait_ended(timeout=10)

    # The next caller hears the owner's greeting, not the common one, then the beep.
    caller = h.call("8001", caller_id="5550133")
    caller.wait_answered()
    heard = caller.assert_heard_tone(523, min_seconds=1.5, timeout=6)
    caller.assert_heard_tone(1000, min_seconds=0.2, since=heard, timeout=5)
    caller.hang_up()


def test_three_wrong_pins_and_the_caller_is_hung_up(harness: Harness) -> None:
    h = harness
    phone = h.agent("2002")
    box = phone.dial("*98")
    box.wait_answered()
    for _ in range(3):
        heard = phone.assert_heard_prompt("en/vm-enter-pin", timeout=8)
        phone.send_dtmf("9999")
        phone.assert_heard_prompt("en/wrong-pin", since=heard, timeout=8)
    phone.assert_heard_prompt("en/goodbye", timeout=8)
    box.wait_ended(timeout=8)
    assert box.ended_by == "pbx"


def test_star98_from_the_carrier_is_not_a_mailbox(harness: Harness) -> None:
    caller = harness.call("*98", caller_id="2001")
    assert caller.wait_failed() in (403, 404)


@pytest.mark.parametrize(
    ("change", "append", "problem"),
    [
        (("[agents.2001]", '[agents.2001]\nvoicemail_pin = "12a4"'), "", "voicemail_pin: digits"),
        (
            None,
            '\n[[dialplan]]\nnumber = "8800"\ntarget = "mailbox"\nmailbox = "800"\n',
            "needs a PIN",
        ),
        (
            None,
            '\n[[dialplan]]\nnumber = "8801"\ntarget = "mailbox"\n',
            'from "user" only',
        ),
    ],
)
def test_mailbox_settings_are_checked_at_load(
    tmp_path: Path, change: tuple[str, str] | None, append: str, problem: str
) -> None:
    path = example_copy(tmp_path, change, append=append)
    assert problem in refusal(path)


NO_ANSWER = (
    'target = "extension"\n# To send',
    'target = "extension"\noptions = { voicemail = true, ring_timeout = 2 }\n# To send',
)


def test_an_extension_that_does_not_answer_sends_the_caller_to_its_mailbox(
    tmp_path: Path,
) -> None:
    config = load_config(example_copy(tmp_path, NO_ANSWER))
    with Harness(config, tmp_path=tmp_path) as h:
        ringing = h.agent("2001", auto_answer=False)
        busy = h.agent("2003", reject_with=486)
        for extension, caller_id in (("2001", "5550141"), ("2002", "5550142"), ("2003", "5550143")):
            caller = h.call(extension, caller_id=caller_id)
            if extension == "2001":
                ringing.wait_ringing()
            caller.wait_answered(timeout=6)
            greeted = caller.assert_heard_prompt("en/voicemail-greeting")
            caller.assert_heard_tone(1000, min_seconds=0.2, since=greeted)
            caller.talk(1.5, Tone(440))
            caller.send_dtmf("#")
            caller.wait_ended()
            (message,) = h.voicemails(extension)
            assert message["caller"] == caller_id
            assert caller.cdr()["data"]["voicemail"] == message["path"]
        assert ringing.state == "idle" and busy.state == "idle"
        # Answered in time, the extension is a plain call.
        answering = h.agent("2004", audio=Tone(660))
        caller = h.call("2004", audio=Tone(440))
        answering.wait_connected()
        caller.assert_heard_tone(660, min_seconds=0.4)
        caller.hang_up()
        assert h.voicemails("2004") == []


def test_extension_route_options_are_checked_at_load(tmp_path: Path) -> None:
    bad = (NO_ANSWER[0], NO_ANSWER[1].replace("ring_timeout = 2", 'ring_timeout = "x"'))
    assert "options.ring_timeout: expected 1 to 600 seconds" in refusal(example_copy(tmp_path, bad))
