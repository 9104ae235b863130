"""pbx — a pure-Python SIP/RTP softswitch library for contact centers."""

from __future__ import annotations

from pbx.errors import ConfigError, InvalidStateError, LocalProtocolError, PbxError, ProtocolError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "InvalidStateError",
    "LocalProtocolError",
    "PbxError",
    "ProtocolError",
    "__version__",
]
