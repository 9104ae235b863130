"""Code named by the configuration: custom ACD strategies and lookup functions/databases.

A module written for the test (on ``sys.path``) holds a strategy that offers the
highest extension first and a lookup function; the configuration names them as
``module:attr``. A sales caller rings 2002 before 2001 although 2001 has been idle
longer; the lookups answer from the function and from a SQLite file. Bad names are
refused at load with the key.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.errors import ConfigError
from pbx.ivr.actions import Lookup
from pbx.ivr.events import LookupResult
from pbx.testing import Harness
from tests.test_config_validation import example_copy

MODULE = '''
class HighestExtension:
    """Offer the ready agent with the highest extension first."""

    def key(self, agent, queue, skills, now):
        return (-int(agent.config.id),)


def crm(params):
    return {"tier": "gold" if params.get("caller") == "5550931" else "basic"}


not_callable = 42
'''

TABLES = """
[strategies]
highest = "pbx_test_plugins:HighestExtension"

[lookups.functions]
crm = "pbx_test_plugins:crm"

[lookups.databases]
accounts = "accounts.sqlite"
"""


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "code"
    root.mkdir()
    (root / "pbx_test_plugins.py").write_text(MODULE)
    sys.path.insert(0, str(root))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("pbx_test_plugins", None)


@pytest.fixture
def pbx_config(plugin_dir: Path) -> Path:
    strategy = 'strategy = "longest_idle"\n'
    (plugin_dir / "pbx").mkdir()
    db = sqlite3.connect(plugin_dir / "pbx" / "accounts.sqlite")
    db.execute("CREATE TABLE accounts (phone TEXT, balance REAL)")
    db.execute("INSERT INTO accounts VALUES ('5550931', 42.5)")
    db.commit()
    db.close()
    return example_copy(plugin_dir / "pbx", (strategy, 'strategy = "highest"\n'), append=TABLES)


def test_a_configured_strategy_chooses_the_agent(pbx_harness: Harness) -> None:
    h = pbx_harness
    assert h.app.config.queues["sales"].strategy == "highest"
    first = h.agent("2001", auto_answer=False)
    h.login("2001")
    h.sleep(0.3)  # 2001 has been idle the longest: longest_idle would offer 2001
    second = h.agent("2002", auto_answer=False)
    h.login("2002")
    caller = h.call("200", caller_id="5550931")
    second.wait_ringing()
    assert first.incoming is None
    caller.hang_up()


def test_configured_lookups_answer(pbx_harness: Harness) -> None:
    lookups = pbx_harness.app.lookups
    found = lookups.perform(Lookup("python", "crm", {"caller": "5550931"}, seq=1))
    assert found == LookupResult({"tier": "gold"}, 1)
    query = "SELECT balance FROM accounts WHERE phone = :caller"
    row = lookups.perform(Lookup("sql", "accounts", {"caller": "5550931"}, query=query, seq=2))
    assert row == LookupResult({"balance": 42.5}, 2)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[strategies]\nx = "no_such_module_here:X"\n', r"strategies\.x: cannot import"),
        ('[strategies]\nx = "pbx_test_plugins:Nope"\n', r"strategies\.x: .* no attribute"),
        ('[strategies]\nx = "pbx_test_plugins:crm"\n', r"strategies\.x: .*failed|no key"),
        ('[strategies]\nx = "pbx_test_plugins"\n', r"strategies\.x: expected 'module:attr"),
        ('[strategies]\nlinear = "pbx_test_plugins:HighestExtension"\n', r"built-in"),
        ('[lookups.functions]\nf = "pbx_test_plugins:not_callable"\n', r"not a function"),
        ('[lookups.databases]\nd = "missing.sqlite"\n', r"lookups\.databases\.d: no such"),
    ],
)
def test_bad_plugins_are_refused_at_load(plugin_dir: Path, table: str, problem: str) -> None:
    (plugin_dir / "bad").mkdir()
    path = example_copy(plugin_dir / "bad", append="\n" + table)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_an_unknown_strategy_names_how_to_add_one(plugin_dir: Path) -> None:
    (plugin_dir / "bad").mkdir()
    strategy = 'strategy = "longest_idle"\n'
    path = example_copy(plugin_dir / "bad", (strategy, 'strategy = "highest"\n'))
    with pytest.raises(ConfigError, match=r"queues\.sales\.strategy: unknown .*\[strategies\]"):
        load_config(path)
