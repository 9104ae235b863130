"""``record = true`` on a dial-plan route: bridged calls recorded in stereo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
import soundfile as sf

from pbx.calls.dialplan import dialplan_from_config, parse_route
from pbx.config import AppConfig, load_config
from pbx.errors import ConfigError
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, longest_tone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
RECORDED = {"number": "4001", "target": "extension", "extension": "2001", "record": True}


@pytest.fixture
def pbx_config() -> AppConfig:
    config = load_config(EXAMPLE)
    return attrs.evolve(config, dialplan=(parse_route(RECORDED, "test"), *config.dialplan))


def test_a_recorded_route_to_an_extension_records_caller_left_callee_right(
    pbx_harness: Harness,
) -> None:
    h = pbx_harness
    phone = h.agent("2001", audio=Tone(660), answer_after=0.1)
    caller = h.call("4001", caller_id="5550401", audio=Tone(440))
    phone.wait_connected()
    caller.wait_answered()
    caller.assert_heard_tone(660, min_seconds=1.0)
    phone.assert_heard_tone(440, min_seconds=1.0)
    caller.hang_up()
    phone.wait_ended()
    cdr = caller.cdr()
    assert cdr["disposition"] == "answered"
    path = Path(cdr["recording"])
    assert path.is_file() and path.is_relative_to(h.tmp_path)
    h.wait_for(lambda: path.stat().st_size > 44, what="the recording to be written")
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and samples.shape[1] == 2
    left, right = frames_of(samples[:, 0].copy()), frames_of(samples[:, 1].copy())
    assert longest_tone(left, 440)[0] >= 1.0 and longest_tone(right, 660)[0] >= 1.0
    assert longest_tone(left, 660)[0] == 0.0 and longest_tone(right, 440)[0] == 0.0


def test_an_unrecorded_extension_route_writes_no_recording(pbx_harness: Harness) -> None:
    h = pbx_harness
    h.agent("2002", audio=Tone(660), answer_after=0.1)
    caller = h.call("2002", caller_id="5550402", audio=Tone(440))
    caller.wait_answered()
    caller.assert_heard_tone(660, min_seconds=0.3)
    caller.hang_up()
    assert caller.cdr()["recording"] is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**RECORDED, "record": "yes"}, r"dialplan\[0\]\.record: expected true or false"),
        (
            {"number": "600", "target": "echo", "record": True},
            r"dialplan\[0\]\.record: only extension and trunk targets",
        ),
    ],
)
def test_a_bad_record_setting_names_the_route(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dialplan_from_config([entry], "cc.toml")
