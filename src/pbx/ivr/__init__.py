"""pbx.ivr: IVR graphs, their validation, and the sans-I/O runner.

A graph is built in Python (:class:`Graph`) or loaded from TOML (:func:`load_graph`),
validated once (:class:`IvrGraphError` names the node and problem), and then run per
call by an :class:`IvrRunner`: events (:class:`Digit`, :class:`PlayEnded`, …) in,
actions (:class:`Play`, :class:`SetData`, :class:`Enqueue`, … :class:`Finished`) out.
The package imports nothing from ``pbx.calls``, ``pbx.sip`` or ``pbx.net``.
"""

from __future__ import annotations

from pbx.ivr.actions import (
    Enqueue,
    Finished,
    Hangup,
    IvrAction,
    Lookup,
    Play,
    RequestCallback,
    SetData,
    StartRecording,
    StopPlayback,
    StopRecording,
    Transfer,
    Voicemail,
)
from pbx.ivr.errors import IvrExpressionError, IvrGraphError
from pbx.ivr.events import (
    Digit,
    HungUp,
    IvrEvent,
    LookupFailed,
    LookupResult,
    PlayEnded,
    RecordingDone,
)
from pbx.ivr.expr import evaluate, parse_expr, truth
from pbx.ivr.graph import Graph, IvrGraph
from pbx.ivr.loader import file_prompt_exists, load_graph, loads_graph
from pbx.ivr.lookups import LookupFunction, LookupService, demo_balance
from pbx.ivr.runner import IvrRunner
from pbx.ivr.timecond import Schedule

__all__ = [
    "Digit",
    "Enqueue",
    "Finished",
    "Graph",
    "Hangup",
    "HungUp",
    "IvrAction",
    "IvrEvent",
    "IvrExpressionError",
    "IvrGraph",
    "IvrGraphError",
    "IvrRunner",
    "Lookup",
    "LookupFailed",
    "LookupFunction",
    "LookupResult",
    "LookupService",
    "Play",
    "PlayEnded",
    "RecordingDone",
    "RequestCallback",
    "Schedule",
    "SetData",
    "StartRecording",
    "StopPlayback",
    "StopRecording",
    "Transfer",
    "Voicemail",
    "demo_balance",
    "evaluate",
    "file_prompt_exists",
    "load_graph",
    "loads_graph",
    "parse_expr",
    "truth",
]
