"""The root of every error pbx raises on purpose.

Errors say whose fault it is and what to answer (see each subclass):

* :class:`ProtocolError` and its subclasses come from bytes a peer sent; the stack
  turns them into a response or a log event, never a crash.
* :class:`LocalProtocolError` and :class:`InvalidStateError` go to API callers that
  asked for something the protocol does not allow.
* :class:`ConfigError` names the file, key and problem of a bad configuration.
* :class:`ResourceExhausted` means this process ran out of something (descriptors,
  buffers, ports): nobody's fault; answer 503 with ``Retry-After``.
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


class ResourceExhausted(PbxError):
    """A local resource ran out (file descriptors, socket buffers, RTP ports).

    Not the peer's fault and not the caller's: a request that needs the resource is
    answered 503 with ``Retry-After: retry_after`` (RFC 3261 §21.5.4) and nothing is kept.
    """

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        #: Seconds after which a retry may find the resource free again.
        self.retry_after = retry_after
