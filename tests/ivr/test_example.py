"""The example call center's IVR (DIDs 100/101) on scripted calls: every menu path."""

from __future__ import annotations

import pytest

from pbx.ivr import (
    Enqueue,
    Finished,
    Hangup,
    IvrGraph,
    Lookup,
    Play,
    RequestCallback,
    SetData,
    StopPlayback,
    Transfer,
    Voicemail,
)
from tests.ivr.helpers import Shell, example_graph


@pytest.fixture(scope="module")
def graph() -> IvrGraph:
    return example_graph()


def at_menu(graph: IvrGraph, lang: str = "en", **kw: object) -> Shell:
    shell = Shell(graph, lang=lang, **kw)  # type: ignore[arg-type]
    assert shell.start() == [Play((f"{lang}/welcome",), True, 1)]
    assert shell.play_ends() == [Play((f"{lang}/menu",), True, 2)]
    return shell


def test_key_1_goes_to_the_sales_queue(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.press("1") == [
        StopPlayback(),
        SetData("menu", "1"),
        Play(("en/transfer-sales",), True, 3),
    ]
    assert shell.play_ends() == [
        Enqueue("sales", 0, {"sales": 1}),
        Finished("queue", "sales_queue", ("welcome", "menu", "sales", "sales_queue")),
    ]
    assert shell.runner.get_timer() is None


def test_key_2_goes_to_support_with_english_skills(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    shell.press("2")
    assert shell.play_ends() == [
        Enqueue("support", 0, {"support": 1}),
        Finished(
            "queue",
            "support_queue",
            ("welcome", "menu", "support", "support_route", "support_queue"),
        ),
    ]


def test_russian_did_needs_the_russian_skill_in_support(graph: IvrGraph) -> None:
    shell = at_menu(graph, lang="ru")
    assert shell.press("2")[-1] == Play(("ru/transfer-support",), True, 3)
    assert shell.play_ends()[0] == Enqueue("support", 0, {"support": 1, "russian": 1})
    assert shell.finished is not None and shell.finished.node == "support_queue_ru"


def test_key_3_with_the_right_pin_reads_the_balance_back(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.press("3") == [
        StopPlayback(),
        SetData("menu", "3"),
        SetData("balance_attempts", 0),
        Play(("en/enter-pin",), True, 3),
    ]
    shell.press("123")
    assert shell.press("4") == [
        Lookup("python", "demo_balance", {"pin": "1234"}, 5.0, "", 1),
        SetData("balance", "42.50"),
        Play(("en/your-balance-is",), True, 4),
    ]
    assert shell.data()["balance"] == "42.50"
    assert "pin" not in shell.data()  # a secret entry never reaches the call data
    assert shell.runner.variables["pin"] == "1234"
    assert shell.play_ends() == [
        Play(
            ("en/digits/40", "en/digits/2", "en/dollars", "en/digits/50", "en/cents"),
            True,
            5,
        )
    ]
    assert shell.play_ends() == [Play(("en/menu",), True, 6)]
    assert shell.runner.path == [
        "welcome",
        "menu",
        "balance",
        "balance.enter",
        "balance.check",
        "balance_intro",
        "balance_amount",
        "menu",
    ]


def test_balance_lookup_action_carries_the_pin(graph: IvrGraph) -> None:
    shell = at_menu(graph, lookups=False)
    shell.press("31234")
    (lookup,) = shell.pending
    assert (lookup.kind, lookup.name, dict(lookup.params), lookup.timeout) == (
        "python",
        "demo_balance",
        {"pin": "1234"},
        5.0,
    )
    assert shell.runner.get_timer() == shell.now + 5.0


def test_balance_in_russian_uses_plural_forms(graph: IvrGraph) -> None:
    shell = at_menu(graph, lang="ru")
    shell.press("31234")
    shell.play_ends()  # your-balance-is
    assert shell.playing is not None
    assert shell.playing.items == (
        "ru/digits/40",
        "ru/digits/2",
        "ru/roubles-i",
        "ru/digits/50",
        "ru/kopecks",
    )


def test_key_3_with_a_wrong_pin_retries_then_succeeds(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    shell.press("3")
    out = shell.press("9999")
    assert out[-1] == Play(("en/wrong-pin",), True, 4)
    assert shell.data()["balance_attempts"] == 1
    assert shell.play_ends() == [Play(("en/enter-pin",), True, 5)]
    shell.press("1234")
    assert shell.data()["balance"] == "42.50"
    assert shell.playing is not None and shell.playing.items == ("en/your-balance-is",)


def test_three_wrong_pins_go_to_support(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    shell.press("3")
    for attempt in (1, 2):
        shell.press("0000")
        assert shell.data()["balance_attempts"] == attempt
        shell.play_ends()  # wrong-pin, then enter-pin again
    out = shell.press("0000")
    assert shell.data()["balance_attempts"] == 3
    assert out[-1] == Play(("en/transfer-support",), True, 8)
    shell.play_ends()
    assert shell.finished is not None
    assert shell.finished.node == "support_queue"
    assert shell.finished.path.count("balance.check") == 3


def test_key_8_requests_a_callback_to_the_caller_id(graph: IvrGraph) -> None:
    shell = at_menu(graph, caller="5550100")
    out = shell.press("8")
    assert out == [
        StopPlayback(),
        SetData("menu", "8"),
        SetData("callback_number", "5550100"),
        SetData("callback_slot", ""),
        RequestCallback("5550100", ""),
        Play(("en/callback-requested", "en/goodbye"), False, 3),
    ]
    assert shell.press("5") == []  # not interruptible
    assert shell.play_ends() == [
        Hangup(),
        Finished(
            "completed", "goodbye", ("welcome", "menu", "callback", "callback_done", "goodbye")
        ),
    ]


def test_key_9_leaves_a_voicemail(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.press("9")[-2:] == [
        Voicemail("100"),
        Finished("voicemail", "voicemail", ("welcome", "menu", "voicemail")),
    ]


def test_key_0_rings_the_operator(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.press("0")[-2:] == [
        Transfer("operator", ""),
        Finished("transfer", "operator", ("welcome", "menu", "operator")),
    ]


def test_no_input_three_times_goes_to_support(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.play_ends() == []
    assert shell.runner.get_timer() == shell.now + 5.0
    assert shell.wait(4.9) == []
    assert shell.wait(0.1) == [Play(("en/no-input", "en/menu"), True, 3)]
    shell.play_ends()
    assert shell.wait(5.0) == [Play(("en/no-input", "en/menu"), True, 4)]
    shell.play_ends()
    assert shell.wait(5.0) == [Play(("en/transfer-support",), True, 5)]
    shell.play_ends()
    assert shell.finished is not None
    assert shell.finished.path == (
        "welcome",
        "menu",
        "support",
        "support_route",
        "support_queue",
    )
    assert "menu" not in shell.data()


def test_invalid_key_replays_the_menu_with_the_invalid_prompt(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    assert shell.press("7") == [StopPlayback(), Play(("en/invalid", "en/menu"), True, 3)]
    assert shell.press("1")[-1] == Play(("en/transfer-sales",), True, 4)


def test_three_invalid_keys_go_to_support(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    shell.press("7")
    shell.press("#")
    assert shell.press("5")[-1] == Play(("en/transfer-support",), True, 5)


def test_a_key_during_the_welcome_selects_the_menu_option(graph: IvrGraph) -> None:
    shell = Shell(graph)
    shell.start()
    assert shell.press("1") == [
        StopPlayback(),
        SetData("menu", "1"),
        Play(("en/transfer-sales",), True, 2),
    ]
    assert "en/menu" not in [i for items in shell.played() for i in items]


def test_keys_pressed_without_waiting_for_prompts_stop_each_prompt(graph: IvrGraph) -> None:
    shell = Shell(graph)
    shell.start()
    shell.press("31234")
    assert shell.data()["balance"] == "42.50"
    assert shell.played() == [("en/welcome",), ("en/enter-pin",), ("en/your-balance-is",)]
    assert shell.of(StopPlayback) == [StopPlayback(), StopPlayback()]


def test_caller_hangs_up_during_the_pin_entry(graph: IvrGraph) -> None:
    shell = at_menu(graph)
    shell.press("312")
    assert shell.hang_up() == [
        Finished("hangup", "balance.enter", ("welcome", "menu", "balance", "balance.enter"))
    ]
    assert shell.runner.get_timer() is None
    assert shell.press("3") == []
    assert shell.wait(60) == []
