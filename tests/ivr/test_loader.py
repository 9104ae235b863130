"""TOML graphs: the same graph as the Python builder, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.ivr import Graph, IvrGraph, IvrGraphError, file_prompt_exists, load_graph, loads_graph
from pbx.media.prompts import SilenceItem, ToneItem
from pbx.media.tones import tone
from tests.ivr.helpers import EXAMPLE, example_graph


def example_in_python() -> IvrGraph:
    """examples/ivr/main.toml, written with the builder."""
    g = Graph("main", start="welcome", languages=("en", "ru"))
    g.play("welcome", "{lang}/welcome", next="menu")
    g.menu(
        "menu",
        ["{lang}/menu"],
        options={
            "1": "sales",
            "2": "support",
            "3": "balance",
            "8": "callback",
            "9": "voicemail",
            "0": "operator",
        },
        timeout=5,
        retries=3,
        no_input="support",
        invalid="support",
        no_input_prompt="{lang}/no-input",
        invalid_prompt="{lang}/invalid",
    )
    g.play("sales", "{lang}/transfer-sales", next="sales_queue")
    g.queue("sales_queue", "sales", skills={"sales": 1})
    g.play("support", "{lang}/transfer-support", next="support_route")
    g.branch(
        "support_route",
        conditions=[("lang == 'ru'", "support_queue_ru")],
        default="support_queue",
    )
    g.queue("support_queue", "support", skills={"support": 1})
    g.queue("support_queue_ru", "support", skills={"support": 1, "russian": 1})
    g.identify(
        "balance",
        source="python",
        name="demo_balance",
        by="pin",
        prompt="{lang}/enter-pin",
        wrong_prompt="{lang}/wrong-pin",
        attempts=3,
        next="balance_intro",
        failed="support",
    )
    g.play("balance_intro", "{lang}/your-balance-is", next="balance_amount")
    g.say("balance_amount", "amount", "balance", next="menu")
    g.callback("callback", next="callback_done")
    g.play(
        "callback_done",
        ["{lang}/callback-requested", "{lang}/goodbye"],
        interruptible=False,
        next="goodbye",
    )
    g.hangup("goodbye")
    g.voicemail("voicemail", "100")
    g.transfer("operator", "operator")
    return g.build()


def test_toml_and_builder_produce_equal_graphs() -> None:
    from_toml = example_graph()
    from_python = example_in_python()
    assert from_toml == from_python
    assert from_toml.nodes == from_python.nodes


def test_example_prompts_exist_as_files() -> None:
    graph = example_graph()
    exists = file_prompt_exists(EXAMPLE.parent.parent / "prompts")
    graph.check_prompts(exists)  # raises if one is missing
    assert exists("en/digits/19") and exists("ru/digits/900") and exists("ru/kopecks-i")
    assert not exists("en/digits/900")


HEAD = """
[ivr]
name = "t"
start = "welcome"
"""


def problems(text: str, **kw: object) -> list[str]:
    with pytest.raises(IvrGraphError) as info:
        loads_graph(text, source="t.toml", **kw)  # type: ignore[arg-type]
    return info.value.problems


def test_validation_errors_name_the_file() -> None:
    text = (
        HEAD
        + """
[nodes.welcome]
kind = "menu"
prompt = "en/menu"
options = { "1" = "sales", "3" = "balnce" }
no_input = "sales"

[nodes.sales]
kind = "queue"
queue = "sales"
"""
    )
    assert problems(text) == [
        "file 't.toml': node 'welcome': option '3' goes to unknown node 'balnce'"
    ]


def test_unknown_kind_key_and_types() -> None:
    text = (
        HEAD
        + """
[nodes.welcome]
kind = "plya"
prompt = "en/welcome"

[nodes.menu]
kind = "menu"
prompt = "en/menu"
optoins = { "1" = "x" }
timeout = "5"

