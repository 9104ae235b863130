"""The simulated carrier: the far end of an outbound trunk, answering the pbx's calls.

Theory of operation
-------------------
A :class:`SimCarrier` stands in for the carrier behind one trunk of the configuration
(``[trunks.sim]``): the :class:`~pbx.testing.harness.Harness` binds its SIP port on
127.0.0.1 before it builds the application and points the trunk there, so every call
the pbx places over that trunk — a campaign's, a callback, a transfer to a number —
arrives at the carrier as an INVITE, exactly as at a real one.

The carrier is one SIP user agent (a :class:`~pbx.sip.endpoint.SipEndpoint` run by a
:class:`~pbx.net.pump.SipService`) on one port. Each INVITE becomes a
:class:`CarrierCall`: a :class:`~pbx.testing.phone.SimPhone` that shares the carrier's
user agent and has an RTP port pair of its own, so it hears and speaks through the same
machinery as the simulated callers (20 ms ticks, G.711, RFC 4733 DTMF, the prompt
fingerprints of :meth:`~pbx.testing.phone.SimPhone.assert_heard_prompt`).

What the called party does is a small frozen value chosen per called number
(:meth:`SimCarrier.set_behaviour`; :attr:`SimCarrier.default` for the others):

* :class:`Person` — rings, answers, says a short "hello?" (:class:`~pbx.testing.audio.
  Speech`), then listens: answering-machine detection hears a person (a short greeting,
  then silence); it presses digits (:class:`Press`) at given times after the answer or
  after hearing a prompt, and may hang up;
* :class:`Machine` — answers and plays a long greeting, then a beep, then records in
  silence: detection hears a machine and the greeting's end at the beep;
* :class:`Busy` (486 Busy Here), :class:`Reject` (603 Decline, or any status),
  :class:`Unallocated` (404 Not Found) — refused, at once or after ringing;
* :class:`NoAnswer` — 180 Ringing until the pbx gives up (CANCEL → 487);
* :class:`AnswerThenHangUp` — answers, says nothing, hangs up (BYE) after a while.

Every call is recorded: the number dialled (the Request-URI user), the caller ID
presented, the final status the carrier gave (200, 486, 404, 487 ...), when it was
answered and ended and by whom, what it heard, the digits it pressed. Numbers are
compared by their digits only (``+1 212-555-0123`` is ``12125550123``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import structlog
from attrs import evolve, field, frozen

from pbx.calls.identity import caller_identity, dialled_number
from pbx.config import AppConfig
from pbx.errors import ConfigError
from pbx.net.pump import SipService
from pbx.sip import events as sip
from pbx.sip.endpoint import EndpointConfig, SipEndpoint
from pbx.sip.message import Request
from pbx.sip.offer_answer import OfferAnswerError
from pbx.sip.sdp import SdpParseError
from pbx.testing.audio import SAMPLE_RATE, Audio, Speech, Tone
from pbx.testing.errors import SimulationError
from pbx.testing.phone import DTMF_MODES, HOST, Pcm, PromptWatch, SimPhone

if TYPE_CHECKING:
    from pbx.testing.harness import Harness

__all__ = [
    "AnswerThenHangUp",
    "Behaviour",
    "Busy",
    "CarrierCall",
    "Machine",
    "NoAnswer",
    "Person",
    "Press",
    "Reject",
    "SimCarrier",
    "Unallocated",
    "default_trunk",
    "number_key",
    "point_trunk",
]

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 0.3
"""How long an ended call still listens: the audio sent before the BYE is heard."""


# ---------------------------------------------------------------------------- behaviours


@frozen
class Press:
    """Digits a :class:`Person` presses during the call."""

    digits: str
    at: float = 0.0
    """Seconds after the answer — or, with ``after_prompt``, after the prompt was heard."""
    after_prompt: str | None = None
    """A prompt of the pbx's cache (``"en/reminder-menu"``): wait until it was heard to
    its end (matched by its fingerprint), then ``at`` seconds more."""
    mode: str = "rfc4733"
    """``rfc4733`` or ``inband`` (``info`` too: one SIP INFO per digit)."""

    def __attrs_post_init__(self) -> None:
        if self.mode not in DTMF_MODES:
            raise ValueError(f"unknown DTMF mode {self.mode!r} (use {', '.join(DTMF_MODES)})")


def _presses(value: Sequence[Press] | Press) -> tuple[Press, ...]:
    return (value,) if isinstance(value, Press) else tuple(value)


@frozen
class Person:
    """Someone who answers after ``ring`` seconds, says "hello?" for ``greeting``
    seconds (speech-like audio), then is silent — answering-machine detection's person.

    Keep ``greeting`` short (≤ 0.8 s): a longer run of words is what a machine's
    greeting sounds like."""

    ring: float = 1.0
    """Seconds of ringing (180) before the answer."""
    greeting: float = 0.6
    """Seconds of speech right after the answer."""
    press: tuple[Press, ...] = field(default=(), converter=_presses)
    """Digits pressed during the call."""
    hang_up_after: float | None = None
    """Seconds after the answer at which this person hangs up (BYE); None: never."""
    seed: int = 0
    """Which speech-like greeting (see :class:`~pbx.testing.audio.Speech`)."""

    def audio(self) -> Audio:
        """What this person says once the call is answered."""
        return Speech(self.greeting, seed=self.seed)


@frozen
class Machine:
    """An answering machine: answers after ``ring`` seconds, plays a ``greeting`` of
    speech-like audio, then a beep of ``beep_hz`` for ``beep`` seconds, then records
    (silence) — answering-machine detection's machine, its greeting ending at the beep."""

    ring: float = 1.0
    greeting: float = 5.0
    """Seconds of the spoken greeting."""
    beep_hz: float = 1000.0
    beep: float = 0.5
    """Seconds of the beep."""
    hang_up_after: float | None = None
    """Seconds after the answer at which the machine hangs up; None: never."""
    seed: int = 1

    def audio(self) -> Pcm:
        """The greeting and the beep, int16 at 8 kHz."""
        beep = Tone(self.beep_hz, self.beep, level_dbov=-12.0)
        count = round(self.beep * SAMPLE_RATE)
        return np.concatenate(
            [Speech(self.greeting, seed=self.seed).samples(), beep.samples(0, count)]
        )


