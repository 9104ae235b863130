"""A labelled answering-machine detection corpus: 8 kHz mono WAV files and ``labels.csv``.

No public labelled AMD data set exists, so this script makes one with ``espeak-ng``
(speech, English and Russian, many voices) and ``sox`` (resampling to 8 kHz and the
telephone band, 300–3400 Hz); numpy mixes in line noise, backgrounds, beeps and fax
tones.  Everything is seeded: the same seed gives the same files, and sample ``i`` of
a kind is the same whatever the counts (``--quick`` is a prefix of the full set).

Kinds (the ``truth`` column):

* ``human`` — a person answering: "Hello?", "Yes?", "Hello, who is this?", "Алло",
  "Да, слушаю", "Слушаю вас" ... after 0.3–1.5 s of silence, then waiting in
  silence; some say "Hello?" again after 2–3 s;
* ``machine`` — a greeting of 3–20 s in English or Russian, with a beep (400–1800 Hz,
  0.15–1 s, some with a harmonic) after it or not, some over music-like chords or a
  noise bed, some starting with "Hello?" and a pause as a person would;
* ``silence`` — an answered line that says nothing;
* ``fax`` — a fax machine: CNG (1100 Hz, 0.5 s on, 3 s off) or CED (2100 Hz, 2.6–4 s).

Every file has line noise (most quiet, some loud).  The times in the labels are
measured on the clean speech before noise (10 ms windows within 30 dB of the loudest,
gaps under 150 ms bridged): ``speech_start``, ``first_word_end`` (the end of the first
stretch of speech), ``speech_end`` (of the answer or greeting: a person's second
"Hello?" comes later); for machines ``beep_start``/``beep_end`` and
``greeting_end`` (the end of the beep, else of the speech).

Run: ``.venv/bin/python benchmarks/amd_corpus.py OUT_DIR [--quick] [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from attrs import asdict, define, field

RATE = 8000
Audio = npt.NDArray[np.float64]

#: How many files of each kind, full and ``--quick``.
FULL_COUNTS = {"human": 300, "machine": 300, "silence": 30, "fax": 30}
QUICK_COUNTS = {"human": 60, "machine": 60, "silence": 8, "fax": 8}
KINDS = ("human", "machine", "silence", "fax")

EN_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc")
RU_VOICES = ("ru", "ru-lv")
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "Andy", "Annie", "Denis", "linda", "steph", "max",
)  # fmt: skip
HUMAN_PHRASES = {
    "en": ("Hello?", "Yes?", "Hello, who is this?", "Hi.", "Yeah, hello?", "Speaking.",
           "Hello, this is Mark.", "Good morning."),
    "ru": ("Алло", "Да, слушаю", "Слушаю вас", "Да?", "Алло, кто это?", "Слушаю.",
           "Да, алло"),
}  # fmt: skip
REPEAT_PHRASE = {"en": "Hello?", "ru": "Алло?"}
GREETING_OPEN = {
    "en": ("Hi, you've reached {name}.", "Hello, this is {name}.", "Thank you for calling {name}.",
           "The person you are calling is not available.", "You have reached the voicemail of "
           "{number}.", "Sorry I missed your call."),
    "ru": ("Здравствуйте, вы позвонили {name}.", "Здравствуйте, это {name}.",
           "Абонент не может ответить на ваш звонок.", "Спасибо за звонок в {name}.",
           "Вы позвонили на номер {number}."),
}  # fmt: skip
GREETING_MIDDLE = {
    "en": ("I can't come to the phone right now.", "I'm either on the other line or away "
           "from my desk.", "Our office is closed. Our business hours are Monday to Friday, "
           "nine to five.", "If this is urgent, please call my mobile instead.",
           "I check my messages every day and will get back to you as soon as I can.",
           "For sales, press one. For support, press two."),
    "ru": ("Сейчас я не могу ответить на ваш звонок.", "Наш офис работает с понедельника по "
           "пятницу, с девяти до шести.", "Если дело срочное, позвоните на мобильный.",
           "Я обязательно перезвоню вам, как только смогу.",
           "К сожалению, сейчас никто не может подойти к телефону."),
}  # fmt: skip
GREETING_CLOSE = {
    "en": ("Please leave a message after the tone.", "Please leave your name, number and a "
           "short message, and I will call you back.", "Leave a message after the beep."),
    "ru": ("Пожалуйста, оставьте сообщение после звукового сигнала.",
           "Оставьте ваше имя и номер телефона, и я перезвоню вам.",
           "Говорите после сигнала."),
}  # fmt: skip
NAMES = {
    "en": ("John", "Sarah Miller", "the Johnson family", "Acme Dental", "Michael", "Emily"),
    "ru": ("Иван", "Ольга", "Сергей Петрович", "компанию Ромашка", "Анна"),
}
BEEP_HZ = (425.0, 440.0, 800.0, 850.0, 950.0, 1000.0, 1000.0, 1000.0, 1400.0, 1800.0)


@define
class Label:
    """One row of ``labels.csv`` (times in seconds from the answer; -1: not applicable)."""

    file: str
    truth: str
    #: A finer kind: phrase, repeat, greeting, greeting+beep, hello-pause, cng, ced, silence.
    kind: str
    lang: str = ""
    voice: str = ""
    speed: int = 0
    level_dbov: float = 0.0
    noise_dbov: float = 0.0
    #: none, music or noise (under a greeting).
    background: str = "none"
    speech_start: float = -1.0
    first_word_end: float = -1.0
    speech_end: float = -1.0
    beep_hz: float = -1.0
    beep_start: float = -1.0
    beep_end: float = -1.0
    greeting_end: float = -1.0
    duration: float = 0.0
    text: str = ""


@define
class Speech:
    """espeak-ng speech at 8 kHz (peak near full scale) and where it is voiced."""

    audio: Audio
    spans: list[tuple[float, float]] = field(factory=list)


def need_tools() -> None:
    """Fail with one sentence when espeak-ng or sox is missing."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (make test installs it)")


