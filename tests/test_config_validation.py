"""The configuration is typed and checked at load: every cross-reference, one line each.

Each bad configuration is the example's with one change, written beside a copy of the
example's IVR and its prompts; the error names the file, the key and the problem.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from pbx.acd.models import QueueConfig
from pbx.acd.models import Target as QueueTarget
from pbx.app import Application
from pbx.calls.dialplan import Route, parse_route
from pbx.config import AppConfig, IvrConfig, check_config, config_from_dict, load_config
from pbx.errors import ConfigError
from pbx.ivr.graph import Graph, IvrGraph

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXAMPLE = EXAMPLES / "callcenter.toml"
EXTENSIONS = "2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010, 2099"


def example_copy(
    tmp_path: Path,
    config: tuple[str, str] | None = None,
    ivr: tuple[str, str] | None = None,
    append: str = "",
) -> Path:
    """The example in ``tmp_path`` with ``old`` replaced by ``new`` (once) in its
    configuration or its IVR file, and ``append`` added to the configuration."""
    (tmp_path / "prompts").symlink_to(EXAMPLES / "prompts")
    shutil.copytree(EXAMPLES / "ivr", tmp_path / "ivr")
    for path, change in ((EXAMPLE, config), (EXAMPLES / "ivr" / "main.toml", ivr)):
        text = path.read_text(encoding="utf-8")
        if change is not None:
            old, new = change
            assert old in text, old
            text = text.replace(old, new, 1)
        target = tmp_path / path.relative_to(EXAMPLES)
        target.write_text(text + (append if path == EXAMPLE else ""), encoding="utf-8")
    return tmp_path / "callcenter.toml"


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# ---------------------------------------------------------------------- the example


def test_the_example_loads_as_typed_values() -> None:
    config = load_config(EXAMPLE)
    assert all(isinstance(route, Route) for route in config.dialplan)
    assert len(config.dialplan) == 14
    room = config.conferences["main"]
    assert (room.pin, room.moderator_pin, room.max_members, room.record) == (
        "4321",
        "9876",
        50,
        True,
    )
    assert config.dialplan[5].target.kind == "queue"
    assert config.dialplan[5].target.name == "sales"
    assert set(config.queues) == {"sales", "support"}
    sales = config.queues["sales"]
    assert isinstance(sales, QueueConfig)
    assert sales.overflow == QueueTarget("queue", "support")
    assert sales.ring_timeout == 15 and sales.max_wait == 310
    assert isinstance(config.ivr["main"], IvrConfig)
    assert isinstance(config.ivr["main"].graph, IvrGraph)
    assert config.ivr["main"].graph.start == "welcome"
    assert config.ivr["main"].file == str(EXAMPLES / "ivr" / "main.toml")


# ---------------------------------------------------------------------- dial plan


def test_a_route_to_an_unknown_queue_names_the_route(tmp_path: Path) -> None:
    path = example_copy(
        tmp_path, ('target = "queue"\nqueue = "sales"', 'target = "queue"\nqueue = "nope"')
    )
    assert refusal(path) == (
        f"{path}: dialplan[5].target: unknown queue 'nope' (queues: sales, support)"
    )


def test_a_route_to_an_unknown_ivr_names_the_route(tmp_path: Path) -> None:
    path = example_copy(
        tmp_path, ('target = "ivr"\nname = "main"', 'target = "ivr"\nname = "mian"')
    )
    assert refusal(path) == f"{path}: dialplan[3].target: unknown IVR 'mian' (IVRs: main, reminder)"


def test_a_route_to_an_unknown_prompt_names_the_route(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('prompt = "test-tone"', 'prompt = "test-tonee"'))
    assert refusal(path) == (
        f"{path}: dialplan[1].target: unknown prompt 'test-tonee'"
        f" (not in the prompts directory '{tmp_path / 'prompts'}')"
    )


def test_a_route_to_an_unknown_trunk_names_the_route(tmp_path: Path) -> None:
    out = '[[dialplan]]\nnumber = "9*"\nfrom = "user"\ntarget = "trunk"\ntrunk = "carrier"\n'
    path = example_copy(tmp_path, append=f"\n{out}")
    assert refusal(path) == f"{path}: dialplan[14].target: unknown trunk 'carrier' (trunks: sim)"


def test_a_route_from_an_unknown_trunk_names_the_key(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('number = "200"\n', 'number = "200"\ntrunk = "carrier"\n'))
    assert (
        refusal(path) == f"{path}: dialplan[5].trunk: unknown trunk 'carrier' (trunks: local, sim)"
    )


def test_a_route_to_an_unknown_extension_names_the_route(tmp_path: Path) -> None:
    route = '\n[[dialplan]]\nnumber = "4001"\ntarget = "extension"\nextension = "2999"\n'
    path = example_copy(tmp_path, append=route)
    assert refusal(path) == (
        f"{path}: dialplan[14].target: unknown extension '2999' (extensions: {EXTENSIONS})"
    )


def test_a_voicemail_route_to_a_mailbox_outside_the_directory_is_refused(
    tmp_path: Path,
) -> None:
    path = example_copy(tmp_path, ('mailbox = "800"', 'mailbox = "../800"'))
    assert refusal(path) == (
        f"{path}: dialplan[2].target: mailbox '../800' must be letters, digits, '.', '-' or '_'"
    )


# ---------------------------------------------------------------------- queues and agents


def test_an_overflow_to_an_unknown_queue_names_the_queue(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('overflow = "queue:support"', 'overflow = "queue:suport"'))
    assert refusal(path) == (
        f"{path}: queues.sales.overflow: unknown queue 'suport' (queues: sales, support)"
    )


@pytest.mark.parametrize(
    ("overflow", "problem"),
    [
        ("ivr:menu", "unknown IVR 'menu' (IVRs: main, reminder)"),
        ("number:2999", f"unknown extension '2999' (extensions: {EXTENSIONS})"),
        ("queue:sales", "the queue 'sales' cannot overflow to itself"),
        (
            "support",
            "expected KIND:NAME (queue:support, ivr:main, voicemail:800, number:2001),"
            " got 'support'",
        ),
    ],
)
def test_a_bad_overflow_target_names_the_queue(tmp_path: Path, overflow: str, problem: str) -> None:
    path = example_copy(tmp_path, ('overflow = "queue:support"', f'overflow = "{overflow}"'))
    assert refusal(path) == f"{path}: queues.sales.overflow: {problem}"


def test_an_exit_key_to_an_unknown_ivr_names_the_key(tmp_path: Path) -> None:
    path = example_copy(tmp_path, append='exit_keys = { "0" = "ivr:menu" }\n')
    assert (
        refusal(path)
        == f"{path}: queues.support.exit_keys.0: unknown IVR 'menu' (IVRs: main, reminder)"
    )


def test_an_agent_in_an_unknown_queue_names_the_agent(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('queues = ["sales"]', 'queues = ["sale"]'))
    assert refusal(path) == (
        f"{path}: agents.2001.queues: unknown queue 'sale' (queues: sales, support)"
    )


def test_an_unknown_strategy_is_refused_at_load(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('strategy = "skills"', 'strategy = "skilz"'))
    assert refusal(path) == (
        f"{path}: queues.support.strategy: unknown strategy 'skilz' (strategies: least_calls,"
        " least_talk, linear, longest_idle, random, ring_all, round_robin, skills;"
        ' add [strategies] NAME = "module:attr")'
    )


def test_the_device_grace_period_is_read_and_checked(tmp_path: Path) -> None:
    assert load_config(EXAMPLE).device_grace == 60
    path = example_copy(tmp_path, ("device_grace = 60", "device_grace = -1"))
    assert refusal(path) == f"{path}: calls.device_grace: must be 0 or more seconds"


def test_a_misspelt_queue_key_is_refused(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ("wrap_up = 5", "wrapup = 5"))
    assert refusal(path) == f"{path}: queues.sales.wrapup: unknown key"


# ---------------------------------------------------------------------- IVR graphs


def test_a_missing_ivr_file_names_the_ivr(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('file = "ivr/main.toml"', 'file = "ivr/menu.toml"'))
    assert (
        refusal(path) == f"{path}: ivr.main.file: no such file '{tmp_path / 'ivr' / 'menu.toml'}'"
    )


def test_an_ivr_graph_error_names_the_ivr_file_and_node(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ivr=('no_input = "support"', 'no_input = "suport"'))
    assert refusal(path) == (
        f"{path}: ivr.main: file '{tmp_path / 'ivr' / 'main.toml'}': node 'menu':"
        " no_input goes to unknown node 'suport'"
    )


def test_an_ivr_node_to_an_unknown_queue_names_the_node(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ivr=('queue = "sales"', 'queue = "salez"'))
    assert refusal(path) == (
        f"{path}: ivr.main: file '{tmp_path / 'ivr' / 'main.toml'}': node 'sales_queue':"
        " unknown queue 'salez' (queues: sales, support)"
    )


def test_an_ivr_prompt_missing_from_the_prompts_directory_names_the_node(
    tmp_path: Path,
) -> None:
    path = example_copy(tmp_path, ivr=("{lang}/welcome", "{lang}/welcom"))
    ivr_file = tmp_path / "ivr" / "main.toml"
    assert refusal(path) == (
        f"{path}: ivr.main: file '{ivr_file}': node 'welcome': prompt 'en/welcom' does not"
        " exist; node 'welcome': prompt 'ru/welcom' does not exist"
    )


def test_an_ivr_transfer_to_an_unknown_extension_names_the_node(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ivr=('to = "operator"', 'to = "extension"\ntarget = "2999"'))
    assert refusal(path) == (
        f"{path}: ivr.main: file '{tmp_path / 'ivr' / 'main.toml'}': node 'operator':"
        f" unknown extension '2999' (extensions: {EXTENSIONS})"
    )


# ---------------------------------------------------------------------- prompts


def test_a_missing_prompts_directory_is_refused(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('dir = "prompts"', 'dir = "promptz"'))
    assert refusal(path) == f"{path}: prompts.dir: no such directory '{tmp_path / 'promptz'}'"


def test_a_play_route_without_a_prompts_directory_is_refused() -> None:
    data = {"dialplan": [{"number": "700", "target": "play", "prompt": "test-tone"}]}
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, "cc.toml")
    assert str(info.value) == (
        "cc.toml: dialplan[0].target: cannot play prompt 'test-tone': no prompts directory"
        " is configured (prompts.dir)"
    )


def test_a_graph_with_prompts_needs_a_prompts_directory() -> None:
    graph = Graph("menu", "hello")
    graph.play("hello", "en/welcome", next="bye")
    graph.hangup("bye")
    config = AppConfig(ivr={"menu": IvrConfig(graph.build())}, source="cc.toml")
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert str(info.value) == (
        "cc.toml: ivr.menu: the graph plays prompts, but no prompts directory is configured"
        " (prompts.dir)"
    )


# ---------------------------------------------------------------------- the application


def test_the_application_refuses_a_bad_config_before_opening_anything(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    bad = parse_route({"number": "555", "target": "queue", "queue": "nope"}, "test")
    config = attrs.evolve(
        config,
        dialplan=(*config.dialplan, bad),
        store_path=str(tmp_path / "cc.db"),
    )
    with pytest.raises(ConfigError) as info:
        Application(config)
    assert str(info.value) == (
        f"{EXAMPLE}: dialplan[14].target: unknown queue 'nope' (queues: sales, support)"
    )
    assert not (tmp_path / "cc.db").exists()


# ---------------------------------------------------------------------- the command line


def pbx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pbx", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pbx_check_passes_the_example() -> None:
    done = pbx("check", "examples/callcenter.toml", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "examples/callcenter.toml: ok (11 users, 2 queues, 14 routes, 2 IVR graphs, 1 trunk,"
        " 3 campaigns, 1 conference room)\n"
    )
    assert done.stderr == ""


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_bad_config_is_one_line_and_status_2(tmp_path: Path, command: str) -> None:
    example_copy(
        tmp_path, ('target = "queue"\nqueue = "sales"', 'target = "queue"\nqueue = "nope"')
    )
    extra = ["--sip", "127.0.0.1:0"] if command == "run" else []
    done = pbx(command, "callcenter.toml", *extra, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "pbx: callcenter.toml: dialplan[5].target: unknown queue 'nope' (queues: sales, support)\n"
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "callcenter.db").exists()


def test_pbx_run_refuses_what_the_application_finds_at_construction(tmp_path: Path) -> None:
    path = example_copy(tmp_path)
    (tmp_path / "prompts").unlink()
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "prompts" / "broken.wav").write_bytes(b"not a sound file")
    done = pbx("run", path.name, "--sip", "127.0.0.1:0", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "pbx: callcenter.toml: prompts.dir: prompt file 'prompts/broken.wav' cannot be read:"
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "callcenter.db").exists()


def test_a_callbacks_trunk_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    path = example_copy(tmp_path, ('trunk = "sim"\ncaller_id', 'trunk = "pstn"\ncaller_id'))
    assert refusal(path) == f"{path}: callbacks.trunk: unknown trunk 'pstn' (trunks: sim)"


def test_a_callback_slot_that_is_not_a_time_names_the_node_and_key(tmp_path: Path) -> None:
    slots = 'number = "caller"\nslots = { "1" = "+2h", "2" = "evening" }\n'
    path = example_copy(tmp_path, ivr=('number = "caller"\n', slots))
    problem = refusal(path)
    assert "node 'callback'" in problem and "slots.2" in problem, problem
    assert "'evening' is not a time" in problem, problem
