"""The root of every error pbx raises on purpose.

Errors say whose fault it is and what to answer (see each subclass):

* :class:`ProtocolError` and its subclasses come from bytes a peer sent; the stack
  turns them into a response or a log event, never a crash.
* :class:`LocalProtocolError` and :class:`InvalidStateError` go to API callers that
  asked for something the protocol does not allow.
* :class:`ConfigError` names the file, key and problem of a bad configuration.
"""

from __future__ import annotations


class PbxError(Exception):
    """Root of every error raised by pbx."""


class ProtocolError(PbxError):
    """A peer sent something we cannot accept."""


class LocalProtocolError(PbxError):
    """The API caller asked for something the protocol does not allow."""


class InvalidStateError(LocalProtocolError):
    """An operation was asked for in a state that does not allow it."""


class ConfigError(PbxError):
    """A configuration is invalid; the message names the file, key and problem."""