def synth(text: str, voice: str, speed: int, pitch: int, work: Path) -> Speech:
    """``text`` spoken by espeak-ng, resampled by sox to 8 kHz in the telephone band."""
    raw, tel = work / "raw.wav", work / "tel.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(tel)]
        + ["sinc", "300-3400", "norm", "-1"],
        check=True,
        capture_output=True,
    )
    audio, rate = sf.read(str(tel), dtype="float64")
    assert rate == RATE
    audio = audio * 32768.0
    return Speech(audio, voiced_spans(audio))


def voiced_spans(x: Audio, gap: float = 0.15) -> list[tuple[float, float]]:
    """Voiced stretches of clean ``x``: 10 ms windows within 30 dB of the loudest,
    gaps shorter than ``gap`` seconds bridged, blips under 40 ms dropped."""
    win = RATE // 100
    n = len(x) // win
    if n == 0:
        return []
    rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1))
    on = rms > rms.max() * 10 ** (-30 / 20)
    spans: list[tuple[float, float]] = []
    start = None
    for i, v in enumerate(np.append(on, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            a, b = start * win / RATE, i * win / RATE
            if spans and a - spans[-1][1] < gap:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
            start = None
    return [(a, b) for a, b in spans if b - a >= 0.04]


def active_rms(x: Audio) -> float:
    """RMS over the 10 ms windows within 30 dB of the loudest (the speech, not the pauses)."""
    win = RATE // 100
    n = max(1, len(x) // win)
    rms = np.sqrt((x[: n * win].reshape(n, -1) ** 2).mean(axis=1))
    return float(np.sqrt((rms[rms > rms.max() * 10 ** (-30 / 20)] ** 2).mean()))


def at_level(x: Audio, level_dbov: float) -> Audio:
    """``x`` scaled so that its active RMS is ``level_dbov`` (0 dBov: RMS of 32768)."""
    return x * (32768.0 * 10 ** (level_dbov / 20) / max(active_rms(x), 1e-9))


def tone(hz: float, seconds: float, level_dbov: float, harmonic_db: float | None = None) -> Audio:
    """A sine (RMS at ``level_dbov``) with 5 ms ramps, optionally its 3rd harmonic."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.sin(2 * np.pi * hz * t)
    if harmonic_db is not None and 3 * hz < RATE / 2:
        x += 10 ** (harmonic_db / 20) * np.sin(2 * np.pi * 3 * hz * t)
    ramp = min(n // 2, RATE // 200)
    if ramp:
        env = np.ones(n)
        env[:ramp] = env[n - ramp :][::-1] = np.linspace(0, 1, ramp)
        x *= env
    return x * (32768.0 * 10 ** (level_dbov / 20) / max(float(np.sqrt((x**2).mean())), 1e-9))


def chords(rng: np.random.Generator, seconds: float) -> Audio:
    """Music-like background: chords of 3–4 notes with decaying harmonics (unit RMS)."""
    total = int(seconds * RATE)
    out = np.zeros(total)
    pos = 0
    while pos < total:
        n = min(int(rng.uniform(0.25, 1.0) * RATE), total - pos)
        t = np.arange(n) / RATE
        root = int(rng.integers(-12, 24))
        notes = [root, root + int(rng.choice([3, 4])), root + 7]
        if rng.random() < 0.5:
            notes.append(root + int(rng.choice([10, 12])))
        seg = np.zeros(n)
        for semis in notes:
            f0 = 440.0 * 2 ** (semis / 12)
            for k in range(1, 6):
                if k * f0 < 3400:
                    seg += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k
        out[pos : pos + n] = seg * np.exp(-t * rng.uniform(0.5, 2.0))
        pos += n
    return out / max(float(np.sqrt((out**2).mean())), 1e-9)


def noise_level(rng: np.random.Generator) -> float:
    """Line noise, dBov: mostly quiet, some moderate, a few loud lines."""
    u = rng.random()
    if u < 0.55:
        return float(rng.uniform(-72, -58))
    if u < 0.85:
        return float(rng.uniform(-58, -48))
    return float(rng.uniform(-48, -40))


def place(track: Audio, x: Audio, at: float) -> None:
    """Add ``x`` into ``track`` starting at ``at`` seconds."""
    i = int(at * RATE)
    n = min(len(x), len(track) - i)
    if n > 0:
        track[i : i + n] += x[:n]


def pick_voice(rng: np.random.Generator, lang: str) -> str:
    base = str(rng.choice(EN_VOICES if lang == "en" else RU_VOICES))
    return f"{base}+{rng.choice(VARIANTS)}"


@define
class Voice:
    """How espeak-ng speaks: voice (``base+variant``), words per minute, pitch 0–99."""

    lang: str
    voice: str
    speed: int = 170
    pitch: int = 50


def human(rng: np.random.Generator, name: str, work: Path) -> tuple[Audio, Label]:
    """A person answering, then waiting (some say hello again)."""
    lang = "en" if rng.random() < 0.5 else "ru"
    voice = Voice(
        lang, pick_voice(rng, lang), int(rng.integers(130, 221)), int(rng.integers(25, 76))
    )
    text = str(rng.choice(HUMAN_PHRASES[lang]))
    level = float(rng.uniform(-32, -12))
    noise = min(noise_level(rng), level - 15)
    lead = float(rng.uniform(0.3, 1.5))
    again = float(rng.uniform(2.0, 3.0)) if rng.random() < 0.3 else None
    return render_human(rng, name, work, voice, text, level, noise, lead, again)


def render_human(
    rng: np.random.Generator,
    name: str,
    work: Path,
    voice: Voice,
    text: str,
    level: float,
    noise: float,
    lead: float,
    again: float | None = None,
) -> tuple[Audio, Label]:
    """``text`` after ``lead`` s at ``level`` dBov over line noise, 6 s of waiting after
    it; with ``again``, "Hello?" once more that many seconds after the answer."""
    speech = synth(text, voice.voice, voice.speed, voice.pitch, work)
    clean = at_level(speech.audio, level)
    spans = [(lead + a, lead + b) for a, b in speech.spans]
    track = np.zeros(int((lead + len(clean) / RATE + 6.0) * RATE))
    place(track, clean, lead)
    if again is not None:
        hello = synth(REPEAT_PHRASE[voice.lang], voice.voice, voice.speed, voice.pitch, work)
        place(track, at_level(hello.audio, level), spans[-1][1] + again)
        text += " ... " + REPEAT_PHRASE[voice.lang]
    track += rng.normal(0, 32768.0 * 10 ** (noise / 20), len(track))
    label = Label(
        name, "human", "phrase" if again is None else "repeat", voice.lang, voice.voice,
        voice.speed, round(level, 1), round(noise, 1), speech_start=spans[0][0],
        first_word_end=spans[0][1], speech_end=spans[-1][1], duration=len(track) / RATE,
        text=text,
    )  # fmt: skip
    return track, label


def greeting_text(rng: np.random.Generator, lang: str, target: float) -> str:
    """An opening, middles until about ``target`` seconds, a closing."""
    name, number = str(rng.choice(NAMES[lang])), "555 01 " + str(int(rng.integers(10, 99)))
    parts = [str(rng.choice(GREETING_OPEN[lang])).format(name=name, number=number)]
    middles = list(rng.permutation(GREETING_MIDDLE[lang]))
    close = str(rng.choice(GREETING_CLOSE[lang]))
    if target < 5.0:  # one sentence
        return close if rng.random() < 0.5 else parts[0]
    # About 14 characters a second at espeak's default speed.
    while middles and sum(map(len, parts)) + len(close) < target * 14:
        parts.append(str(middles.pop()))
    return " ".join([*parts, close])


@define
class Beep:
    """A beep after the greeting: frequency, gap after the speech, length, level."""

    hz: float = 1000.0
    gap: float = 0.5
    seconds: float = 0.5
    level: float = -12.0
    #: The 3rd harmonic this many dB below the fundamental (None: a pure sine).
    harmonic_db: float | None = None


def machine(rng: np.random.Generator, name: str, work: Path) -> tuple[Audio, Label]:
    """A greeting of 3–20 s, a beep after it or not, perhaps over music or noise."""
    lang = "en" if rng.random() < 0.5 else "ru"
    voice = Voice(
        lang, pick_voice(rng, lang), int(rng.integers(150, 201)), int(rng.integers(30, 71))
    )
    level = float(rng.uniform(-28, -12))
    noise = min(noise_level(rng), level - 15)
    lead = float(rng.uniform(0.1, 1.0))
    text = greeting_text(rng, lang, float(rng.uniform(3.0, 20.0)))
    pause = float(rng.uniform(1.2, 2.0)) if rng.random() < 0.06 else None
    beep = None
    if rng.random() < 0.6:
        hz, gap, seconds = (
            float(rng.choice(BEEP_HZ)),
            float(rng.uniform(0.2, 1.0)),
            float(rng.uniform(0.15, 1.0)),
        )
        harmonic = -12.0 if rng.random() < 0.2 else None
        beep = Beep(hz, gap, seconds, float(rng.uniform(-20, -8)), harmonic)
    background = str(rng.choice(["none"] * 7 + ["music"] * 2 + ["noise"]))
    bed_db = float(rng.uniform(12, 20))
    return render_machine(
        rng, name, work, voice, text, level, noise, lead, pause, beep, background, bed_db
    )


def render_machine(
    rng: np.random.Generator,
    name: str,
    work: Path,
    voice: Voice,
    text: str,
    level: float,
    noise: float,
    lead: float,
    hello_pause: float | None = None,
    beep: Beep | None = None,
    background: str = "none",
    bed_db: float = 15.0,
) -> tuple[Audio, Label]:
    """The greeting ``text`` after ``lead`` s (with ``hello_pause``, "Hello?" and that
    pause first), then ``beep``, then 3 s of silence (4 s without a beep); under the
    speech a ``background`` of ``music`` or ``noise`` ``bed_db`` below it, or none."""
    speech = synth(text, voice.voice, voice.speed, voice.pitch, work)
    while len(speech.audio) / RATE > 20.5 and "." in text[:-1]:  # too long: drop a sentence
        text = text[: text[:-1].rfind(".") + 1]
        speech = synth(text, voice.voice, voice.speed, voice.pitch, work)
    start, spans, pieces = lead, [], []
    if hello_pause is not None:
        hello = synth(REPEAT_PHRASE[voice.lang], voice.voice, voice.speed, voice.pitch, work)
        pieces.append((at_level(hello.audio, level), start))
        spans += [(start + a, start + b) for a, b in hello.spans]
        start = spans[-1][1] + hello_pause
        text = REPEAT_PHRASE[voice.lang] + " ... " + text
    pieces.append((at_level(speech.audio, level), start))
    spans += [(start + a, start + b) for a, b in speech.spans]
    speech_end = spans[-1][1]
    beep_start = beep_end = -1.0
    if beep is not None:
        beep_start = speech_end + beep.gap
        beep_end = beep_start + beep.seconds
        pieces.append((tone(beep.hz, beep.seconds, beep.level, beep.harmonic_db), beep_start))
    track = np.zeros(int(((beep_end + 3.0) if beep else speech_end + 4.0) * RATE))
    for x, at in pieces:
        place(track, x, at)
    if background != "none":
        bed_start = max(0.0, spans[0][0] - 0.3)
        seconds = speech_end + 0.3 - bed_start
        bed = (
            chords(rng, seconds) if background == "music" else rng.normal(0, 1, int(seconds * RATE))
        )
        place(track, bed * 32768.0 * 10 ** ((level - bed_db) / 20), bed_start)
    track += rng.normal(0, 32768.0 * 10 ** (noise / 20), len(track))
    kind = "hello-pause" if hello_pause is not None else ("greeting+beep" if beep else "greeting")
    label = Label(
        name, "machine", kind, voice.lang, voice.voice, voice.speed, round(level, 1),
        round(noise, 1), background, speech_start=spans[0][0], first_word_end=spans[0][1],
        speech_end=speech_end, beep_hz=beep.hz if beep else -1.0, beep_start=beep_start,
        beep_end=beep_end, greeting_end=beep_end if beep else speech_end,
        duration=len(track) / RATE, text=text,
    )  # fmt: skip
    return track, label


def silent_line(rng: np.random.Generator, name: str, work: Path) -> tuple[Audio, Label]:
    """An answered line that says nothing: 8 s of line noise."""
    noise = noise_level(rng)
    track = rng.normal(0, 32768.0 * 10 ** (noise / 20), 8 * RATE)
    return track, Label(name, "silence", "silence", noise_dbov=round(noise, 1), duration=8.0)


def fax(rng: np.random.Generator, name: str, work: Path) -> tuple[Audio, Label]:
    """A fax machine: CNG (1100 Hz, 0.5 s on, 3 s off) or CED (2100 Hz, 2.6–4 s)."""
    noise = noise_level(rng)
    level = float(rng.uniform(-25, -10))
    start = float(rng.uniform(0.2, 1.5))
    track = np.zeros(8 * RATE)
    if rng.random() < 0.5:
        for k in range(3):
            place(track, tone(1100.0, 0.5, level), start + 3.5 * k)
        kind, hz, end = "cng", 1100.0, start + 0.5
    else:
        seconds = float(rng.uniform(2.6, 4.0))
        place(track, tone(2100.0, seconds, level), start)
        kind, hz, end = "ced", 2100.0, start + seconds
    track += rng.normal(0, 32768.0 * 10 ** (min(noise, level - 15) / 20), len(track))
    label = Label(
        name, "fax", kind, level_dbov=round(level, 1), noise_dbov=round(noise, 1),
        beep_hz=hz, beep_start=start, beep_end=end, duration=8.0,
    )  # fmt: skip
    return track, label


MAKERS = {"human": human, "machine": machine, "silence": silent_line, "fax": fax}


def make(kind: str, index: int, seed: int, work: Path) -> tuple[npt.NDArray[np.int16], Label]:
    """Sample ``index`` of ``kind`` (the same for a seed whatever the counts), as int16."""
    rng = np.random.default_rng((seed, KINDS.index(kind), index))
    audio, label = MAKERS[kind](rng, f"{kind}-{index:04d}.wav", work)
    for name in ("speech_start", "first_word_end", "speech_end", "beep_start", "beep_end"):
        setattr(label, name, round(getattr(label, name), 3))
    label.greeting_end = round(label.greeting_end, 3)
    label.duration = round(label.duration, 3)
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16), label


def generate(out: Path, counts: dict[str, int], seed: int = 1) -> list[Label]:
    """Write the corpus into ``out`` (WAV files and ``labels.csv``); the labels."""
    need_tools()
    out.mkdir(parents=True, exist_ok=True)
    labels: list[Label] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            for i in range(counts.get(kind, 0)):
                pcm, label = make(kind, i, seed, Path(tmp))
                sf.write(str(out / label.file), pcm, RATE, subtype="PCM_16")
                labels.append(label)
    write_labels(out / "labels.csv", labels)
    return labels


def write_labels(path: Path, labels: Sequence[Label]) -> None:
    fields = list(asdict(Label("", "", "")).keys())
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for label in labels:
            writer.writerow(asdict(label))


def read_labels(path: Path) -> list[Label]:
    """The labels written by :func:`generate`."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = Label(row["file"], row["truth"], row["kind"])
            for key, value in row.items():
                current = getattr(label, key)
                setattr(label, key, type(current)(value) if not isinstance(current, str) else value)
            out.append(label)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="directory to write into")
    parser.add_argument("--quick", action="store_true", help="a small subset (a prefix)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    labels = generate(args.out, QUICK_COUNTS if args.quick else FULL_COUNTS, args.seed)
    for kind in KINDS:
        print(f"{kind:<8} {sum(1 for label in labels if label.truth == kind):>4} files")
    print(f"labels: {args.out / 'labels.csv'}")


if __name__ == "__main__":
    main()
