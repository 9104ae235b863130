"""The composition root: builds the cores from an :class:`~pbx.config.AppConfig` and runs them.

``Application`` owns the SIP endpoint (with its registrar and digest authenticator for
the configured users) and the network service that pumps it. Requests are classified on
arrival: a request from the source address of a registered user is that user's and must
authenticate; anything else from the trusted networks is the carrier trunk; everything
else must authenticate as a user or is refused.

Until the call layer lands, calls are answered with 480 Temporarily Unavailable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import secrets
import signal
from collections.abc import Callable

import structlog

from pbx.config import AppConfig
from pbx.net.pump import SipService
from pbx.sip import auth
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import DeviceRegistered, EndpointEvent, IncomingCall
from pbx.sip.message import Request
from pbx.sip.registration import LocationService, Registrar
from pbx.sip.timers import TimerConfig
from pbx.sip.transport import Destination

log = structlog.get_logger(__name__)


class Application:
    """A running pbx: SIP endpoint, registrar, users, and the network around them."""

    def __init__(
        self,
        config: AppConfig,
        *,
        rng: random.Random | None = None,
        timers: TimerConfig | None = None,
    ) -> None:
        self.config = config
        self.rng = rng or random.Random(secrets.randbits(64))
        self._networks = [ipaddress.ip_network(n) for n in config.sip.trusted_networks]
        self.location = LocationService()
        users = {u.extension: u for u in config.users}
        self.registrar = Registrar(self.location, lambda user: user in users)
        nonces = auth.NonceManager(secret=secrets.token_bytes(32))
        self.authenticator = auth.DigestAuthenticator(
            realm=config.sip.realm,
            lookup=lambda user: users[user].password if user in users else None,
            nonces=nonces,
            algorithms=config.sip.auth_algorithms,
        )
        self.endpoint = SipEndpoint(
            EndpointConfig(
                host=config.sip.host,
                port=config.sip.port,
                user_agent=config.sip.user_agent,
                timers=timers or TimerConfig(),
                trace=config.sip.trace,
            ),
            self.rng,
            registrar=self.registrar,
            authenticator=self.authenticator,
            auth_policy=self._must_authenticate,
        )
        self.sip = SipService(self.endpoint, self._on_event)
        self.event_handlers: list[Callable[[EndpointEvent, float], None]] = []
        self._stopped = asyncio.Event()

    # -- policy ------------------------------------------------------------------------
    def is_trunk(self, source: Destination) -> bool:
        """True for a request from the trusted networks that is not from a registered user."""
        try:
            addr = ipaddress.ip_address(source.host)
        except ValueError:
            return False
        if not any(addr in net for net in self._networks):
            return False
        return self.location.find_by_source(source, self.sip.now()) is None

    def _must_authenticate(self, request: Request, source: Destination) -> bool:
        return not self.is_trunk(source)

    # -- events ------------------------------------------------------------------------
    def _on_event(self, event: EndpointEvent, now: float) -> None:
        for handler in self.event_handlers:
            handler(event, now)
        if isinstance(event, IncomingCall):
            log.info("call_unavailable", call_id=event.call_id, to=str(event.request.uri))
            self.endpoint.reject(event.leg, 480, now)
        elif isinstance(event, DeviceRegistered):
            log.info("device_registered", aor=event.aor, bindings=len(event.bindings))

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the SIP listeners."""
        c = self.config.sip
        await self.sip.start(c.host, c.port, udp=c.udp, tcp=c.tcp)
        if c.port == 0 and self.sip.udp.local is not None:
            # Port 0 asked for a free port: write the real one into Via and Contact.
            self.endpoint.config = EndpointConfig(
                host=self.endpoint.config.host,
                port=self.sip.udp.local[1],
                user_agent=self.endpoint.config.user_agent,
                timers=self.endpoint.config.timers,
                trace=self.endpoint.config.trace,
            )
        log.info("pbx_started", sip=f"{c.host}:{self.endpoint.config.port}")

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopped.set()

    async def close(self) -> None:
        """Hang up every call and stop listening."""
        now = self.sip.now()
        for leg_id in list(self.endpoint.legs):
            self.endpoint.hangup(leg_id, now, status=503)
        self.sip.flush()
        await asyncio.sleep(0.05)
        self.sip.close()

    async def run(self) -> None:
        """Start, serve until SIGINT/SIGTERM or :meth:`stop`, then shut down cleanly."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await self._stopped.wait()
        finally:
            log.info("pbx_stopping")
            await self.close()
