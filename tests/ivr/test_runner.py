"""The runner on small graphs: type-ahead, retries, digit collection, lookups, recording,
callbacks, languages, hang-up — events in, actions out, time passed in."""

from __future__ import annotations

import pytest

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.ivr import (
    Digit,
    Enqueue,
    Finished,
    Graph,
    Hangup,
    IvrGraph,
    IvrGraphError,
    IvrRunner,
    Lookup,
    LookupFailed,
    LookupResult,
    Play,
    PlayEnded,
    RequestCallback,
    SetData,
    StartRecording,
    StopPlayback,
    StopRecording,
)
from pbx.ivr.runner import RECORD_GRACE
from tests.ivr.helpers import Shell


def menu_graph(*, welcome_interruptible: bool = True, menu_interruptible: bool = True) -> IvrGraph:
    g = Graph("t", start="welcome")
    g.play("welcome", "en/welcome", next="menu", interruptible=welcome_interruptible)
    g.menu(
        "menu",
        "en/menu",
        options={"1": "one", "2": "two"},
        timeout=4,
        retries=2,
        no_input="quiet",
        invalid="wrong",
        no_input_prompt="en/no-input",
        invalid_prompt="en/invalid",
        interruptible=menu_interruptible,
        var="choice",
    )
    for name in ("one", "two", "quiet", "wrong"):
        g.queue(name, name)
    return g.build()


def collect_graph(**kw: object) -> IvrGraph:
    g = Graph("t", start="acct")
    args: dict[str, object] = {
        "var": "account",
        "next": "done",
        "no_input": "quiet",
        "invalid": "wrong",
        "min_length": 3,
        "max_length": 6,
        "first_digit_timeout": 5,
        "inter_digit_timeout": 2,
        "retries": 2,
        "invalid_prompt": "en/invalid",
    }
    args.update(kw)
    g.collect("acct", "en/account", **args)  # type: ignore[arg-type]
    g.menu("done", "en/menu", options={"1": "one"}, no_input="quiet")
    for name in ("one", "quiet", "wrong"):
        g.queue(name, name)
    return g.build()


# ------------------------------------------------------------------ type-ahead


def test_keys_during_a_non_interruptible_prompt_wait_for_the_menu() -> None:
    shell = Shell(menu_graph(welcome_interruptible=False))
    assert shell.start() == [Play(("en/welcome",), False, 1)]
    assert shell.press("2") == []  # the welcome plays on
    assert shell.play_ends() == [
        SetData("choice", "2"),
        Enqueue("two"),
        Finished("queue", "two", ("welcome", "menu", "two")),
    ]
    assert shell.finished is not None
    assert shell.finished.node == "two"
    assert shell.played() == [("en/welcome",)]  # the menu prompt was never played


def test_first_key_stops_an_interruptible_prompt_and_is_kept() -> None:
    shell = Shell(menu_graph())
    shell.start()
    out = shell.press("1")
    assert out[:2] == [StopPlayback(), SetData("choice", "1")]
    assert shell.finished is not None and shell.finished.node == "one"


def test_keys_during_a_non_interruptible_menu_prompt_are_taken_when_it_ends() -> None:
    shell = Shell(menu_graph(menu_interruptible=False))
    shell.start()
    shell.play_ends()
    assert shell.playing == Play(("en/menu",), False, 2)
    assert shell.press("1") == []
    assert shell.play_ends()[0] == SetData("choice", "1")


def test_stale_or_stopped_playback_reports_are_ignored() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.play_ends()  # the menu plays (seq 2)
    assert shell.send(PlayEnded(seq=1)) == []  # the welcome's, late
    assert shell.send(PlayEnded(seq=2, completed=False)) == []
    assert shell.runner.get_timer() is None  # the menu timeout starts at the prompt's end
    assert shell.send(PlayEnded()) == []
    assert shell.runner.get_timer() == shell.now + 4


# ------------------------------------------------------------------ menu retries


def test_no_input_retries_then_takes_the_no_input_branch() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.listen()
    assert shell.wait(4) == [Play(("en/no-input", "en/menu"), True, 3)]
    shell.play_ends()
    out = shell.wait(4)
    assert out[-1] == Finished("queue", "quiet", ("welcome", "menu", "quiet"))


