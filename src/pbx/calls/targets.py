"""Where an outbound leg goes: an extension's registered device, a SIP URI, or a trunk.

:func:`resolve` turns what :meth:`~pbx.calls.manager.CallManager.dial` was given into
the request URI, the next hop and the credentials of the INVITE — or into the failure a
dial that cannot be placed reports at once (480 not registered, 503 unknown trunk, 400
a URI that does not parse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog
from attrs import frozen

from pbx.calls.dialplan import Target
from pbx.calls.model import CallError
from pbx.config import TrunkConfig
from pbx.sip.errors import SipParseError
from pbx.sip.registration import Binding
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri

log = structlog.get_logger(__name__)

DialTo = Target | SipUri | str
"""Where a leg rings: an extension (``"2001"`` or an ``extension`` target), a SIP URI
(``"sip:..."`` or a :class:`SipUri`), or a ``trunk`` target (its ``number``, else the
call's number, at the trunk's host)."""


@frozen
class DialRoute:
    """Where an outbound INVITE goes, once its target is resolved."""

    uri: SipUri
    destination: Destination | None = None
    credentials: tuple[str, str] | None = None
    from_number: str | None = None
    """The caller number the route imposes (a trunk's caller ID)."""
    webrtc: bool = False
    """The device is a browser (registered over WebSocket with ``+sip.ice``, RFC 5768):
    it takes WebRTC offers only."""


def resolve(
    to: DialTo,
    number: str,
    trunks: Mapping[str, TrunkConfig],
    binding: Callable[[str], Binding | None],
) -> DialRoute | tuple[int, str]:
    """The route for ``to`` (``number``: the call's own number, for targets without
    one), or the failure ``(status, reason)``; ``binding`` finds an extension's device."""
    if isinstance(to, SipUri):
        return DialRoute(to)
    if isinstance(to, str):
        if to.startswith(("sip:", "sips:")):
            try:
                return DialRoute(SipUri.parse(to))
            except SipParseError:
                return 400, "Bad Target URI"
        to = Target("extension", to)
    if to.kind == "trunk":
        trunk = trunks.get(to.name)
        if trunk is None:
            log.warning("call_trunk_unknown", trunk=to.name)
            return 503, "Unknown Trunk"
        return trunk_route(trunk, to.number or number)
    if to.kind != "extension":
        raise CallError(f"cannot dial a {to.kind!r} target")
    extension = to.name or number
    found = binding(extension)
    if found is None or not isinstance(found.contact.uri, SipUri):
        log.info("call_extension_unavailable", extension=extension)
        return 480, "Not Registered"
    ice = "+sip.ice" in found.features
    browser = ice and found.source.transport in ("WS", "WSS")
    return DialRoute(found.contact.uri, found.source, webrtc=browser)


def trunk_route(trunk: TrunkConfig, number: str) -> DialRoute:
    """``number`` at the trunk's host, over its transport, with its credentials."""
    params = (("transport", trunk.transport.lower()),) if trunk.transport != "UDP" else ()
    return DialRoute(
        SipUri("sip", number, None, trunk.host, trunk.port, params),
        Destination(trunk.transport, trunk.host, trunk.port),
        (trunk.username, trunk.password) if trunk.username and trunk.password else None,
        trunk.caller_id or None,
    )
