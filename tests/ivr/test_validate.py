"""Graph validation: every kind of mistake is one exact sentence naming the node."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pbx.ivr import Graph, IvrGraph, IvrGraphError
from pbx.ivr.nodes import PlayNode


def base(**menu: object) -> Graph:
    """welcome → menu → (1: sales queue); no input → hang up."""
    g = Graph("main", start="welcome")
    g.play("welcome", "en/welcome", next="menu")
    options = menu.pop("options", {"1": "sales"})
    g.menu("menu", "en/menu", options=options, no_input="bye", **menu)  # type: ignore[arg-type]
    g.queue("sales", "sales")
    g.hangup("bye")
    return g


def problems(g: Graph, prompt_exists: Callable[[str], bool] | None = None) -> list[str]:
    with pytest.raises(IvrGraphError) as info:
        g.build(prompt_exists=prompt_exists)
    assert str(info.value) == "; ".join(info.value.problems)
    return info.value.problems


def test_a_good_graph_builds() -> None:
    graph = base().build(prompt_exists=lambda name: name.startswith("en/"))
    assert isinstance(graph, IvrGraph)
    assert [n.id for n in graph.nodes] == ["bye", "menu", "sales", "welcome"]


def test_option_to_an_unknown_node() -> None:
    g = base(options={"1": "sales", "3": "balnce"})
    assert problems(g) == ["node 'menu': option '3' goes to unknown node 'balnce'"]


def test_unknown_start_node() -> None:
    g = Graph("main", start="welcom")
    g.hangup("welcome")
    assert problems(g) == ["graph 'main': start node 'welcom' does not exist"]


def test_unreachable_node() -> None:
    g = base()
    g.play("orphan", "en/orphan", next="menu")
    assert problems(g) == ["node 'orphan': unreachable from the start node 'welcome'"]


def test_node_without_exit() -> None:
    g = Graph("main", start="welcome")
    g.play("welcome", "en/welcome")
    assert problems(g) == ["node 'welcome': next is missing"]


def test_menu_without_no_input_branch() -> None:
    g = Graph("main", start="menu")
    g.menu("menu", "en/menu", options={"1": "sales"})
    g.queue("sales", "sales")
    assert problems(g) == ["node 'menu': no_input is missing"]


def test_terminal_nodes_need_no_exit() -> None:
    for add in (
        lambda g: g.queue("end", "sales"),
        lambda g: g.transfer("end", "operator"),
        lambda g: g.voicemail("end", "100"),
        lambda g: g.hangup("end"),
    ):
        g = Graph("main", start="end")
        add(g)
        assert g.build().start == "end"


def test_loop_that_takes_no_input() -> None:
    g = Graph("main", start="check")
    g.branch("check", conditions=[("vip == true", "mark")], default="end")
    g.set("mark", values={"seen": True}, next="check")
    g.hangup("end")
    assert problems(g) == ["node 'check': loop that takes no input (check -> mark -> check)"]


def test_self_loop_that_takes_no_input() -> None:
    g = Graph("main", start="again")
    g.set("again", increment=["n"], next="again")
    assert problems(g) == ["node 'again': loop that takes no input (again -> again)"]


def test_loop_through_a_prompt_or_menu_is_fine() -> None:
    g = Graph("main", start="check")
    g.branch("check", conditions=[("n < 3", "count")], default="end")
    g.set("count", increment=["n"], next="say")
    g.play("say", "en/again", next="check")
    g.hangup("end")
    assert g.build().start == "check"


def test_missing_prompt() -> None:
    g = base()
    assert problems(g, prompt_exists=lambda name: name != "en/menu") == [
        "node 'menu': prompt 'en/menu' does not exist"
    ]


def test_missing_prompt_in_one_language() -> None:
    g = Graph("main", start="welcome", languages=("en", "ru"))
    g.play("welcome", "{lang}/welcome", next="bye")
    g.hangup("bye")
    assert problems(g, prompt_exists=lambda name: name == "en/welcome") == [
        "node 'welcome': prompt 'ru/welcome' does not exist"
    ]


def test_missing_number_fragment_of_a_say_node() -> None:
    g = Graph("main", start="say", languages=("ru",))
    g.say("say", "amount", "balance", next="bye")
    g.hangup("bye")
    assert problems(g, prompt_exists=lambda name: name != "ru/digits/1f") == [
        "node 'say': prompt 'ru/digits/1f' does not exist"
    ]


def test_key_that_is_not_dtmf() -> None:
    g = base(options={"1": "sales", "x1": "sales"})
    assert problems(g) == ["node 'menu': option 'x1' is not a DTMF key"]


def test_bad_regular_expression() -> None:
    g = Graph("main", start="pin")
    g.collect("pin", "en/pin", var="pin", pattern="[0-9", next="bye", no_input="bye")
    g.hangup("bye")
    assert problems(g) == [
        "node 'pin': pattern '[0-9' is not a valid regular expression: "
        "unterminated character set at position 0"
    ]


def test_bad_lengths_and_terminator() -> None:
    g = Graph("main", start="pin")
    g.collect(
        "pin", "en/pin", var="pin", min_length=5, max_length=4, terminator="x", no_input="bye"
    )
    g.hangup("bye")
    assert problems(g) == [
        "node 'pin': next is missing",
        "node 'pin': lengths 5..4 are not a range",
        "node 'pin': terminator 'x' is not a DTMF key",
    ]


def test_bad_expression() -> None:
    g = Graph("main", start="check")
    g.branch("check", conditions=[("balance >", "end")], default="end")
    g.hangup("end")
    assert problems(g) == [
        "node 'check': condition 1 'balance >' is not a valid expression: "
        "expected a value at the end"
    ]


def test_expression_with_a_call_is_rejected() -> None:
    g = Graph("main", start="check")
    g.branch("check", conditions=[("__import__('os')", "end")], default="end")
    g.hangup("end")
    assert problems(g) == [
        "node 'check': condition 1 '__import__('os')' is not a valid expression: "
        "function calls are not allowed ('__import__' at column 1)"
    ]


def test_bad_time_specs() -> None:
    g = Graph("main", start="hours")
    g.time("hours", tz="Mars/Olympus", hours={"mon": "09:00-17:00"}, open="end", closed="end")
    g.time("h2", tz="UTC", hours={"mon": "9-17"}, open="end", closed="end")
    g.time("h3", tz="UTC", hours={"funday": "09:00-17:00"}, open="end", closed="end")
    g.time("h4", tz="UTC", hours={}, holidays=["2024-13-01"], open="end", closed="end")
    g.time("h5", tz="UTC", hours={"tue": "17:00-09:00"}, open="end", closed="end")
    g.hangup("end")
    assert problems(g)[:5] == [
        "node 'hours': unknown time zone 'Mars/Olympus'",
        "node 'h2': hours of 'mon': '9-17' is not HH:MM-HH:MM",
        "node 'h3': unknown weekday 'funday' (expected one of mon … sun)",
        "node 'h4': holiday '2024-13-01' is not a date (YYYY-MM-DD or MM-DD)",
        "node 'h5': hours of 'tue': '17:00-09:00' ends before it starts",
    ]


def test_bad_lookup_and_transfer() -> None:
    g = Graph("main", start="find")
    g.lookup("find", source="ldap", name="x", next="sql", error="end")
    g.lookup("sql", source="sql", name="crm", next="web", error="end")
    g.lookup("web", source="http", name="ftp://x", next="xfer", error="end")
    g.transfer("xfer", "agent")
    g.hangup("end")
    assert problems(g) == [
        "node 'find': unknown lookup source 'ldap' (expected one of python, http, sql)",
        "node 'sql': an sql lookup needs a query",
        "node 'web': 'ftp://x' is not an http(s) URL",
        "node 'xfer': a transfer to agent needs a target",
    ]


def test_lookup_without_error_branch() -> None:
    g = Graph("main", start="find")
    g.lookup("find", source="python", name="crm", next="end")
    g.hangup("end")
    assert problems(g) == ["node 'find': error is missing"]


def test_bad_prompt_item_and_duplicate_node() -> None:
    g = Graph("main", start="welcome")
    g.play("welcome", ["en/welcome", "tone:bleep"], next="bye")
    g.hangup("bye")
    g.hangup("bye")
    assert problems(g) == [
        "node 'welcome': prompt item 'tone:bleep': tone 'bleep' is not defined for "
        "country 'us' (defined: dial, ringback, busy, congestion, call_waiting, beep)",
        "node 'bye': defined twice",
    ]


def test_every_problem_is_reported_at_once() -> None:
    g = base(options={"1": "sales", "3": "balnce", "x": "sales"}, retries=0)
    assert problems(g) == [
        "node 'menu': option '3' goes to unknown node 'balnce'",
        "node 'menu': option 'x' is not a DTMF key",
        "node 'menu': retries must be at least 1 (got 0)",
    ]


def test_a_graph_cannot_be_frozen_without_validation() -> None:
    with pytest.raises(IvrGraphError, match="node 'a': next goes to unknown node 'b'"):
        IvrGraph("main", "a", ("en",), (PlayNode("a", ("en/x",), "b"),))
