"""The harness: a pbx application under test on loopback, and the phones that call it.

Theory of operation
-------------------
:class:`Harness` is, like ``pbx.net``, an I/O shell: it owns one asyncio event loop and
runs it only while the test waits — every blocking call (``wait_answered``, ``talk``,
``sleep`` ...) is ``loop.run_until_complete(...)`` of a future that a *waiter* resolves.
So the application, the simulated phones and the test all live on the test's thread:
no threads, no locks, and between waits nothing moves.

On that loop run the :class:`~pbx.app.Application` under test — its SIP port chosen by
the system (``sip.port = 0``; UDP only), RTP from a block of ports picked at random so
that tests in parallel processes rarely meet, store, recordings and voicemail under the
test's ``tmp_path`` — and the simulated phones (:mod:`pbx.testing.phone`), each with its
own SIP port and RTP port pair on 127.0.0.1. One drift-free ticker (deadline
``t0 + k·20 ms``, as :mod:`pbx.net.media` runs the media engine) ticks every phone; after
each tick and each SIP event of a phone the waiters' conditions are checked, and a
waiter whose condition holds resolves its future, which stops the loop.

With ``carrier=TRUNK`` a :class:`~pbx.testing.carrier.SimCarrier` binds its SIP port
first and the trunk of that name is rewritten to point there, so that the application,
built afterwards, dials it; its calls are ticked with the phones.

Records: the CDR and queue-log rows the application writes are read back through its
:class:`~pbx.store.Store`; every call event the application emits is kept in
:attr:`Harness.call_events`.

Closing (also when the test failed) closes the application — which hangs up its calls,
so the CDRs are final — then every phone's sockets, the ticker and the loop.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import structlog
from attrs import evolve

from pbx.acd.distributor import AgentView
from pbx.acd.events import AgentLogin
from pbx.acd.models import AgentState
from pbx.app import Application
from pbx.calls.events import CallEvent, CallStarted
from pbx.config import AppConfig, RtpConfig, load_config
from pbx.net.rtp_udp import DatagramHandler, RtpTransport, bind_from_pool
from pbx.rtp.ports import PortPool, PortsExhaustedError
from pbx.store import Store
from pbx.testing.agent import SimAgent
from pbx.testing.audio import Audio
from pbx.testing.caller import SimCall
from pbx.testing.carrier import SimCarrier, point_trunk
from pbx.testing.errors import SimulationError, WaitTimeout
from pbx.testing.phone import HOST, SimPhone

log = structlog.get_logger(__name__)

TICK = 0.020
DEFAULT_TIMEOUT = 5.0
PORT_BLOCK = 400
"""RTP ports per harness: the first half for the pbx, the second for the phones."""
PORT_RANGE = (10000, 32000)
"""Where the blocks are taken from: below Linux's ephemeral ports (32768–60999)."""

T = TypeVar("T")
E = TypeVar("E")


class _Waiter:
    __slots__ = ("condition", "future")

    def __init__(self, condition: Callable[[], bool], future: asyncio.Future[None]) -> None:
        self.condition = condition
        self.future = future