def test_invalid_keys_retry_then_take_the_invalid_branch() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.listen()
    assert shell.press("9") == [Play(("en/invalid", "en/menu"), True, 3)]
    assert shell.press("8") == [
        StopPlayback(),
        Enqueue("wrong"),
        Finished("queue", "wrong", ("welcome", "menu", "wrong")),
    ]


def test_a_valid_key_after_an_invalid_one() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.listen()
    shell.press("9")
    assert shell.press("2")[:2] == [StopPlayback(), SetData("choice", "2")]


def test_last_failure_decides_the_branch() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.listen()
    shell.wait(4)  # no input (attempt 1)
    shell.press("7")  # invalid (attempt 2): the invalid branch
    assert shell.finished is not None and shell.finished.node == "wrong"


def test_type_ahead_after_an_invalid_key_is_flushed() -> None:
    shell = Shell(menu_graph(welcome_interruptible=False))
    shell.start()
    shell.press("91")  # 9 is invalid, the 1 typed after it is dropped
    assert shell.play_ends() == [Play(("en/invalid", "en/menu"), True, 2)]
    assert shell.finished is None


# ------------------------------------------------------------------ collect


def test_collect_ends_on_the_terminator() -> None:
    shell = Shell(collect_graph())
    shell.start()
    shell.press("1234")
    assert shell.runner.get_timer() == shell.now + 2
    assert shell.press("#")[0] == SetData("account", "1234")


def test_collect_ends_on_the_inter_digit_timeout() -> None:
    shell = Shell(collect_graph())
    shell.start()
    shell.play_ends()
    assert shell.runner.get_timer() == shell.now + 5  # first-digit timeout
    shell.press("12")
    shell.wait(1.5)
    shell.press("3")
    assert shell.wait(1.9) == []
    assert shell.wait(0.1)[0] == SetData("account", "123")


def test_collect_ends_at_max_length_and_drops_a_following_terminator() -> None:
    shell = Shell(collect_graph())
    shell.start()
    out = shell.press("123456")
    assert SetData("account", "123456") in out
    assert shell.press("#") == []  # the terminator after a full entry is not a menu key
    assert shell.press("1")[:2] == [StopPlayback(), SetData("done", "1")]


def test_collect_typed_ahead_with_terminator() -> None:
    g = Graph("t", start="hello")
    g.play("hello", "en/hello", next="acct", interruptible=False)
    g.collect("acct", "en/account", var="account", max_length=4, next="menu", no_input="x")
    g.menu("menu", "en/menu", options={"#": "x", "1": "x"}, no_input="x")
    g.hangup("x")
    shell = Shell(g.build())
    shell.start()
    shell.press("1234#")
    out = shell.play_ends()
    assert out == [SetData("account", "1234"), Play(("en/menu",), True, 2)]


def test_too_short_entry_is_invalid_and_retried() -> None:
    shell = Shell(collect_graph())
    shell.start()
    assert shell.press("12#")[-1] == Play(("en/invalid", "en/account"), True, 2)
    out = shell.press("99#")
    assert out[-1] == Finished("queue", "wrong", ("acct", "wrong"))


def test_pattern_must_match_the_whole_entry() -> None:
    shell = Shell(collect_graph(pattern=r"4\d+"))
    shell.start()
    assert shell.press("5123#")[-1] == Play(("en/invalid", "en/account"), True, 2)
    assert shell.press("4123#")[-2] == SetData("account", "4123")


def test_terminator_alone_and_no_digits() -> None:
    shell = Shell(collect_graph(min_length=0, retries=1))
    shell.start()
    assert shell.press("#")[1] == SetData("account", "")
    shell = Shell(collect_graph(retries=1))
    shell.start()
    shell.play_ends()
    assert shell.wait(5)[-1] == Finished("queue", "quiet", ("acct", "quiet"))


# ------------------------------------------------------------------ lookups