@frozen
class Reject:
    """Refuse the call with ``status`` (603 Decline by default), after ``ring`` seconds
    of ringing (0: at once)."""

    status: int = 603
    ring: float = 0.0


@frozen
class Busy:
    """486 Busy Here, after ``ring`` seconds of ringing (0: at once)."""

    ring: float = 0.0
    status: ClassVar[int] = 486


@frozen
class Unallocated:
    """404 Not Found: the number does not exist."""

    ring: float = 0.0
    status: ClassVar[int] = 404


@frozen
class NoAnswer:
    """180 Ringing, and never an answer: the pbx gives up (CANCEL, 487)."""


@frozen
class AnswerThenHangUp:
    """Answers after ``ring`` seconds, is silent, and hangs up (BYE) ``after`` seconds
    after the answer."""

    ring: float = 1.0
    after: float = 1.0


Behaviour = Person | Machine | Reject | Busy | Unallocated | NoAnswer | AnswerThenHangUp
"""What the called party of a number does."""

Refusal = Reject | Busy | Unallocated
"""The behaviours that refuse the call with a final status."""


def number_key(number: str) -> str:
    """``number`` as the carrier compares numbers: its digits (and ``*``, ``#``) only."""
    return "".join(c for c in number if c.isdigit() or c in "*#")


def default_trunk(config: AppConfig) -> str:
    """The trunk a carrier stands behind when none is named: the first campaign's, else
    the first configured; :class:`~pbx.errors.ConfigError` when there is no trunk."""
    for campaign in config.campaigns.values():
        return campaign.trunk
    if config.trunks:
        return config.trunks[0].name
    raise ConfigError(f"{config.source}: trunks: none configured for a carrier to stand behind")