class Harness:
    """A pbx application started for one test, and the trunk and phones around it.

    ``config`` is an :class:`~pbx.config.AppConfig` or the path of a TOML file; the
    harness overrides where it listens and where it writes. Use it as a context manager
    or call :meth:`close`; the ``pbx_harness`` fixture does this for you.

    ``carrier``: the name of a trunk of the configuration (``"sim"``) whose far end is a
    :class:`~pbx.testing.carrier.SimCarrier` (:attr:`carrier`): it listens on a port of
    its own, and the trunk is pointed there before the application starts, so the
    pbx's outbound calls over that trunk reach it.
    """

    def __init__(
        self,
        config: AppConfig | str | Path,
        *,
        tmp_path: str | Path,
        timeout: float = DEFAULT_TIMEOUT,
        seed: int | None = None,
        carrier: str | None = None,
    ) -> None:
        self.tmp_path = Path(tmp_path)
        self.timeout = timeout
        """Default time-out of every wait, in seconds."""
        self.rng = random.Random(seed if seed is not None else secrets.randbits(64))
        base = self._port_block()
        source = config if isinstance(config, AppConfig) else load_config(config)
        self.phone_ports = PortPool(base + PORT_BLOCK // 2, base + PORT_BLOCK - 1)
        self.phones: list[SimPhone] = []
        self.call_events: list[CallEvent] = []
        """Every call event the application emitted, in order."""
        self.loop_errors: list[dict[str, Any]] = []
        """Exceptions that escaped a callback on the loop (reported by :meth:`close`)."""
        self._pbx_ids: dict[str, str] = {}
        self._waiters: list[_Waiter] = []
        self._closed = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._k = 0
        self.ticks = 0
        self._carrier: SimCarrier | None = None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_loop_error)
        try:
            if carrier is not None:
                # The carrier owns its port before the application dials the trunk.
                self._carrier = SimCarrier(self, carrier)
                self.run(self._carrier._start())
                source = point_trunk(source, carrier, self._carrier.port)
            self.config = evolve(
                source,
                sip=evolve(source.sip, host=HOST, port=0, udp=True, tcp=False),
                http=evolve(source.http, host=HOST, port=0),
                rtp=RtpConfig(base, base + PORT_BLOCK // 2 - 1),
                store_path=str(self.tmp_path / "callcenter.db"),
                recordings_dir=str(self.tmp_path / "recordings"),
                voicemail_dir=str(self.tmp_path / "voicemail"),
            )
            """The configuration the application runs with."""
            self.app = Application(self.config, rng=random.Random(self.rng.getrandbits(64)))
            self.app.on_call_event(self._on_call_event)
            self.run(self.app.start())
        except BaseException:
            if self._carrier is not None:
                self._carrier.close()
            self.loop.close()
            raise
        self._t0 = self.loop.time()
        self._schedule()
        log.info("harness_started", sip=self.app.port, rtp=f"{base}-{base + PORT_BLOCK - 1}")

    def _port_block(self) -> int:
        blocks = (PORT_RANGE[1] - PORT_RANGE[0]) // PORT_BLOCK
        return PORT_RANGE[0] + self.rng.randrange(blocks) * PORT_BLOCK

    # ------------------------------------------------------------------ the loop
    def now(self) -> float:
        """The harness clock (the loop's monotonic time, in seconds)."""
        return self.loop.time()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run the loop until ``awaitable`` is done; return its result."""
        if self._closed:
            raise SimulationError("the harness is closed")
        return self.loop.run_until_complete(awaitable)

    def sleep(self, seconds: float) -> None:
        """Let the pbx and the phones run for ``seconds``."""
        if self._closed:
            raise SimulationError("the harness is closed")
        self.run(asyncio.sleep(seconds))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run ``callback()`` on the loop ``seconds`` from now (when the loop runs)."""

        def fire() -> None:
            try:
                callback()
            finally:
                self.poke()

        return self.loop.call_later(seconds, fire)

    def wait_for(
        self,
        condition: Callable[[], bool],
        timeout: float | None = None,
        what: str = "a condition",
        instead: Callable[[], str] | None = None,
    ) -> None:
        """Run the loop until ``condition()`` is true; :class:`WaitTimeout` after ``timeout``.

        The condition is checked after every tick and every SIP event of a phone; the
        error says ``what`` was awaited and, from ``instead()``, what happened.
        """
        if condition():
            return
        timeout = self.timeout if timeout is None else timeout
        future: asyncio.Future[None] = self.loop.create_future()
        waiter = _Waiter(condition, future)
        self._waiters.append(waiter)
        try:
            self.run(asyncio.wait_for(future, timeout))
        except TimeoutError:
            raise WaitTimeout(what, timeout, instead() if instead is not None else "") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def poke(self) -> None:
        """Check the waiters' conditions now (after anything changed)."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            try:
                if waiter.condition():
                    waiter.future.set_result(None)
            except Exception as exc:
                waiter.future.set_exception(exc)

    def _schedule(self) -> None:
        self._k += 1
        deadline = self._t0 + self._k * TICK
        now = self.loop.time()
        if deadline < now - 5 * TICK:
            # The loop did not run (the test was busy): skip ahead, phones hear silence.
            missed = int((now - self._t0) / TICK) + 1 - self._k
            self._k += missed
            for phone in self.phones:
                phone.skip(missed, now)
            deadline = self._t0 + self._k * TICK
        self._tick_handle = self.loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        self.ticks += 1
        for phone in self.phones:
            try:
                phone.tick(now)
            except Exception as exc:
                # Keep ticking the others; close() reports it as the test's failure.
                log.exception("sim_phone_tick_failed", phone=phone.describe())
                self.loop_errors.append({"message": "phone tick failed", "exception": exc})
        self._schedule()
        self.poke()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.loop_errors.append(context)
        loop.default_exception_handler(context)

    def _on_call_event(self, event: CallEvent, now: float) -> None:
        self.call_events.append(event)
        if isinstance(event, CallStarted):
            leg = self.app.endpoint.legs.get(event.leg)
            if leg is not None:
                self._pbx_ids[leg.call_id] = event.call
        self.poke()

    async def bind_rtp(self, on_rtp: DatagramHandler, on_rtcp: DatagramHandler) -> RtpTransport:
        """Bind an RTP/RTCP port pair for a phone from the harness's block; when other
        programs hold every pair of it, from another block picked at random."""
        try:
            return await bind_from_pool(self.phone_ports, HOST, on_rtp, on_rtcp)
        except PortsExhaustedError:
            for _ in range(8):
                base = self._port_block()
                pool = PortPool(base + PORT_BLOCK // 2, base + PORT_BLOCK - 1)
                try:
                    transport = await bind_from_pool(pool, HOST, on_rtp, on_rtcp)
                except PortsExhaustedError:
                    continue
                log.info("harness_phone_ports_moved", ports=f"{pool.start}-{pool.end}")
                self.phone_ports = pool
                return transport
            raise

    def new_rng(self) -> random.Random:
        """A random generator for one phone's ids, seeded from the harness's."""
        return random.Random(self.rng.getrandbits(64))

    # ------------------------------------------------------------------ phones
    def call(
        self,
        did: str,
        caller_id: str = "5551234",
        name: str | None = None,
        *,
        audio: Audio = None,
        dtmf_mode: str = "rfc4733",
        headers: list[tuple[str, str]] | None = None,
    ) -> SimCall:
        """A caller dialling ``did`` over the carrier trunk; returns once the INVITE left.

        ``audio``: what the caller says once the call is answered — a :class:`Tone`,
        :data:`silence` (``None``), a sound file, or int16 samples at 8 kHz.
        ``dtmf_mode``: how :meth:`SimCall.send_dtmf` sends digits (``rfc4733``,
        ``inband``, ``info``). ``headers``: extra INVITE headers.
        """
        phone = SimCall(
            self,
            did,
            caller_id=caller_id,
            name=name,
            audio=audio,
            dtmf_mode=dtmf_mode,
            headers=headers,
        )
        self._add(phone)
        phone._dial()
        return phone

    def agent(
        self,
        extension: str,
        password: str | None = None,
        *,
        auto_answer: bool = True,
        answer_after: float = 0.5,
        reject_with: int | None = None,
        audio: Audio = None,
        timeout: float | None = None,
    ) -> SimAgent:
        """An agent's phone registering ``extension`` (password: from the configuration
        when not given); returns once the registration was accepted.

        ``auto_answer``: answer every call ``answer_after`` seconds after it rings;
        ``reject_with``: refuse every call with this status (486 Busy Here ...) instead.
        """
        if password is None:
            user = self.config.user(extension)
            if user is None:
                raise SimulationError(f"extension {extension} is not configured; give a password")
            password = user.password
        phone = SimAgent(
            self,
            extension,
            password,
            auto_answer=auto_answer,
            answer_after=answer_after,
            reject_with=reject_with,
            audio=audio,
        )
        self._add(phone)
        phone._register()
        phone.wait_registered(timeout)
        return phone

    def _add(self, phone: SimPhone) -> None:
        if self._closed:
            raise SimulationError("the harness is closed")
        self.run(phone._start())
        self.phones.append(phone)

    @property
    def carrier(self) -> SimCarrier:
        """The simulated carrier behind the trunk named by ``carrier=`` (the far end of
        the pbx's outbound calls); :class:`SimulationError` when there is none."""
        if self._carrier is None:
            raise SimulationError(
                "this harness has no carrier: start it with Harness(..., carrier=TRUNK)"
            )
        return self._carrier

    # ------------------------------------------------------------------ records
    @property
    def store(self) -> Store:
        """The application's :class:`~pbx.store.Store`."""
        return self.app.store

    def cdrs(self, **where: Any) -> list[dict[str, Any]]:
        """CDR rows matching every ``column=value`` (``disposition="answered"`` ...)."""
        return list(self.app.store.cdrs(**where))

    def events(self, **where: Any) -> list[dict[str, Any]]:
        """Queue-log rows matching every ``column=value`` (``event="CONNECT"`` ...)."""
        return list(self.app.store.events(**where))

    def voicemails(self, mailbox: str | None = None) -> list[dict[str, Any]]:
        """Voicemail messages (all, or of ``mailbox``), oldest first."""
        if mailbox is None:
            return list(self.app.store.query("SELECT * FROM voicemail ORDER BY id"))
        return list(
            self.app.store.query("SELECT * FROM voicemail WHERE mailbox=? ORDER BY id", [mailbox])
        )

    def callbacks(self, status: str | None = None) -> list[dict[str, Any]]:
        """Rows of the store's ``callback`` table (all, or those with ``status``:
        ``pending``, ``dialing``, ``done``, ``failed``), oldest first."""
        if status is None:
            return list(self.app.store.query("SELECT * FROM callback ORDER BY id"))
        return list(
            self.app.store.query("SELECT * FROM callback WHERE status=? ORDER BY id", [status])
        )

    def wait_for_cdr(
        self,
        call: str | SimCall | Callable[[dict[str, Any]], bool],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Wait until the CDR row of ``call`` is final (its call ended); return it.

        ``call``: a simulated caller, a SIP Call-ID or pbx call id, or a predicate on
        rows (the first final row it accepts is returned).
        """
        if isinstance(call, SimCall):
            call = call.sip_call_id
        matches: Callable[[dict[str, Any]], bool]
        if isinstance(call, str):
            wanted = call

            def by_id(row: dict[str, Any]) -> bool:
                return wanted in (row.get("call_id"), row.get("sip_call_id"))

            matches = by_id
            what = f"the CDR of call {wanted}"
        else:
            matches = call
            what = "a final CDR row matching the predicate"
        found: list[dict[str, Any]] = []

        def final() -> bool:
            for row in self.app.store.cdrs():
                if matches(row) and row["disposition"] != "in_progress":
                    found.append(row)
                    return True
            return False

        def instead() -> str:
            rows = [r for r in self.app.store.cdrs() if matches(r)]
            if not rows:
                return "no such CDR row"
            return f"its disposition is still {rows[-1]['disposition']!r}"

        self.wait_for(final, timeout, what, instead)
        return found[0]

    def wait_for_event(
        self,
        kind: type[E],
        timeout: float | None = None,
        *,
        after: int = 0,
        **fields: Any,
    ) -> E:
        """Wait for a call event of type ``kind`` whose attributes equal ``fields``
        (e.g. ``wait_for_event(DigitReceived, digit="5")``); return it. ``after``: skip
        events before this index of :attr:`call_events`."""
        found: list[E] = []

        def seen() -> bool:
            for event in self.call_events[after:]:
                if isinstance(event, kind) and all(
                    getattr(event, k, None) == v for k, v in fields.items()
                ):
                    found.append(event)
                    return True
            return False

        def instead() -> str:
            names = [type(e).__name__ for e in self.call_events[after:]]
            return f"events seen: {', '.join(names) or 'none'}"

        detail = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        self.wait_for(seen, timeout, f"{kind.__name__}({detail})", instead)
        return found[0]

    # ------------------------------------------------------------------ the ACD
    def login(self, *agents: str) -> None:
        """Log ``agents`` in to their queues by API (as ``*1`` does from a phone)."""
        for agent in agents:
            self.app.queues.feed(AgentLogin(agent), self.now())
        self.app.sip.flush()

    def agent_state(self, agent: str) -> AgentView:
        """The ACD's live view of ``agent`` (state, reason, current call ...)."""
        for view in self.app.queues.snapshot(self.now()).agents:
            if view.id == agent:
                return view
        raise SimulationError(f"agent {agent} is not known to the ACD")

    def wait_agent_state(
        self, agent: str, state: AgentState, timeout: float | None = None
    ) -> AgentView:
        """Wait until the ACD has ``agent`` in ``state``; return the view."""
        self.wait_for(
            lambda: self.agent_state(agent).state is state,
            timeout,
            f"agent {agent} to be {state.name}",
            lambda: f"it is {self.agent_state(agent).state.name}",
        )
        return self.agent_state(agent)

    def wait_for_queue_event(
        self, event: str, timeout: float | None = None, **where: Any
    ) -> dict[str, Any]:
        """Wait until a queue-log row ``event`` (with ``column=value`` of ``where``) is
        written; return the first such row."""
        found: list[dict[str, Any]] = []

        def logged() -> bool:
            rows = self.events(event=event, **where)
            if rows:
                found.append(rows[0])
            return bool(rows)

        self.wait_for(
            logged,
            timeout,
            f"queue-log row {event} {where or ''}".strip(),
            lambda: "rows so far: " + ", ".join(r["event"] for r in self.events()),
        )
        return found[0]

    def set_prompt(self, name: str, samples: npt.NDArray[np.int16]) -> None:
        """Replace prompt ``name`` in the pbx's cache (a shorter menu for a time-out
        test ...); int16 samples at 8 kHz."""
        self.app.engine.prompts.add(name, np.asarray(samples, dtype=np.int16))

    def prompt(self, name: str) -> npt.NDArray[np.int16]:
        """The samples of prompt ``name`` as the pbx plays it."""
        return self.app.engine.prompts.get(name)

    def pbx_call_id(self, sip_call_id: str) -> str | None:
        """The pbx's call id for the INVITE with ``sip_call_id``, once routed."""
        return self._pbx_ids.get(sip_call_id)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Close the application (its calls hung up, records final), every phone and the
        loop. Safe to call twice; raises :class:`AssertionError` afterwards when a
        callback on the loop failed during the test."""
        if self._closed:
            return
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.app.close())
        finally:
            self._closed = True
            if self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None
            for phone in self.phones:
                phone.close()
            if self._carrier is not None:
                self._carrier.close()
            for waiter in self._waiters:
                waiter.future.cancel()
            self._waiters.clear()
            self._drain()
            self.loop.close()
        if self.loop_errors:
            messages = "; ".join(
                str(c.get("exception") or c.get("message")) for c in self.loop_errors
            )
            raise AssertionError(f"errors on the harness loop during the test: {messages}")

    def _drain(self) -> None:
        """Let closed transports run their last callbacks before the loop closes."""
        loop = self.loop

        async def settle() -> None:
            for _ in range(3):
                await asyncio.sleep(0)

        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        coro: Coroutine[Any, Any, None] = settle()
        loop.run_until_complete(coro)
        loop.run_until_complete(loop.shutdown_asyncgens())

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
