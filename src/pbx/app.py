"""The composition root: builds the cores from an :class:`~pbx.config.AppConfig` and runs them.

``Application`` owns the SIP endpoint (with its registrar and digest authenticator for
the configured users), the media engine, the call manager with its dial plan and
modules (voicemail; the ACD and IVR plug in the same way), the SQLite store, and the
network services that pump them: :class:`~pbx.net.pump.SipService` for SIP and
:class:`~pbx.net.media.MediaService` for RTP and the 20 ms tick.

Requests are classified once, on arrival (:meth:`Application.trust`): a request from
the source address of a registered user is that user's and must authenticate; anything
else from the trusted networks is a carrier trunk (the configured trunk with that host,
else ``local``); everything else must authenticate as a user or is refused.

The constructor is the composition root: every part gets its collaborators when it is
built, and the :class:`~pbx.net.pump.CallRouter` routes events between them — each
target kind to its module (queue, feature codes, operator, IVR, voicemail), every call
event to the modules that follow calls, registrations to the queues.

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
from zoneinfo import ZoneInfo

import structlog
from attrs import evolve

from pbx.acd.actions import AcdAction
from pbx.acd.distributor import Distributor
from pbx.api.hub import EventHub
from pbx.api.metrics import Metrics
from pbx.api.publish import EventPublisher
from pbx.api.server import HttpService
from pbx.api.webhooks import Webhooks
from pbx.calls.callbacks import CallbackScheduler
from pbx.calls.campaigns import CampaignService
from pbx.calls.conference import Conferences
from pbx.calls.consult import Consultations
from pbx.calls.dialplan import Dialplan
from pbx.calls.events import CallEvent
from pbx.calls.ivr_service import IvrService
from pbx.calls.mailbox import MailboxMenu
from pbx.calls.manager import CallManager, TargetHandler
from pbx.calls.originate import ClickToCall
from pbx.calls.queues import QueueService, agent_configs
from pbx.calls.voicemail import Voicemail
from pbx.config import AppConfig, check_config
from pbx.dialer.compliance import DncRegistry
from pbx.dialer.dialer import Dialer
from pbx.errors import ConfigError, LocalProtocolError
from pbx.ivr.lookups import LookupService, demo_balance
from pbx.media.engine import MediaEngine
from pbx.media.prompts import PlayItem, PromptItem
from pbx.media.recorder import recover_recordings
from pbx.net.media import MediaService
from pbx.net.pump import CallRouter, SipService
from pbx.net.sip_stream import TcpLimits
from pbx.net.sip_ws import WsLimits
from pbx.plugins import load_object, make_strategy
from pbx.rtp.ports import PortPool
from pbx.sip import auth
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.message import Request
from pbx.sip.registration import LocationService, Registrar
from pbx.sip.session_timer import SessionTimerConfig
from pbx.sip.timers import TimerConfig
from pbx.sip.transport import Destination
from pbx.sip.uri import SipUri
from pbx.store import Store

log = structlog.get_logger(__name__)

CallEventHandler = Callable[[CallEvent, float], None]


def endpoint_config(config: AppConfig, timers: TimerConfig | None = None) -> EndpointConfig:
    """The SIP endpoint's settings from the ``[sip]`` section."""
    sip = config.sip
    return EndpointConfig(
        host=sip.host,
        port=sip.port,
        user_agent=sip.user_agent,
        timers=timers or TimerConfig(),
        trace=sip.trace,
        session_timer=(
            SessionTimerConfig(sip.session_expires, sip.session_min_se)
            if sip.session_expires
            else None
        ),
    )


