"""Errors of the SIP core.

A :class:`SipParseError` comes from bytes a peer sent. It carries ``status_hint``: the
response the RFC asks for (400 Bad Request in most cases, 505 for an unknown SIP version,
416 for an unsupported URI scheme) so the transport can answer without guessing. Where
enough of the message was read to build a response, ``head`` holds the start line and
the raw header fields.
"""

from __future__ import annotations

from pbx.errors import ProtocolError


class SipParseError(ProtocolError):
    """Received bytes are not a valid SIP message (RFC 3261 §7, §25)."""

    def __init__(
        self,
        reason: str,
        status_hint: int = 400,
        *,
        start_line: str | None = None,
        fields: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
        self.start_line = start_line
        self.fields = fields

    @property
    def is_request(self) -> bool:
        """True when the start line looked like a request line (so a response may be sent)."""
        return self.start_line is not None and not self.start_line.startswith("SIP/")
