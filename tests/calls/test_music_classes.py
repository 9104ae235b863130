"""Hold music classes: ``[music.CLASS] dir`` and a queue's ``music_class``.

The class ``sales`` is a directory of two files, a 500 Hz one and a 900 Hz one: a
caller waiting in the sales queue hears them in name order, and when the agent later
puts them on hold the music goes on where it stopped instead of starting again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from attrs import evolve

from pbx.config import AppConfig, ConfigError, load_config
from pbx.testing import Harness, Tone
from pbx.testing.audio import frames_of, tone_share
from pbx.testing.tuning import fast_queues
from tests.test_config_validation import example_copy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.toml"
FIRST_HZ, SECOND_HZ = 500, 900


def tone_wav(path: Path, hz: float, seconds: float) -> Path:
    t = np.arange(int(8000 * seconds)) / 8000
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 8000)
    return path


def music_dir(root: Path) -> Path:
    directory = root / "music" / "sales"
    directory.mkdir(parents=True)
    tone_wav(directory / "02-second.wav", SECOND_HZ, 2.0)  # written first, played second
    tone_wav(directory / "01-first.wav", FIRST_HZ, 2.0)
    (directory / "notes.txt").write_text("not music")
    return directory


@pytest.fixture
def pbx_config(tmp_path: Path) -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    files = tuple(str(p) for p in sorted(music_dir(tmp_path).glob("*.wav")))
    queues = dict(config.queues)
    queues["sales"] = evolve(queues["sales"], music_class="sales")
    return evolve(config, music={"sales": files}, queues=queues)


def test_a_queue_plays_its_class_in_order_and_hold_resumes_it(pbx_harness: Harness) -> None:
    h = pbx_harness
    agent = h.agent("2001", audio=Tone(660), answer_after=0.1)
    caller = h.call("200", caller_id="5550901", audio=Tone(440, level_dbov=-30))
    caller.wait_answered()
    first = caller.assert_heard_tone(FIRST_HZ, min_seconds=1.5, timeout=5)
    second = caller.assert_heard_tone(SECOND_HZ, min_seconds=0.2, since=first, timeout=5)
    assert second - first == pytest.approx(2.0, abs=0.3)  # the first file, whole, then the next

    # An agent takes the call a moment into the second file ...
    h.login("2001")
    agent.wait_connected()
    caller.assert_heard_tone(660, min_seconds=0.2)
    [call] = [c for c in h.app.calls.calls.values() if c.queue == "sales"]
    assert call.music_class == "sales"
    # ... and puts the caller on hold: the second file goes on, the first does not restart.
    held = h.now()
    h.app.calls.hold(call.legs[0], h.app.sip.now())
    h.app.sip.flush()
    resumed = caller.assert_heard_tone(SECOND_HZ, min_seconds=0.2, since=held, timeout=3)
    assert resumed - held < 0.6
    # On hold the caller hears the music only, not the agent talking.
    frames = frames_of(np.asarray(caller.heard_timeline.since(resumed)))
    assert float(np.median(tone_share(frames, 660.0))) < 0.02
    # After the rest of the second file, the class starts over from its first file.
    caller.assert_heard_tone(FIRST_HZ, min_seconds=0.5, since=resumed, timeout=4)
    caller.hang_up()


def test_music_classes_are_checked_at_load(tmp_path: Path) -> None:
    strategy = 'strategy = "longest_idle"\n'
    for sub in "abcd":
        (tmp_path / sub).mkdir()
    unknown = example_copy(tmp_path / "a", (strategy, f'{strategy}music_class = "jazz"\n'))
    with pytest.raises(
        ConfigError, match=r"queues\.sales\.music_class: unknown music class 'jazz'"
    ):
        load_config(unknown)
    missing = example_copy(tmp_path / "b", append='\n[music.jazz]\ndir = "no-such-dir"\n')
    with pytest.raises(ConfigError, match=r"music\.jazz\.dir: no such directory"):
        load_config(missing)
    (tmp_path / "c" / "empty").mkdir()
    empty = example_copy(tmp_path / "c", append='\n[music.jazz]\ndir = "empty"\n')
    with pytest.raises(ConfigError, match=r"music\.jazz\.dir: no \.wav, \.flac or \.ogg file"):
        load_config(empty)
    music_dir(tmp_path / "d")
    good = example_copy(
        tmp_path / "d",
        (strategy, f'{strategy}music_class = "sales"\n'),
        append='\n[music.sales]\ndir = "music/sales"\n',
    )
    config = load_config(good)
    assert [Path(f).name for f in config.music["sales"]] == ["01-first.wav", "02-second.wav"]
    assert config.queues["sales"].music_class == "sales"