def lookup_graph() -> IvrGraph:
    g = Graph("t", start="find")
    g.lookup(
        "find",
        source="http",
        name="http://127.0.0.1:8080/customer",
        params={"phone": "caller", "lang": "lang"},
        timeout=3,
        into="crm_",
        next="found",
        not_found="unknown",
        error="failed",
    )
    g.branch("found", conditions=[("crm_tier == 'gold'", "vip")], default="normal")
    for name in ("vip", "normal", "unknown", "failed"):
        g.queue(name, name)
    return g.build()


def test_lookup_result_goes_into_the_call_data() -> None:
    shell = Shell(lookup_graph(), lookups=False, caller="5550100")
    assert shell.start() == [
        Lookup(
            "http", "http://127.0.0.1:8080/customer", {"phone": "5550100", "lang": "en"}, 3.0, "", 1
        )
    ]
    out = shell.send(LookupResult({"tier": "gold", "name": "Ann"}, seq=1))
    assert out[:2] == [SetData("crm_name", "Ann"), SetData("crm_tier", "gold")]
    assert shell.finished is not None and shell.finished.node == "vip"


def test_empty_lookup_result_takes_not_found() -> None:
    shell = Shell(lookup_graph(), lookups=False)
    shell.start()
    assert shell.send(LookupResult({}))[-1].node == "unknown"  # type: ignore[union-attr]


def test_lookup_failure_and_timeout_take_the_error_branch() -> None:
    shell = Shell(lookup_graph(), lookups=False)
    shell.start()
    out = shell.send(LookupFailed("HTTP 500 Internal Server Error", seq=1))
    assert out[0] == SetData("lookup_error", "find: HTTP 500 Internal Server Error")
    assert shell.finished is not None and shell.finished.node == "failed"

    shell = Shell(lookup_graph(), lookups=False)
    shell.start()
    assert shell.wait(2.9) == []
    out = shell.wait(0.1)
    assert out[0] == SetData("lookup_error", "find: timeout")
    assert shell.send(LookupResult({"tier": "gold"}, seq=1)) == []  # too late


def test_a_late_result_of_an_earlier_lookup_is_ignored() -> None:
    g = Graph("t", start="a")
    g.lookup("a", source="python", name="f", timeout=1, next="b", error="b")
    g.lookup("b", source="python", name="g", timeout=1, next="end", error="end")
    g.hangup("end")
    shell = Shell(g.build(), lookups=False)
    shell.start()
    shell.wait(1)  # a timed out; b asked (seq 2)
    assert shell.send(LookupResult({"x": 1}, seq=1)) == []
    assert shell.send(LookupResult({"y": 2}, seq=2))[0] == SetData("y", 2)


def test_keys_pressed_during_a_lookup_are_typed_ahead() -> None:
    g = Graph("t", start="find")
    g.lookup("find", source="python", name="f", next="menu", error="menu")
    g.menu("menu", "en/menu", options={"1": "end"}, no_input="end")
    g.hangup("end")
    shell = Shell(g.build(), lookups=False)
    shell.start()
    assert shell.press("1") == []
    assert shell.send(LookupResult({}))[:2] == [SetData("menu", "1"), Hangup()]


# ------------------------------------------------------------------ set, say, language


def test_set_values_expressions_and_counters() -> None:
    g = Graph("t", start="s", languages=("en", "ru"))
    g.set(
        "s",
        values={"tier": "gold", "vip": True},
        exprs={"russian": "lang == 'ru'"},
        increment=["visits", "visits"],
        next="end",
    )
    g.hangup("end")
    shell = Shell(g.build(), lang="ru")
    shell.start()
    assert shell.log[:5] == [
        SetData("tier", "gold"),
        SetData("vip", True),
        SetData("russian", True),
        SetData("visits", 1),
        SetData("visits", 2),
    ]


def test_say_digits_number_and_date() -> None:
    g = Graph("t", start="a", languages=("en", "ru"))
    g.say("a", "digits", "caller", next="b")
    g.say("b", "number", "count", gender="f", next="c")
    g.say("c", "date", "due", next="end")
    g.hangup("end")
    runner = IvrRunner(
        g.build(), call="c", caller="12#", lang="ru", data={"count": 21, "due": "2024-03-08"}
    )
    assert runner.start(0.0) == [Play(("ru/digits/1", "ru/digits/2", "ru/digits/pound"), True, 1)]
    assert runner.handle(PlayEnded(), 0.0) == [Play(("ru/digits/20", "ru/digits/1f"), True, 2)]
    assert runner.handle(PlayEnded(), 0.0) == [
        Play(
            (
                "ru/ordinals/8",  # восьмого
                "ru/months/march",  # марта
                "ru/digits/2f",  # две тысячи: тысяча is feminine
                "ru/digits/thousands-i",
                "ru/digits/20",
                "ru/ordinals/4",  # четвёртого
                "ru/year-gen",  # года
            ),
            True,
            3,
        )
    ]


