"""The pytest plugin: its fixtures here, and in a test suite of its own in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pbx.config import AppConfig, config_from_dict
from pbx.testing import Harness, plugin

ROOT = Path(__file__).parents[2]

INNER_TESTS = """
from pbx.testing import Tone


def test_passes(pbx_harness):
    caller = pbx_harness.call("123", audio=Tone(500))
    caller.wait_answered()
    caller.assert_heard_tone(500, 0.1)
    assert pbx_harness.config.source.endswith("custom.toml")


def test_fails_with_a_call_up(pbx_harness):
    caller = pbx_harness.call("123")
    caller.wait_answered()
    assert caller.heard_energy() > 0, "the failure we expect"
"""


def run_suite(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_inner.py").write_text(INNER_TESTS)
    (directory / "custom.toml").write_text('[[dialplan]]\nnumber = "123"\ntarget = "echo"\n')
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ".", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_config_is_the_example_call_center(pbx_config: AppConfig) -> None:
    assert Path(pbx_config.source) == ROOT / "examples" / "callcenter.toml"
    assert pbx_config.user("2010") is not None


def test_suite_picks_its_config_from_the_ini_file_and_closes_after_a_failure(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\npbx_config = custom.toml\n")
    result = run_suite(tmp_path)
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert "the failure we expect" in result.stdout
    assert "error" not in result.stdout.splitlines()[-1]  # teardown closed cleanly


def test_suite_picks_its_config_from_the_command_line(tmp_path: Path) -> None:
    result = run_suite(tmp_path, "--pbx-config", "custom.toml", "-k", "passes")
    assert "1 passed" in result.stdout, result.stdout + result.stderr


class StubConfig:
    """The three things the plugin reads from ``pytest.Config``."""

    def __init__(self, rootpath: Path, option: str | None, ini: str | None) -> None:
        self.rootpath = rootpath
        self.option = option
        self.ini = ini

    def getoption(self, name: str) -> str | None:
        assert name == "pbx_config"
        return self.option

    def getini(self, name: str) -> str | None:
        assert name == "pbx_config"
        return self.ini


def test_command_line_wins_over_ini_over_the_default(tmp_path: Path) -> None:
    stub = StubConfig(tmp_path, "a.toml", "b.toml")
    assert plugin.config_path(stub) == tmp_path / "a.toml"
    stub.option = None
    assert plugin.config_path(stub) == tmp_path / "b.toml"
    stub.ini = None
    assert plugin.config_path(stub) == tmp_path / "examples" / "callcenter.toml"
    stub.option = "/abs/c.toml"
    assert plugin.config_path(stub) == Path("/abs/c.toml")


def test_a_missing_config_says_how_to_choose_one(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError) as info:
        plugin.load_pbx_config(StubConfig(tmp_path, None, None))
    assert str(info.value) == (
        f"pbx_config: {tmp_path}/examples/callcenter.toml does not exist; pass --pbx-config "
        "PATH, set pbx_config in the pytest ini options, or override the pbx_config fixture"
    )


class TestOverriddenConfig:
    """A suite's own ``pbx_config`` fixture replaces the default."""

    @pytest.fixture
    def pbx_config(self) -> AppConfig:
        return config_from_dict({"dialplan": [{"number": "42", "target": "echo"}]}, "inline")

    def test_harness_runs_the_overriding_config(self, pbx_harness: Harness) -> None:
        assert pbx_harness.config.source == "inline"
        pbx_harness.call("42").wait_answered()
        pbx_harness.call("600").wait_failed(404)
