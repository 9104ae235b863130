"""Content-Length framing of SIP messages on TCP/TLS streams (RFC 3261 §18.3).

Theory of operation: a stream carries messages back to back. :class:`StreamFramer`
buffers the bytes it is fed, finds the end of each header (the first CRLFCRLF), reads
Content-Length from it (mandatory on streams, §18.3 and §20.14; compact form ``l``) and
cuts the message once that many body bytes have arrived. Each complete message is then
handed to :func:`pbx.sip.message.parse_message` by the caller.

Between messages the peer may send keep-alives (RFC 5626 §3.5.1): a double CRLF is a
*ping*, which the transport answers with a single CRLF *pong* (:data:`PONG`); a single
CRLF is a pong (or noise) and is dropped. :attr:`StreamFramer.pings` counts the pings
not yet answered; the transport sends one :data:`PONG` per ping and resets it with
:meth:`StreamFramer.take_pings`.

Every framing error raises :class:`~pbx.sip.errors.SipParseError`; the stream cannot be
resynchronised after one, so the transport closes the connection (RFC 4475 §3.1.2.3).
A header or message larger than ``max_size`` raises with ``status_hint`` 513.
"""

from __future__ import annotations

import re

from attrs import define, field

from pbx.sip.errors import SipParseError

PING = b"\r\n\r\n"
"""RFC 5626 §3.5.1 keep-alive ping: a double CRLF."""
PONG = b"\r\n"
"""RFC 5626 §3.5.1 keep-alive pong: a single CRLF, sent once for each ping."""

# Content-Length (or its compact form ``l``) at the start of a header line.
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


@define
class StreamFramer:
    """Cuts a TCP/TLS byte stream into SIP messages by Content-Length (§18.3)."""

    max_size: int = 65_535
    """Largest message (header and body) accepted; larger raises ``SipParseError(513)``."""
    pings: int = field(default=0, init=False)
    """Double-CRLF pings received and not yet taken (each wants one :data:`PONG`)."""
    _buffer: bytearray = field(factory=bytearray, init=False)
    _scan_from: int = field(default=0, init=False)
    _total: int = field(default=-1, init=False)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every message now complete, in order."""
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        while buf:
            if self._total < 0:
                if buf[0] in (13, 10) and not self._skip_keepalives():
                    break
                if not buf:
                    break
                end = buf.find(b"\r\n\r\n", self._scan_from)
                if end < 0:
                    if len(buf) > self.max_size:
                        raise SipParseError("message header is larger than 64 KiB", 513)
                    self._scan_from = max(0, len(buf) - 3)
                    break
                self._total = end + 4 + _content_length(bytes(buf[:end]))
                self._scan_from = 0
                if self._total > self.max_size:
                    raise SipParseError("message is larger than 64 KiB", 513)
            if len(buf) < self._total:
                break
            out.append(bytes(buf[: self._total]))
            del buf[: self._total]
            self._total = -1
        return out

    def take_pings(self) -> int:
        """The number of pings to answer with :data:`PONG`; resets the count."""
        pings, self.pings = self.pings, 0
        return pings

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def _skip_keepalives(self) -> bool:
        """Drop CRLF keep-alives at the start of the buffer; False to wait for more."""
        buf = self._buffer
        while buf and buf[0] in (13, 10):
            if buf[:4] == PING:
                self.pings += 1  # RFC 5626 §3.5.1
                del buf[:4]
            elif len(buf) < 4 and PING.startswith(bytes(buf)):
                return False  # maybe the start of a ping: wait for the rest
            elif buf[:2] == PONG:
                del buf[:2]
            else:
                del buf[:1]  # a stray CR or LF between messages (§7.5)
        return True


def _content_length(head: bytes) -> int:
    """The Content-Length of a header block; required on streams (§18.3)."""
    values = {m.group(1) for m in _CONTENT_LENGTH.finditer(head, head.find(b"\n") + 1)}
    if not values:
        raise SipParseError("missing Content-Length header on a stream transport")
    if len(values) > 1:
        raise SipParseError("more than one Content-Length header")
    value = values.pop()
    if not value.isdigit() or len(value) > 10:
        raise SipParseError("invalid Content-Length value on a stream transport")
    return int(value)