[nodes.bye]
prompt = "en/bye"
"""
    )
    assert problems(text) == [
        "file 't.toml': node 'welcome': unknown kind 'plya' (expected one of play, menu, "
        "collect, say, set, branch, lookup, identify, time, language, record, callback, "
        "queue, transfer, voicemail, hangup)",
        "file 't.toml': node 'menu': unknown key 'optoins'",
        "file 't.toml': node 'menu': 'timeout' must be a number",
        "file 't.toml': node 'menu': 'options' is missing",
        "file 't.toml': node 'bye': unknown kind '(missing)' (expected one of play, menu, "
        "collect, say, set, branch, lookup, identify, time, language, record, callback, "
        "queue, transfer, voicemail, hangup)",
    ]


def test_not_toml_and_missing_tables() -> None:
    assert problems("[ivr\n")[0].startswith("file 't.toml': not valid TOML: ")
    assert problems("[nodes.a]\nkind = 'hangup'\n") == ["file 't.toml': missing the [ivr] table"]
    assert problems("[ivr]\nname = 'x'\n[extra]\n") == [
        "file 't.toml': unknown table 'extra' (expected [ivr] and [nodes.<id>])",
        "file 't.toml': [ivr]: 'start' is missing",
    ]


def test_missing_prompt_files(tmp_path: Path) -> None:
    (tmp_path / "prompts" / "en").mkdir(parents=True)
    (tmp_path / "prompts" / "en" / "welcome.wav").write_bytes(b"RIFF")
    ivr = tmp_path / "ivr"
    ivr.mkdir()
    path = ivr / "t.toml"
    path.write_text(
        HEAD
        + """prompts = "../prompts"
[nodes.welcome]
kind = "play"
prompt = ["en/welcome", "en/menu", "tone:beep", "silence:0.5"]
next = "bye"

[nodes.bye]
kind = "hangup"
""",
        encoding="utf-8",
    )
    with pytest.raises(IvrGraphError) as info:
        load_graph(path)
    assert str(info.value) == (f"file '{path}': node 'welcome': prompt 'en/menu' does not exist")
    (tmp_path / "prompts" / "en" / "menu.flac").write_bytes(b"fLaC")
    graph = load_graph(path)
    assert graph.node("welcome").prompt == (  # type: ignore[union-attr]
        "en/welcome",
        "en/menu",
        ToneItem(tone("beep")),
        SilenceItem(0.5),
    )
    # A prompt_exists callback (the app's prompt cache) is asked as well.
    with pytest.raises(IvrGraphError, match="prompt 'en/welcome' does not exist"):
        load_graph(path, prompt_exists=lambda name: name != "en/welcome")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    with pytest.raises(IvrGraphError) as info:
        load_graph(path)
    assert str(info.value) == f"file '{path}': cannot be read: No such file or directory"


def test_every_kind_loads_from_toml() -> None:
    text = """
[ivr]
name = "all"
start = "lang"
languages = ["en", "ru"]

[nodes.lang]
kind = "language"
prompt = "{lang}/choose"
options = { "1" = "en", "2" = "ru" }
next = "hours"

[nodes.hours]
kind = "time"
tz = "Europe/Moscow"
hours = { mon = "09:00-18:00", sat = ["10:00-12:00"] }
holidays = ["01-01"]
open = "who"
closed = "message"

[nodes.who]
kind = "identify"
source = "sql"
name = "crm"
by = "caller_then_pin"
query = "SELECT name FROM customers WHERE phone = :caller OR account = :account"
var = "account"
min_length = 6
max_length = 8
next = "mark"
failed = "acct"

[nodes.mark]
kind = "set"
values = { identified = true, tier = "gold" }
exprs = { ru = "lang == 'ru'" }
increment = ["visits"]
next = "route"

[nodes.route]
kind = "branch"
conditions = [{ when = "tier == 'gold'", goto = "amount" }, { when = "ru", goto = "acct" }]
default = "web"

[nodes.amount]
kind = "say"
what = "number"
value = "visits"
gender = "f"
next = "acct"

[nodes.acct]
kind = "collect"
prompt = "{lang}/account"
var = "account"
min_length = 6
max_length = 8
pattern = "[0-9]+"
next = "web"
no_input = "message"

[nodes.web]
kind = "lookup"
source = "http"
name = "http://127.0.0.1:9/customer"
params = { account = "account" }
into = "crm_"
next = "cb"
not_found = "message"
error = "message"

[nodes.cb]
kind = "callback"
number = "enter"
slots = { "1" = "morning", "2" = "afternoon" }
next = "agent"

[nodes.agent]
kind = "transfer"
to = "agent"
target = "2001"

[nodes.message]
kind = "record"
prompt = "{lang}/leave-message"
max_seconds = 60
next = "ext"

[nodes.ext]
kind = "transfer"
to = "extension"
target = "2099"
"""
    graph = loads_graph(text)
    kinds = {n.id: n.kind for n in graph.nodes}
    assert kinds["who.enter"] == "collect" and kinds["who.caller"] == "lookup"
    assert sorted(set(kinds.values())) == [
        "branch",
        "callback",
        "collect",
        "language",
        "lookup",
        "play",
        "record",
        "say",
        "set",
        "time",
        "transfer",
    ]
