"""The composition root: builds the cores from an :class:`~pbx.config.AppConfig` and runs them.

``Application`` owns the SIP endpoint (with its registrar and digest authenticator for
the configured users), the media engine, the call manager with its dial plan and
modules (voicemail; the ACD and IVR plug in the same way), the SQLite store, and the
network services that pump them: :class:`~pbx.net.pump.SipService` for SIP and
:class:`~pbx.net.media.MediaService` for RTP and the 20 ms tick.

Requests are classified on arrival: a request from the source address of a registered
user is that user's and must authenticate; anything else from the trusted networks is
the carrier trunk ``local``; everything else must authenticate as a user or is refused.

Embedding it::

    app = Application(load_config("callcenter.toml"))
    app.on_call_event(lambda event, now: print(event))
    asyncio.run(app.run())
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog
from attrs import evolve

from pbx.acd.distributor import Distributor
from pbx.calls.dialplan import Dialplan
from pbx.calls.events import CallEvent
from pbx.calls.ivr import CallbackScheduler, IvrService
from pbx.calls.manager import Call, CallManager, Leg, TargetHandler
from pbx.calls.queues import QueueService, agent_configs
from pbx.calls.voicemail import Voicemail
from pbx.config import AppConfig, TrunkConfig, check_config
from pbx.errors import ConfigError
from pbx.ivr.lookups import LookupService, demo_balance
from pbx.media.engine import MediaEngine
from pbx.media.recorder import recover_recordings
from pbx.net.media import MediaService
from pbx.net.pump import SipService
from pbx.net.sip_stream import TcpLimits
from pbx.rtp.ports import PortPool
from pbx.sip import auth
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.events import DeviceRegistered, EndpointEvent
from pbx.sip.message import Request
from pbx.sip.registration import LocationService, Registrar
from pbx.sip.session_timer import SessionTimerConfig
from pbx.sip.timers import TimerConfig
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

CallEventHandler = Callable[[CallEvent, float], None]


class Application:
    """A running pbx: SIP, media, calls, records, and the modules routed to."""

    def __init__(
        self,
        config: AppConfig,
        *,
        rng: random.Random | None = None,
        timers: TimerConfig | None = None,
    ) -> None:
        self.config = config
        # The configuration is checked against the prompts actually loaded before
        # anything is opened: a bad one is refused with its ConfigError, nothing started.
        self.engine = MediaEngine()
        if config.prompts_dir is not None:
            try:
                self.load_prompts(config.prompts_dir)
            except ConfigError as exc:
                raise ConfigError(f"{config.source}: prompts.dir: {exc}") from None
        check_config(config, self.engine.prompts.__contains__)
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
                session_timer=(
                    SessionTimerConfig(config.sip.session_expires, config.sip.session_min_se)
                    if config.sip.session_expires
                    else None
                ),
            ),
            self.rng,
            registrar=self.registrar,
            authenticator=self.authenticator,
            auth_policy=self._must_authenticate,
        )
        self.store = Store(config.store_path, recordings=config.recordings_dir)
        self.media = MediaService(
            self.engine,
            PortPool(config.rtp.port_min, config.rtp.port_max),
            config.sip.host,
            self._on_media_events,
        )
        self.calls = CallManager(
            self.endpoint,
            self.engine,
            self.media,
            Dialplan(config.dialplan),
            location=self.location,
            store=self.store,
            rng=self.rng,
            wall=self.wall,
            is_trunk=self.is_trunk,
            ring_timeout=config.ring_timeout,
            media_timeout=config.rtp.inactivity_timeout,
            recordings=Path(config.recordings_dir),
        )
        self.voicemail = Voicemail(
            self.calls,
            Path(config.voicemail_dir),
            max_seconds=config.voicemail_max_seconds,
            wall=self.wall,
        )
        self.calls.handlers["voicemail"] = self.voicemail.start
        self.calls.trunk_name = self.trunk_name
        for trunk in config.trunks:
            self.calls.handlers[f"trunk:{trunk.name}"] = self._trunk_handler(trunk)
        self.trunk_registrations: dict[str, str] = {}
        users_by_ext = {u.extension: u for u in config.users}
        self.acd = Distributor(
            config.queues.values(),
            agent_configs(config.users),
            rng=self.rng,
        )
        self.queues = QueueService(
            self.calls,
            self.acd,
            users_by_ext,
            store=self.store,
            wall=self.wall,
            rng=self.rng,
        )
        self.calls.handlers["queue"] = self.queues.start
        self.calls.handlers["feature"] = self.queues.feature
        self.lookups = LookupService()
        self.lookups.register("demo_balance", demo_balance)
        self.ivr = IvrService(
            self.calls,
            {name: ivr.graph for name, ivr in config.ivr.items()},
            self.queues,
            self.lookups,
            store=self.store,
            recordings=Path(config.voicemail_dir),
            submit=self._submit,
            wall=self.wall,
        )
        self.calls.handlers["ivr"] = self.ivr.start
        self.callbacks = CallbackScheduler(self.calls, self.queues, self.store, wall=self.wall)
        self.sip = SipService(
            self.endpoint,
            self._on_sip_event,
            timers=[self.calls, self.voicemail, self.queues, self.ivr, self.callbacks],
            tcp_limits=TcpLimits.from_config(config.sip),
        )
        self.ivr.clock = self.sip.now
        self._call_handlers: list[CallEventHandler] = [
            self.voicemail.handle,
            self.queues.handle_call_event,
            self.ivr.handle_call_event,
        ]
        self.sip_handlers: list[Callable[[EndpointEvent, float], None]] = []
        self._stopped = asyncio.Event()
        self._subscribers: set[asyncio.Queue[object]] = set()
        self.queues.listeners.append(lambda action, now: self._publish(action))
        self._clock_offset = time.time() - time.monotonic()

    # -- composition -------------------------------------------------------------------
    def wall(self, now: float) -> float:
        """Wall-clock time for a loop time (the loop's clock is monotonic)."""
        return now + self._clock_offset

    def load_prompts(self, directory: str | Path) -> int:
        """Load every sound file under ``directory`` as a prompt named by its relative path."""
        root = Path(directory)
        count = 0
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in (".wav", ".flac", ".ogg") and path.is_file():
                name = path.relative_to(root).with_suffix("").as_posix()
                self.engine.prompts.load(name, path)
                count += 1
        log.info("prompts_loaded", directory=str(root), count=count)
        return count

    def _submit(self, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run blocking ``work`` (HTTP/SQL lookups) on a worker thread; ``done`` on the loop."""
        future = self.sip.loop.run_in_executor(None, work)

        def finished(f: asyncio.Future[Any]) -> None:
            try:
                result = f.result()
            except Exception as exc:  # the lookup itself reports failures as values
                log.warning("lookup_failed", error=str(exc))
                return
            done(result)
            self._drain_calls(self.sip.now())
            self.sip.flush()

        future.add_done_callback(finished)

    def route(self, kind: str, handler: TargetHandler) -> None:
        """Run ``handler(manager, call, leg, now)`` for calls routed to target ``kind``
        (``queue``, ``ivr``, ``app:NAME`` ...)."""
        self.calls.handlers[kind] = handler

    async def events(self) -> AsyncIterator[object]:
        """Every call event and ACD action as they happen, for agent desktops and
        wallboards: ``async for event in app.events(): ...`` (``OfferToAgent`` carries the
        call's attached data for a screen pop; ``AgentStateChanged`` the agents' states)."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    def _publish(self, event: object) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("event_subscriber_lagging", dropped=type(event).__name__)

    def on_call_event(self, handler: CallEventHandler) -> None:
        """Call ``handler(event, now)`` for every call event (screen pops, wallboards)."""
        self._call_handlers.append(handler)

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

    def trunk_name(self, source: Destination) -> str:
        """The configured trunk whose host a request came from, else ``local``."""
        for trunk in self.config.trunks:
            if trunk.host == source.host:
                return trunk.name
        return "local"

    def _trunk_handler(self, trunk: TrunkConfig) -> TargetHandler:
        def place(manager: CallManager, call: Call, leg: Leg, now: float) -> None:
            target = call.target
            number = target.number if target is not None and target.number else call.number
            uri = SipUri(
                "sip",
                number,
                None,
                trunk.host,
                trunk.port,
                (("transport", trunk.transport.lower()),) if trunk.transport != "UDP" else (),
            )
            credentials = (
                (trunk.username, trunk.password) if trunk.username and trunk.password else None
            )
            call.direction = "outbound"
            manager.dial(
                call.id,
                uri,
                now,
                from_number=trunk.caller_id or None,
                destination=Destination(trunk.transport, trunk.host, trunk.port),
                credentials=credentials,
                on_answer=lambda out, t: manager.bridge_answered(leg.id, out, t),
                on_failure=lambda out, status, reason, t: manager.fail_caller(leg.id, status, t),
            )
            for out in manager.legs_of(call.id):
                if out.id != leg.id:
                    out.peer, leg.peer = leg.id, out.id

        return place

    def _must_authenticate(self, request: Request, source: Destination) -> bool:
        return not self.is_trunk(source)

    # -- events ------------------------------------------------------------------------
    def _on_sip_event(self, event: EndpointEvent, now: float) -> None:
        for handler in self.sip_handlers:
            handler(event, now)
        if isinstance(event, DeviceRegistered):
            log.info("device_registered", aor=event.aor, bindings=len(event.bindings))
            self.queues.handle_sip_event(event, now)
            return
        self.calls.handle_sip(event, now)
        self._drain_calls(now)

    def _on_media_events(self, events: list[object], now: float) -> None:
        for event in events:
            self.calls.handle_media(event, now)
        self._drain_calls(now)
        self.sip.flush()

    def _drain_calls(self, now: float) -> None:
        calls = self.calls
        while (event := calls.next_event()) is not None:
            if self._subscribers:
                self._publish(event)
            for handler in self._call_handlers:
                try:
                    handler(event, now)
                except Exception:
                    log.exception("call_event_handler_failed", call_event=type(event).__name__)

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Bind SIP and start the media ticker."""
        c = self.config.sip
        await self.sip.start(c.host, c.port, udp=c.udp, tcp=c.tcp)
        if c.port == 0 and self.sip.udp.local is not None:
            # Port 0 asked for a free port: write the real one into Via and Contact.
            old = self.endpoint.config
            self.endpoint.config = evolve(old, port=self.sip.udp.local[1])
        for directory in (self.config.recordings_dir, self.config.voicemail_dir):
            if Path(directory).is_dir():
                for path in recover_recordings(directory):
                    log.warning("recording_recovered", path=str(path))
        self.engine.wallclock_offset = time.time() - self.sip.now()
        self._clock_offset = self.engine.wallclock_offset
        self.media.start()
        now = self.sip.now()
        self.callbacks.arm(now)
        for trunk in self.config.trunks:
            if trunk.register and trunk.username and trunk.password:
                self.trunk_registrations[trunk.name] = self.endpoint.register(
                    SipUri("sip", None, None, trunk.host, trunk.port),
                    now,
                    user=trunk.username,
                    credentials=(trunk.username, trunk.password),
                    expires=trunk.expires,
                    destination=Destination(trunk.transport, trunk.host, trunk.port),
                )
        self.sip.flush()
        log.info("pbx_started", sip=f"{c.host}:{self.endpoint.config.port}")

    @property
    def port(self) -> int:
        """The SIP port listened on."""
        return self.endpoint.config.port

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopped.set()

    async def close(self) -> None:
        """Stop taking calls, hang up every call with BYE, flush records, stop listening."""
        now = self.sip.now()
        for call_id in list(self.calls.calls):
            self.calls.hangup_call(call_id, now, status=503)
        self._drain_calls(now)
        self.sip.flush()
        await asyncio.sleep(0.1)
        self.media.stop()
        self.engine.recorder.close_all()
        self.sip.close()
        self.store.close()

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