def callback_zone(config: AppConfig) -> ZoneInfo | None:
    """The zone of clock-time callback slots: ``[callbacks]``'s, else the reports'."""
    name = config.callbacks.timezone or config.reports.timezone
    return ZoneInfo(name) if name else None


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
        self._music = self._load_music(config)
        check_config(config, self.engine.prompts.__contains__)
        self.rng = rng or random.Random(secrets.randbits(64))
        self._networks = [ipaddress.ip_network(n) for n in config.sip.trusted_networks]
        self.location = LocationService()
        users = {u.extension: u for u in config.users}
        self.registrar = Registrar(self.location, lambda user: user in users)
        self.authenticator = auth.DigestAuthenticator(
            realm=config.sip.realm,
            lookup=lambda user: users[user].password if user in users else None,
            nonces=auth.NonceManager(secret=secrets.token_bytes(32)),
            algorithms=config.sip.auth_algorithms,
        )
        self.endpoint = SipEndpoint(
            endpoint_config(config, timers),
            self.rng,
            registrar=self.registrar,
            authenticator=self.authenticator,
            trust=self.trust,
        )
        self.store = Store(config.store_path, recordings=config.recordings_dir)
        self.media = MediaService(
            self.engine,
            PortPool(config.rtp.port_min, config.rtp.port_max),
            config.sip.host,
            self._on_media_events,
        )
        self.calls = self._call_manager()
        self.voicemail = Voicemail(
            self.calls,
            Path(config.voicemail_dir),
            max_seconds=config.voicemail_max_seconds,
            wall=self.wall,
        )
        self.conferences = Conferences(
            self.calls, config.conferences, Path(config.recordings_dir), wall=self.wall
        )
        self.mailboxes = MailboxMenu(self.calls, self.voicemail, users, wall=self.wall)
        self.trunk_registrations: dict[str, str] = {}
        self.hub, self.metrics, self.publisher = self._event_stream()
        self.acd = Distributor(
            config.queues.values(),
            agent_configs(config.users),
            rng=self.rng,
            strategies={
                name: make_strategy(spec, f"{config.source}: strategies.{name}", self.rng)
                for name, spec in config.strategies.items()
            },
            device_grace=config.device_grace,
        )
        self.dialer = Dialer(config.campaigns.values(), wall=self.wall, dnc=DncRegistry(config.dnc))
        self.campaigns = CampaignService(
            self.calls,
            self.dialer,
            config.campaigns,
            self.store,
            self.wall,
            agent_queues=self.agent_queues,
            listeners=[self.publisher.dialer_action],
        )
        self.queues = QueueService(
            self.calls,
            self.acd,
            users,
            store=self.store,
            wall=self.wall,
            rng=self.rng,
            listeners=[self._publish_action, self.publisher.acd_action, self.campaigns.acd_action],
            campaign_wrap_up={name: c.wrap_up for name, c in config.campaigns.items()},
            callback_trunk=config.callbacks.trunk,
            callback_caller_id=config.callbacks.caller_id,
        )
        functions = {
            name: load_object(spec, f"{config.source}: lookups.functions.{name}")
            for name, spec in config.lookup_functions.items()
        }
        self.lookups = LookupService(
            {"demo_balance": demo_balance, **functions}, dict(config.lookup_databases)
        )
        self.ivr = IvrService(
            self.calls,
            {name: ivr.graph for name, ivr in config.ivr.items()},
            self.lookups,
            store=self.store,
            recordings=Path(config.voicemail_dir),
            submit=self._submit,
            wall=self.wall,
            callback_zone=callback_zone(config),
        )
        cb = config.callbacks
        self.callbacks = CallbackScheduler(
            self.calls,
            self.store,
            wall=self.wall,
            retry_after=cb.retry_after,
            attempts=cb.attempts,
            trunk=cb.trunk,
            caller_id=cb.caller_id,
        )
        self.click_to_call = ClickToCall(self.calls)
        self.consultations = Consultations(self.calls)
        self.router = self._router()
        self.sip = self._sip_service()
        self.http = HttpService(self, self.hub, self.metrics) if config.http.enabled else None
        self._stopped = asyncio.Event()
        self._subscribers: set[asyncio.Queue[object]] = set()
        self._clock_offset = time.time() - time.monotonic()

    # -- composition -------------------------------------------------------------------
    def _event_stream(self) -> tuple[EventHub, Metrics, EventPublisher]:
        """The API's numbered event stream (with the webhook outbox tapping it), its
        metrics, and what feeds it."""
        config = self.config
        self.webhooks = Webhooks(
            config.http.webhooks, self.store, lambda: self.wall(self.sip.now())
        )
        hub = EventHub(
            config.http.replay,
            agent_queues=self.agent_queues,
            taps=[self.webhooks.on_event],
        )
        metrics = Metrics(self)
        publisher = EventPublisher(
            hub,
            metrics,
            self.calls,
            self.wall,
            crm_url=config.http.crm_url,
            dispositions={name: q.dispositions for name, q in config.queues.items()},
            campaign_dispositions={n: c.dispositions for n, c in config.campaigns.items()},
        )
        return hub, metrics, publisher

    def _call_manager(self) -> CallManager:
        """Calls over the endpoint and the media engine, with the dial plan and trunks."""
        config = self.config
        return CallManager(
            self.endpoint,
            self.engine,
            self.media,
            Dialplan(config.dialplan),
            location=self.location,
            store=self.store,
            rng=self.rng,
            wall=self.wall,
            trunks={trunk.name: trunk for trunk in config.trunks},
            ring_timeout=config.ring_timeout,
            inband_dtmf=config.inband_dtmf,
            media_timeout=config.rtp.inactivity_timeout,
            recordings=Path(config.recordings_dir),
            music_classes=self._music,
        )

    def _sip_service(self) -> SipService:
        """SIP over UDP, TCP and WebSocket (served by the HTTP server), pumping every core
        with deadlines through the router."""
        return SipService(
            self.endpoint,
            self.router.on_sip,
            timers=[
                self.calls,
                self.voicemail,
                self.conferences,
                self.mailboxes,
                self.queues,
                self.ivr,
                self.callbacks,
                self.campaigns,
            ],
            tcp_limits=TcpLimits.from_config(self.config.sip),
            drain=self.router.drain,
            ws_limits=WsLimits.from_config(self.config.sip),
        )

    def _router(self) -> CallRouter:
        """Each target kind to its module; every call event to the modules that follow
        calls (and the event stream first); registrations to the queues."""
        return CallRouter(
            self.calls,
            routes={
                "queue": self.queues.start,
                "feature": self.queues.feature,
                "operator": self.queues.operator,
                "ivr": self.ivr.start,
                "voicemail": self.voicemail.start,
                "conference": self.conferences.start,
                "mailbox": self.mailboxes.start,
                "app:preview": self.campaigns.feature,
            },
            subscribers=[
                self._publish_call_event,
                self.publisher.call_event,
                self.voicemail.handle,
                self.conferences.handle,
                self.mailboxes.handle,
                self.queues.handle_call_event,
                self.ivr.handle_call_event,
                self.callbacks.handle_call_event,
                self.click_to_call.handle_call_event,
                self.consultations.handle_call_event,
                self.campaigns.handle_call_event,
            ],
            device_watchers=[self.queues.handle_sip_event],
        )

    def agent_queues(self, agent: str) -> tuple[str, ...]:
        """The queues ``agent`` is a member of now (run-time changes included)."""
        try:
            return tuple(m.queue for m in self.acd.agent(agent).config.queues)
        except LocalProtocolError:
            user = self.config.user(agent)
            return user.queues if user is not None else ()

    def wall(self, now: float) -> float:
        """Wall-clock time for a loop time (the loop's clock is monotonic)."""
        return now + self._clock_offset

    def _load_music(self, config: AppConfig) -> dict[str, tuple[PlayItem, ...]]:
        """Each ``[music.CLASS]``'s files as prompts ``music/CLASS/NAME``, in order."""
        classes: dict[str, tuple[PlayItem, ...]] = {}
        for name, files in config.music.items():
            items: list[PlayItem] = []
            for file in files:
                prompt = f"music/{name}/{Path(file).stem}"
                try:
                    self.engine.prompts.load(prompt, file)
                except ConfigError as exc:
                    raise ConfigError(f"{config.source}: music.{name}.dir: {exc}") from None
                items.append(PromptItem(prompt))
            classes[name] = tuple(items)
        return classes

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

    def _submit(
        self, work: Callable[[], Any], done: Callable[[Any, float], None], now: float
    ) -> None:
        """Run blocking ``work`` (HTTP/SQL lookups) on a worker thread; ``done`` on the
        loop, stamped with the time the work finished."""
        future = self.sip.loop.run_in_executor(None, work)

        def finished(f: asyncio.Future[Any]) -> None:
            try:
                result = f.result()
            except Exception as exc:  # the lookup itself reports failures as values
                log.warning("lookup_failed", error=str(exc))
                return
            finished_at = self.sip.now()
            done(result, finished_at)
            self.sip.flush(finished_at)

        future.add_done_callback(finished)

    def route(self, kind: str, handler: TargetHandler) -> None:
        """Run ``handler(manager, call, leg, now)`` for calls routed to target ``kind``
        (``queue``, ``ivr``, ``app:NAME`` ...)."""
        self.router.route(kind, handler)

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

    def _publish_action(self, action: AcdAction, now: float) -> None:
        self._publish(action)

    def _publish_call_event(self, event: CallEvent, now: float) -> None:
        if self._subscribers:
            self._publish(event)

    def _publish(self, event: object) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("event_subscriber_lagging", dropped=type(event).__name__)

    def on_call_event(self, handler: CallEventHandler) -> None:
        """Call ``handler(event, now)`` for every call event (screen pops, wallboards)."""
        self.router.subscribe(handler)

    # -- policy ------------------------------------------------------------------------
    def trust(self, request: Request, source: Destination, now: float) -> str | None:
        """The trunk a request comes from — the trusted networks, not the address of a
        registered user — or None: it must authenticate. Decided once per request.
        A WebSocket is a browser's, never a carrier's."""
        if source.transport in ("WS", "WSS"):
            return None
        try:
            addr = ipaddress.ip_address(source.host)
        except ValueError:
            return None
        if not any(addr in net for net in self._networks):
            return None
        if self.location.find_by_source(source, now) is not None:
            return None
        return self.trunk_name(source)

    def trunk_name(self, source: Destination) -> str:
        """The configured trunk whose host a request came from, else ``local``."""
        for trunk in self.config.trunks:
            if trunk.host == source.host:
                return trunk.name
        return "local"

    # -- events ------------------------------------------------------------------------
    def _on_media_events(self, events: list[object], now: float) -> None:
        self.router.on_media(events, now)
        self.sip.flush(now)

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
        self.queues.restore_agents(now)
        self.campaigns.restore(now)
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
        if self.http is not None:
            await self.http.start(self.config.http.host, self.config.http.port)
        self.webhooks.start()
        http = f"{self.config.http.host}:{self.http_port}" if self.http is not None else "off"
        log.info("pbx_started", sip=f"{c.host}:{self.endpoint.config.port}", http=http)

    def health(self) -> dict[str, Any]:
        """SIP, the media tick and the store, for ``/api/health`` and monitoring."""
        media = self.media
        p50, p99 = media.tick_percentiles()
        try:
            self.store.query("SELECT 1")
            store = "ok"
        except Exception as exc:
            store = f"failing: {exc}"
        ticking = media.ticks > 0
        return {
            "status": "ok" if store == "ok" and ticking else "degraded",
            "sip": {"port": self.port, "calls": len(self.calls.calls)},
            "media": {
                "ticking": ticking,
                "ticks": media.ticks,
                "late_ticks": media.late_ticks,
                "tick_p50_ms": round(p50 * 1000, 3),
                "tick_p99_ms": round(p99 * 1000, 3),
            },
            "store": {"status": store, "errors": self.calls.store_errors},
        }

    @property
    def http_port(self) -> int | None:
        """The HTTP port listened on (None: no HTTP)."""
        return self.http.port if self.http is not None else None

    @property
    def port(self) -> int:
        """The SIP port listened on."""
        return self.endpoint.config.port

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopped.set()

    async def close(self) -> None:
        """Stop taking calls, hang up every call with BYE, log the agents off (reason
        ``shutdown``), flush records, stop listening."""
        if self.http is not None:
            await self.http.close()
        await self.webhooks.close()
        now = self.sip.now()
        for call_id in list(self.calls.calls):
            self.calls.hangup_call(call_id, now, status=503)
        self.sip.flush(now)
        try:
            # The agents still logged in are logged off: their sessions end at the stop.
            self.store.close_sessions(self.wall(now), reason="shutdown")
        except Exception:
            log.exception("store_close_sessions_failed")
        await asyncio.sleep(0.1)
        self.media.stop()
        self.engine.recorder.close_all()
        self.sip.close()
        self.store.close()

    async def run(self) -> None:
        """Start, serve until SIGINT/SIGTERM or :meth:`stop`, then shut down cleanly."""
        loop = asyncio.get_running_loop()
        # Before listening: a signal that arrives as soon as SIP answers still stops cleanly.
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await self.start()
            await self._stopped.wait()
        finally:
            log.info("pbx_stopping")
            await self.close()
