"""Events the media engine emits from a tick: small frozen values.

Theory of operation: the engine returns these in ``TickOutput.events``; the
pump routes them to the call layer, IVR or dialer, which turn them into
decisions.  Every event carries the channel (engine row) it is about and the
``now`` of the tick that produced it where timing matters.
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

from pbx.media.amd import AmdReason, AmdVerdict, EndedBy

__all__ = [
    "AmdDetected",
    "DtmfDetected",
    "GreetingEnded",
    "MediaEvent",
    "PlaybackFinished",
    "RecordingFinished",
    "StreamEvent",
    "TalkStarted",
    "TalkStopped",
]


@frozen
class DtmfDetected:
    """A DTMF digit was received on a channel."""

    #: Channel (engine row) the digit came from.
    channel: int
    #: ``0``–``9``, ``*``, ``#``, ``A``–``D``.
    digit: str
    #: ``"rfc4733"`` (telephone-event packets) or ``"inband"`` (Goertzel on the audio).
    source: Literal["rfc4733", "inband"]
    #: Time of the tick that reported it (seconds).
    now: float


@frozen
class PlaybackFinished:
    """A channel's playlist ended or was stopped."""

    channel: int
    #: Name of the item that was playing last (prompt name, tone name or ``"silence"``).
    prompt: str
    #: False when stopped early (``stop_playback`` or a DTMF barge-in).
    completed: bool = True


@frozen
class TalkStarted:
    """Energy on a channel rose above the talk threshold (voice activity)."""

    channel: int
    now: float
    #: Level of the frame that started talk, dBov.
    level_dbov: float


@frozen
class TalkStopped:
    """A channel fell silent for longer than the hangover."""

    channel: int
    now: float
    #: How long the talk spurt lasted, seconds.
    duration: float


@frozen
class RecordingFinished:
    """A recording was closed and its file is complete."""

    #: The recording key given to ``start_recording``.
    key: str
    #: Final path of the file.
    path: str
    #: Recorded length, seconds (paused spans included as silence).
    seconds: float


@frozen
class StreamEvent:
    """Another event from a channel's RTP stream, passed through (e.g. an RTCP BYE)."""

    channel: int
    #: The stream's own event value, e.g. ``pbx.rtp.stream.RemoteBye``.
    event: object


@frozen
class AmdDetected:
    """Answering-machine detection decided who answered a channel (``detect_amd``)."""

    channel: int
    #: ``"human"``, ``"machine"`` or ``"not_sure"``.
    verdict: AmdVerdict
    #: The rule that decided (:data:`pbx.media.amd.DECISIONS`): ``"silence_after_speech"``
    #: for a person; ``"long_greeting"``, ``"max_words"``, ``"max_word_length"``,
    #: ``"initial_silence"``, ``"beep"`` or ``"fax"`` for a machine; ``"too_long"``.
    reason: AmdReason
    #: Decision time: seconds of audio analysed since detection started.
    seconds: float
    #: Time of the tick that decided (seconds).
    now: float


@frozen
class GreetingEnded:
    """After a machine verdict, the greeting ended: the moment to leave a message."""

    channel: int
    #: ``"beep"`` (reported on the first frame after the tone), ``"silence"``
    #: (``AmdParams.end_silence_ms`` of it) or ``"timeout"`` (``greeting_end_timeout_ms``).
    by: EndedBy
    #: Seconds since detection started.
    seconds: float
    #: Time of the tick that reported it (seconds).
    now: float


MediaEvent = (
    DtmfDetected
    | PlaybackFinished
    | TalkStarted
    | TalkStopped
    | RecordingFinished
    | StreamEvent
    | AmdDetected
    | GreetingEnded
)