def point_trunk(config: AppConfig, trunk: str, port: int) -> AppConfig:
    """``config`` with trunk ``trunk`` sending its calls to ``127.0.0.1:port`` over UDP;
    :class:`~pbx.errors.ConfigError` when there is no such trunk."""
    names = [t.name for t in config.trunks]
    if trunk not in names:
        known = ", ".join(names) or "none"
        raise ConfigError(f"{config.source}: trunks.{trunk}: no such trunk (known: {known})")
    trunks = tuple(
        evolve(t, host=HOST, port=port, transport="UDP") if t.name == trunk else t
        for t in config.trunks
    )
    return evolve(config, trunks=trunks)


# ---------------------------------------------------------------------------- one call


class CarrierCall(SimPhone):
    """One call the pbx placed through the carrier, and what the called party did."""

    def __init__(
        self,
        carrier: SimCarrier,
        event: sip.IncomingCall,
        behaviour: Behaviour,
        now: float,
    ) -> None:
        super().__init__(carrier.harness, None, service=carrier.sip)
        identity = caller_identity(event.request)
        self.carrier = carrier
        self.request: Request = event.request
        """The INVITE (``call.request.headers.get("x-...")``)."""
        self.number = dialled_number(event.request)
        """The number dialled: the Request-URI user."""
        self.caller_id = identity.number
        """The caller ID presented (P-Asserted-Identity, else From)."""
        self.caller_name = identity.name
        self.behaviour = behaviour
        self.leg = event.leg
        self.sip_call_id = event.call_id
        self.label = f"carrier call to {self.number}"
        self.state = "ringing"
        """``ringing``, ``answered`` (200 sent) or ``ended`` (refused, cancelled, hung up)."""
        self.status: int | None = None
        """The final status the carrier gave: 200 when answered, else 486, 404, 603,
        487 (the pbx cancelled) ..."""
        self.confirmed = False
        """True once the pbx acknowledged our 200 (ACK)."""
        self.invited_at = now
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.ended_by: str | None = None
        """``pbx`` (BYE or CANCEL from the pbx) or ``carrier`` (we hung up or refused)."""
        self.dtmf_sent: list[tuple[str, float]] = []
        """Digits pressed, with the harness time each press began."""
        self._offer_sdp = event.sdp
        self._timers: list[asyncio.TimerHandle] = []
        self._watches: list[tuple[PromptWatch, Press]] = []
        self._task: asyncio.Task[None] | None = None
        self.log = log.bind(number=self.number, call_id=self.sip_call_id)

    # ------------------------------------------------------------------ behaviour
    def _begin(self, now: float) -> None:
        """Act on the INVITE as the behaviour says."""
        b = self.behaviour
        if isinstance(b, Refusal):
            if b.ring > 0:
                self.endpoint.ring(self.leg_id, now)
                self._later(b.ring, partial(self._refuse, b.status))
            else:
                self._refuse(b.status, now)
            return
        self.endpoint.ring(self.leg_id, now)
        if isinstance(b, NoAnswer):
            return
        self._task = self.harness.loop.create_task(self._prepare(b.ring))

    async def _prepare(self, ring: float) -> None:
        """Bind the call's RTP port pair while it rings, then answer on time."""
        self.rtp = await self.harness.bind_rtp(self._on_rtp, self._on_rtcp)
        if self.state != "ringing":
            if self._closed:  # ended and closed while the port was being bound
                self.rtp.close()
            return
        delay = max(0.0, self.invited_at + ring - self.harness.now())
        self._later(delay, self._answer)

    def _answer(self) -> None:
        if self.state != "ringing":
            return
        now = self.harness.now()
        self.stream = self._new_stream()
        try:
            sdp = self._sdp_answer(self._offer_sdp)
        except (SdpParseError, OfferAnswerError) as exc:
            self.log.warning("sim_carrier_bad_offer", reason=str(exc))
            self._refuse(488, now)
            return
        self.endpoint.answer(self.leg_id, sdp, now)
        self.state = "answered"
        self.status = 200
        self.answered_at = now
        self._sending = True
        b = self.behaviour
        hang_up: float | None = None
        if isinstance(b, (Person, Machine)):
            self.play(b.audio())
            hang_up = b.hang_up_after
        elif isinstance(b, AnswerThenHangUp):
            hang_up = b.after
        if hang_up is not None:
            self._later(hang_up, self._hang_up_now)
        if isinstance(b, Person):
            for press in b.press:
                if press.after_prompt is None:
                    self._later(press.at, partial(self._press, press))
                else:
                    samples = self.harness.app.engine.prompts.get(press.after_prompt)
                    origin = self.heard_timeline.frames
                    self._watches.append(
                        (PromptWatch(self.heard_timeline, samples, origin=origin), press)
                    )
        self.log.info("sim_carrier_answered", behaviour=type(b).__name__)
        self.sip.flush()

    def _refuse(self, status: int, now: float | None = None) -> None:
        if self.state != "ringing":
            return
        now = self.harness.now() if now is None else now
        self.endpoint.reject(self.leg_id, status, now)
        self.status = status
        self.log.info("sim_carrier_refused", status=status)
        self._finish("carrier", now)
        self.sip.flush()

    def _press(self, press: Press) -> None:
        if self.state != "answered" or not self._sending:
            return
        self.dtmf_sent.append((press.digits, self.harness.now()))
        self.log.info("sim_carrier_dtmf", digits=press.digits, mode=press.mode)
        self._queue_dtmf(press.digits, press.mode)

    def _hang_up_now(self) -> None:
        if self.ended or self.leg_id not in self.endpoint.legs:
            return
        now = self.harness.now()
        self.endpoint.hangup(self.leg_id, now)
        self.ended_by = "carrier"
        self.sip.flush()
        if self.leg_id not in self.endpoint.legs and not self.ended:
            self._finish("carrier", now)

    def _later(self, seconds: float, callback: Callable[[], None]) -> None:
        self._timers.append(self.harness.call_later(seconds, callback))

    def _finish(self, by: str, now: float) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self.ended_by = self.ended_by or by
        self.ended_at = now
        self._sending = False
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._watches.clear()
        self.log.info("sim_carrier_call_ended", status=self.status, by=self.ended_by)
        # Hear what was still in flight or in the jitter buffer (the end of the pbx's
        # last prompt, sent just before its BYE), then close the RTP port pair; the
        # carrier's SIP port stays open.
        self.harness.loop.call_later(DRAIN_SECONDS, self.close)

    # ------------------------------------------------------------------ SIP
    def on_sip(self, event: sip.EndpointEvent, now: float) -> None:
        if isinstance(event, sip.CallConfirmed):
            self.confirmed = True
        elif isinstance(event, sip.CallCancelled):
            self.status = 487
            self._finish("pbx", now)
        elif isinstance(event, sip.DialogEnded):
            self._finish("pbx" if event.by == "remote" else "carrier", now)
        elif isinstance(event, sip.InDialogRequest):
            self._answer_in_dialog(event, now)
        elif isinstance(event, (sip.RequestAnswered, sip.RequestFailed)):
            self._on_request_answered(event)

    @property
    def leg_id(self) -> str:
        """The SIP leg of this call in the carrier's user agent."""
        assert self.leg is not None
        return self.leg

    # ------------------------------------------------------------------ the 20 ms tick
    def tick(self, now: float) -> None:
        """Hear and say one frame while the call lasts; look for awaited prompts."""
        if self._closed:
            return
        super().tick(now)
        for watch, press in list(self._watches):
            if watch.check():
                self._watches.remove((watch, press))
                self._later(press.at, partial(self._press, press))

    def skip(self, ticks: int, now: float) -> None:
        if not self._closed:
            super().skip(ticks, now)

    # ------------------------------------------------------------------ the test's view
    @property
    def answered(self) -> bool:
        """True once the carrier answered (and until the call ends)."""
        return self.state == "answered"

    @property
    def ended(self) -> bool:
        """True once the call is over (refused, cancelled or hung up)."""
        return self.state == "ended"

    def wait_answered(self, timeout: float | None = None) -> None:
        """Wait until the called party answered; :class:`SimulationError` if the call
        ended without an answer."""
        self.harness.wait_for(
            lambda: self.answered_at is not None or self.ended,
            self._timeout(timeout),
            f"{self.describe()} to be answered",
            self.describe_state,
        )
        if self.answered_at is None:
            raise SimulationError(f"{self.describe()} was not answered: {self.describe_state()}")

    def wait_ended(self, timeout: float | None = None) -> None:
        """Wait until the call is over."""
        self.harness.wait_for(
            lambda: self.ended,
            self._timeout(timeout),
            f"{self.describe()} to end",
            self.describe_state,
        )

    def hang_up(self, timeout: float | None = None) -> None:
        """Hang up now (BYE when answered, 480 while ringing) and wait until it ended."""
        if self.state == "ringing":
            self._refuse(480)
        else:
            self._hang_up_now()
        self.wait_ended(timeout)

    def heard_prompt(
        self,
        prompt: str | Pcm,
        *,
        threshold: float = 0.8,
        first_seconds: float | None = None,
    ) -> bool:
        """Whether ``prompt`` (a name in the pbx's prompt cache, or samples; only its
        first ``first_seconds`` when given) is in what this call heard so far — at once,
        without waiting (see :meth:`~pbx.testing.phone.SimPhone.assert_heard_prompt` to
        wait for it)."""
        _, samples = self.prompt_samples(prompt)
        if first_seconds is not None:
            samples = samples[: round(first_seconds * SAMPLE_RATE)]
        watch = PromptWatch(self.heard_timeline, samples, threshold=threshold)
        return watch.check(force=True)

    @property
    def digits_pressed(self) -> str:
        """Every digit this call pressed, in order."""
        return "".join(digits for digits, _ in self.dtmf_sent)

    def describe_state(self) -> str:
        if self.state == "ended":
            return f"it ended with {self.status} (by {self.ended_by})"
        if self.state == "answered":
            return f"answered at {self.answered_at:.2f}"
        return "it is ringing"


