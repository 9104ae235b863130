"""What the SIP endpoint tells its user: small frozen values, one per happening.

Calls are named by their *leg* id (our local tag, unique per endpoint), which stays the
same from the first INVITE to the end of the dialog. ``sdp`` is the raw session
description body when the message carried one.
"""

from __future__ import annotations

from attrs import frozen

from pbx.sip.message import Request, Response
from pbx.sip.registration import Binding
from pbx.sip.transport import Destination


@frozen
class IncomingCall:
    """An INVITE opened a new call; answer it with ring/answer/reject."""

    leg: str
    call_id: str
    request: Request
    source: Destination
    sdp: bytes | None
    auth_user: str | None = None
    """The user that passed digest authentication, when the policy asked for it."""
    trunk: str | None = None
    """The trusted peer (carrier trunk) the request came from, as the endpoint's trust
    policy decided it; None when it authenticated or no policy is set."""


@frozen
class CallProgress:
    """Our INVITE got a provisional response (180 Ringing, 183 with early media)."""

    leg: str
    status: int
    reason: str
    sdp: bytes | None


@frozen
class CallAnswered:
    """Our INVITE got a 2xx; the ACK has been sent."""

    leg: str
    sdp: bytes | None
    response: Response


@frozen
class CallConfirmed:
    """The caller acknowledged our 2xx (the ACK may carry the answer SDP)."""

    leg: str
    sdp: bytes | None


@frozen
class CallFailed:
    """Our INVITE failed: a final non-2xx response, a timeout (408) or a lost transport."""

    leg: str
    status: int
    reason: str
    response: Response | None


@frozen
class CallCancelled:
    """The caller sent CANCEL before we answered; 487 has been sent."""

    leg: str


@frozen
class DialogEnded:
    """A confirmed call ended: BYE from either side, or no ACK for our 2xx."""

    leg: str
    by: str
    """``remote`` or ``local``."""
    reason: str


@frozen
class InDialogRequest:
    """A request inside a call (re-INVITE, UPDATE, INFO, REFER, NOTIFY, MESSAGE).

    Answer it with :meth:`SipEndpoint.respond` (re-INVITE with an SDP body).
    """

    leg: str
    request: Request
    transaction: str
    sdp: bytes | None


@frozen
class IncomingRequest:
    """An out-of-dialog request the endpoint does not answer itself (MESSAGE, NOTIFY ...)."""

    request: Request
    source: Destination
    transaction: str
    trunk: str | None = None
    """The trusted peer it came from (None: it authenticated, or no policy is set)."""
    auth_user: str | None = None
    """The user whose digest credentials it carried (None: a trusted peer's, or none
    were asked for)."""


@frozen
class RequestAnswered:
    """A final response to a request we sent with :meth:`SipEndpoint.request`."""

    handle: str
    leg: str | None
    response: Response


@frozen
class RequestFailed:
    """A request we sent timed out (no response at all)."""

    handle: str
    leg: str | None


@frozen
class ReinviteAnswered:
    """The final response to our re-INVITE (the ACK has been sent for a 2xx)."""

    leg: str
    status: int
    sdp: bytes | None


@frozen
class DeviceRegistered:
    """A device registered, refreshed or unregistered at our registrar."""

    aor: str
    bindings: tuple[Binding, ...]


@frozen
class RegistrationStatus:
    """Our own registration to a registrar or trunk succeeded, failed or ended."""

    handle: str
    registered: bool
    status: int
    expires: int


@frozen
class MessageRejected:
    """A received message could not be parsed; a 400 went back when one could be built."""

    reason: str
    source: Destination
    answered: bool


EndpointEvent = (
    IncomingCall
    | CallProgress
    | CallAnswered
    | CallConfirmed
    | CallFailed
    | CallCancelled
    | DialogEnded
    | InDialogRequest
    | IncomingRequest
    | RequestAnswered
    | RequestFailed
    | ReinviteAnswered
    | DeviceRegistered
    | RegistrationStatus
    | MessageRejected
)