def test_unspeakable_value_is_skipped() -> None:
    g = Graph("t", start="a")
    g.say("a", "number", "missing", next="end")
    g.hangup("end")
    shell = Shell(g.build())
    assert shell.start() == [Hangup(), Finished("completed", "end", ("a", "end"))]


def test_language_choice_changes_the_prompts() -> None:
    g = Graph("t", start="lang", languages=("en", "ru"))
    g.language("lang", "en/choose", options={"1": "en", "2": "ru"}, timeout=3, retries=1, next="hi")
    g.play("hi", "{lang}/welcome", next="end")
    g.hangup("end")
    shell = Shell(g.build())
    shell.start()
    assert shell.press("2") == [
        StopPlayback(),
        SetData("lang", "ru"),
        Play(("ru/welcome",), True, 2),
    ]
    shell = Shell(g.build())
    shell.start()
    shell.play_ends()
    assert shell.wait(3) == [Play(("en/welcome",), True, 2)]  # no choice: keep the language


# ------------------------------------------------------------------ record


def record_graph() -> IvrGraph:
    g = Graph("t", start="rec")
    g.record("rec", "en/leave-message", var="message", max_seconds=30, next="thanks")
    g.play("thanks", "en/thanks", next="end")
    g.hangup("end")
    return g.build()


def test_record_until_the_terminator() -> None:
    shell = Shell(record_graph())
    assert shell.start() == [Play(("en/leave-message",), True, 1)]
    assert shell.play_ends() == [StartRecording(30.0, True)]
    assert shell.runner.get_timer() == shell.now + 30 + RECORD_GRACE
    assert shell.press("5") == []
    assert shell.press("#") == [StopRecording()]
    assert shell.recording_done("/vm/1.wav", 7.5) == [
        SetData("message", "/vm/1.wav"),
        SetData("message_seconds", 7.5),
        Play(("en/thanks",), True, 2),
    ]


def test_record_stops_itself_past_the_limit() -> None:
    shell = Shell(record_graph())
    shell.start()
    shell.press("1")  # skips the greeting: straight to the beep
    assert shell.log[-1] == StartRecording(30.0, True)
    assert shell.wait(30 + RECORD_GRACE) == [StopRecording()]
    assert shell.wait(RECORD_GRACE) == [Play(("en/thanks",), True, 2)]  # no RecordingDone came


def test_hang_up_while_recording_stops_the_recording() -> None:
    shell = Shell(record_graph())
    shell.start()
    shell.play_ends()
    assert shell.hang_up() == [StopRecording(), Finished("hangup", "rec", ("rec",))]


# ------------------------------------------------------------------ callback


def test_callback_to_an_entered_number_in_a_chosen_slot() -> None:
    g = Graph("t", start="cb")
    g.callback(
        "cb",
        number="enter",
        number_prompt="en/enter-number",
        slots={"1": "09:00-12:00", "2": "12:00-18:00"},
        slot_prompt="en/choose-slot",
        next="end",
    )
    g.hangup("end")
    shell = Shell(g.build())
    assert shell.start() == [Play(("en/enter-number",), True, 1)]
    assert shell.press("5550199#") == [StopPlayback(), Play(("en/choose-slot",), True, 2)]
    assert shell.press("2") == [
        StopPlayback(),
        SetData("callback_number", "5550199"),
        SetData("callback_slot", "12:00-18:00"),
        RequestCallback("5550199", "12:00-18:00"),
        Hangup(),
        Finished("completed", "end", ("cb", "end")),
    ]