# ---------------------------------------------------------------------------- the carrier


class SimCarrier:
    """The far end of trunk ``trunk``: answers every INVITE the pbx sends there as the
    behaviour of its number says (:attr:`default` for numbers without one)."""

    def __init__(self, harness: Harness, trunk: str, *, default: Behaviour | None = None) -> None:
        self.harness = harness
        self.trunk = trunk
        """The trunk of the configuration this carrier stands in for."""
        self.default: Behaviour = default if default is not None else Person()
        """What numbers without a behaviour of their own do."""
        self.endpoint = SipEndpoint(
            EndpointConfig(host=HOST, port=0, user_agent="pbx.testing carrier"),
            harness.new_rng(),
        )
        self.sip = SipService(self.endpoint, self._on_sip_event)
        self.calls: list[CarrierCall] = []
        """Every call the pbx placed through the carrier, in order of arrival."""
        self.requests: list[Request] = []
        """Requests outside a call (OPTIONS, REGISTER ...): all answered 200."""
        self._behaviours: dict[str, Behaviour] = {}
        self._by_leg: dict[str, CarrierCall] = {}
        self._returned: set[int] = set()
        self._closed = False

    async def _start(self) -> None:
        await self.sip.start(HOST, 0, udp=True, tcp=False)
        assert self.sip.udp.local is not None
        self.endpoint.config = evolve(self.endpoint.config, port=self.sip.udp.local[1])
        log.info("sim_carrier_listening", trunk=self.trunk, port=self.port)

    @property
    def port(self) -> int:
        """The UDP port of 127.0.0.1 the carrier listens on."""
        return self.endpoint.config.port

    # ------------------------------------------------------------------ behaviours
    def set_behaviour(self, number: str, behaviour: Behaviour) -> None:
        """What the called party of ``number`` does from the next call on."""
        self._behaviours[number_key(number)] = behaviour

    def behaviour_for(self, number: str) -> Behaviour:
        """The behaviour of ``number`` (:attr:`default` when none was set)."""
        return self._behaviours.get(number_key(number), self.default)

    # ------------------------------------------------------------------ SIP
    def _on_sip_event(self, event: sip.EndpointEvent, now: float) -> None:
        try:
            if isinstance(event, sip.IncomingCall):
                self._on_invite(event, now)
            elif isinstance(event, sip.IncomingRequest):
                self.requests.append(event.request)
                self.endpoint.respond(event.transaction, 200, now)
            else:
                call = self._by_leg.get(getattr(event, "leg", None) or "")
                if call is not None:
                    call.sip_events.append(event)
                    call.on_sip(event, now)
        except Exception as exc:
            # The service would only log it: make it the test's failure (Harness.close).
            log.exception("sim_carrier_event_failed", sip_event=type(event).__name__)
            self.harness.loop_errors.append({"message": "carrier failed", "exception": exc})
        finally:
            self.harness.poke()

    def _on_invite(self, event: sip.IncomingCall, now: float) -> None:
        number = dialled_number(event.request)
        call = CarrierCall(self, event, self.behaviour_for(number), now)
        self.calls.append(call)
        self._by_leg[event.leg] = call
        self.harness.phones.append(call)  # ticked from now on; closed with the harness
        call.log.info(
            "sim_carrier_invite", caller_id=call.caller_id, behaviour=type(call.behaviour).__name__
        )
        call._begin(now)

    # ------------------------------------------------------------------ the test's view
    def calls_to(self, number: str) -> list[CarrierCall]:
        """The calls to ``number`` so far, oldest first."""
        key = number_key(number)
        return [c for c in self.calls if number_key(c.number) == key]

    def wait_for_call(self, number: str | None = None, timeout: float | None = None) -> CarrierCall:
        """Wait for the next call (to ``number``, or to any) not yet returned by this
        method; return it once its INVITE arrived."""
        key = None if number is None else number_key(number)
        found: list[CarrierCall] = []

        def arrived() -> bool:
            for i, call in enumerate(self.calls):
                if i not in self._returned and (key is None or number_key(call.number) == key):
                    self._returned.add(i)
                    found.append(call)
                    return True
            return False

        self.harness.wait_for(
            arrived,
            self.harness.timeout if timeout is None else timeout,
            f"the pbx to call {number or 'a number'} over trunk {self.trunk}",
            self.describe_state,
        )
        return found[0]

    def wait_ended(self, number: str | None = None, timeout: float | None = None) -> CarrierCall:
        """Wait until there is a call to ``number`` (or to any) and all of them have
        ended; return the last one."""

        def settled() -> bool:
            calls = self.calls if number is None else self.calls_to(number)
            return bool(calls) and all(c.ended for c in calls)

        self.harness.wait_for(
            settled,
            self.harness.timeout if timeout is None else timeout,
            f"the calls to {number or 'any number'} over trunk {self.trunk} to end",
            self.describe_state,
        )
        calls = self.calls if number is None else self.calls_to(number)
        return calls[-1]

    def describe_state(self) -> str:
        """The calls so far, for messages."""
        if not self.calls:
            return "no call arrived"
        return "calls: " + "; ".join(f"{c.number}: {c.describe_state()}" for c in self.calls)

    def close(self) -> None:
        """Stop listening (the harness does it at the end of a test; its calls' RTP
        ports are closed with the harness's phones)."""
        if self._closed:
            return
        self._closed = True
        self.sip.close()
