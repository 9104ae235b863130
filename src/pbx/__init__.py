"""pbx — a pure-Python SIP/RTP softswitch library for contact centers.

The names here are the public API; the modules below them are importable too. Start
with :class:`Application` and :func:`load_config` (see ``examples/embed.py``)."""

from __future__ import annotations

from pbx.acd.distributor import Distributor, LiveView
from pbx.app import Application
from pbx.calls.dialplan import Dialplan, Route, Target
from pbx.calls.events import (
    CallEnded,
    CallRouted,
    CallStarted,
    DigitReceived,
    LegAnswered,
    LegEnded,
    LegFailed,
    PlaybackDone,
    Purpose,
    RecordingDone,
    TransferRequested,
)
from pbx.calls.manager import Call, CallManager, Leg
from pbx.config import AppConfig, config_from_dict, load_config
from pbx.errors import ConfigError, InvalidStateError, LocalProtocolError, PbxError, ProtocolError
from pbx.ivr.graph import Graph, IvrGraph
from pbx.ivr.loader import load_graph
from pbx.ivr.runner import IvrRunner
from pbx.media.engine import MediaEngine
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.message import Request, Response, parse_message
from pbx.store import Store
from pbx.version import __version__

__all__ = [
    "AppConfig",
    "Application",
    "Call",
    "CallEnded",
    "CallManager",
    "CallRouted",
    "CallStarted",
    "ConfigError",
    "DigitReceived",
    "Dialplan",
    "Distributor",
    "EndpointConfig",
    "Graph",
    "InvalidStateError",
    "IvrGraph",
    "IvrRunner",
    "Leg",
    "LegAnswered",
    "LegEnded",
    "LegFailed",
    "LiveView",
    "LocalProtocolError",
    "MediaEngine",
    "PbxError",
    "PlaybackDone",
    "ProtocolError",
    "Purpose",
    "RecordingDone",
    "Request",
    "Response",
    "Route",
    "SipEndpoint",
    "Store",
    "Target",
    "TransferRequested",
    "__version__",
    "config_from_dict",
    "load_config",
    "load_graph",
    "parse_message",
]
