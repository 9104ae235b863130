"""The media engine: one vectorized tick over every live channel.

The public surface: :class:`MediaEngine` and its :class:`TickOutput`, the bridge
roles, playlist items, the prompt cache, the recorder bank and the events a tick
emits.  The DSP modules (``g711``, ``mixer``, ``tones``, ``detect``, ``prompts``,
``recorder``, ``say``) are usable on their own.
"""

from __future__ import annotations

from pbx.media.amd import AmdParams
from pbx.media.codecs import PCMA, PCMU, Codec, codec_by_name, codec_by_payload_type
from pbx.media.engine import MediaEngine, MediaStream, TickCounters, TickOutput
from pbx.media.events import (
    AmdDetected,
    DtmfDetected,
    GreetingEnded,
    MediaEvent,
    PlaybackFinished,
    RecordingFinished,
    StreamEvent,
    TalkStarted,
    TalkStopped,
)
from pbx.media.mixer import Mixer, Role
from pbx.media.numbers import say_digits, say_number
from pbx.media.prompts import PromptCache, PromptError, PromptItem, SilenceItem, ToneItem
from pbx.media.recorder import RecorderBank, recover_recordings, repair_wav
from pbx.media.tones import ToneSpec, tone

__all__ = [
    "PCMA",
    "PCMU",
    "AmdDetected",
    "AmdParams",
    "Codec",
    "DtmfDetected",
    "GreetingEnded",
    "MediaEngine",
    "MediaEvent",
    "MediaStream",
    "Mixer",
    "PlaybackFinished",
    "PromptCache",
    "PromptError",
    "PromptItem",
    "RecorderBank",
    "RecordingFinished",
    "Role",
    "SilenceItem",
    "StreamEvent",
    "TalkStarted",
    "TalkStopped",
    "TickCounters",
    "TickOutput",
    "ToneItem",
    "ToneSpec",
    "codec_by_name",
    "codec_by_payload_type",
    "recover_recordings",
    "repair_wav",
    "say_digits",
    "say_number",
    "tone",
]