def test_callback_falls_back_to_the_caller_id_and_first_slot() -> None:
    g = Graph("t", start="cb")
    g.callback("cb", number="enter", slots={"1": "asap", "2": "later"}, retries=1, next="end")
    g.hangup("end")
    shell = Shell(g.build(), caller="5550100")
    shell.start()
    shell.wait(5)  # no number entered
    shell.wait(5)  # no slot chosen
    assert RequestCallback("5550100", "asap") in shell.log


# ------------------------------------------------------------------ lifecycle


def test_hang_up_mid_prompt_ends_the_run_once() -> None:
    shell = Shell(menu_graph())
    shell.start()
    assert shell.hang_up() == [Finished("hangup", "welcome", ("welcome",))]
    assert shell.hang_up() == []
    assert shell.send(PlayEnded()) == []
    assert shell.runner.get_timer() is None


def test_misuse_raises() -> None:
    runner = IvrRunner(menu_graph(), call="c")
    with pytest.raises(InvalidStateError, match="IVR run of call c has not started"):
        runner.handle(Digit("1"), 0.0)
    runner.start(0.0)
    with pytest.raises(InvalidStateError, match="IVR run of call c has already started"):
        runner.start(0.0)
    with pytest.raises(LocalProtocolError, match="IVR 't' has no prompts in language 'ru'"):
        IvrRunner(menu_graph(), call="c", lang="ru")


def test_handle_timer_before_the_deadline_does_nothing() -> None:
    shell = Shell(menu_graph())
    shell.start()
    shell.listen()
    deadline = shell.runner.get_timer()
    assert deadline is not None
    assert shell.runner.handle_timer(deadline - 0.001) == []
    assert shell.runner.handle_timer(deadline) == [Play(("en/no-input", "en/menu"), True, 3)]


def test_non_dtmf_digit_is_ignored() -> None:
    shell = Shell(menu_graph())
    shell.start()
    assert shell.press("x") == []
    assert shell.playing is not None


# ------------------------------------------------------------------ identify


def identify_graph() -> IvrGraph:
    g = Graph("t", start="who")
    g.identify(
        "who",
        source="python",
        name="customer",
        by="caller_then_pin",
        prompt="en/enter-account",
        wrong_prompt="en/wrong-account",
        var="account",
        min_length=3,
        max_length=3,
        attempts=2,
        secret=False,
        into="customer_",
        next="known",
        failed="stranger",
    )
    g.queue("known", "vip")
    g.queue("stranger", "general")
    return g.build()


def customer(params: dict[str, object]) -> dict[str, object]:
    if params.get("caller") == "5550100" or params.get("account") == "777":
        return {"name": "Ann"}
    return {}


def test_identify_by_caller_id() -> None:
    shell = Shell(identify_graph(), caller="5550100")
    shell.service.register("customer", customer)
    shell.start()
    assert shell.data()["customer_name"] == "Ann"
    assert shell.finished is not None
    assert shell.finished.path == ("who", "who.caller", "known")


def test_identify_falls_back_to_the_account_number() -> None:
    shell = Shell(identify_graph(), caller="5559999")
    shell.service.register("customer", customer)
    assert shell.start()[-1] == Play(("en/enter-account",), True, 1)
    shell.press("123")
    assert shell.playing == Play(("en/wrong-account",), True, 2)
    shell.play_ends()
    shell.press("777")
    assert shell.data() == {
        "who_attempts": 1,
        "account": "777",
        "customer_name": "Ann",
    }
    assert shell.finished is not None and shell.finished.node == "known"


def test_identify_gives_up_after_the_attempts() -> None:
    shell = Shell(identify_graph(), caller="")
    shell.service.register("customer", customer)
    shell.start()
    shell.press("123")
    shell.play_ends()
    shell.press("12")
    shell.wait(5)  # too short, then the inter-digit timeout: the second wrong attempt
    assert shell.finished is not None
    assert shell.finished.node == "stranger"
    assert shell.data()["who_attempts"] == 2


def test_identify_needs_a_failed_branch() -> None:
    g = Graph("t", start="who")
    g.identify("who", source="python", name="customer", by="caller", next="end")
    g.hangup("end")
    with pytest.raises(IvrGraphError, match="node 'who': failed is missing"):
        g.build()
