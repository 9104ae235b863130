"""Supervisors listening to, whispering to, or barging into an agent's call.

A supervisor's phone dials ``*5``, ``*6`` or ``*7`` and the agent's extension; their leg
joins the bridge of the agent's call with a role of the mixer: listen (hears both, heard
by none), whisper (heard by the agent only), barge (heard by both). While connected the
supervisor switches between the three with the digits 4, 5 and 6. When the monitored
call ends, the supervisor's call ends with it.

The agent's leg is whichever leg of a bridged call rings or came from their phone: a
queue offer, a call to their extension, a callback, a click-to-call, or a call their
phone placed — so direct calls are monitored like queue calls. From the API the pbx
rings the supervisor's phone first (a leg whose purpose is ``monitor``) and joins it
when it answers; asking again with another mode while connected switches the role.
"""

from __future__ import annotations

import structlog
from attrs import define, field

from pbx.calls.events import LegAnswered, Purpose
from pbx.calls.manager import CallError, CallManager, LegKind, LegState
from pbx.media.mixer import Role

log = structlog.get_logger(__name__)

SUPERVISOR_ROLES = {"5": Role.LISTEN, "6": Role.WHISPER, "7": Role.BARGE}
"""The feature code's digit → the role the supervisor joins with."""
SWITCH_DIGITS = {"4": Role.LISTEN, "5": Role.WHISPER, "6": Role.BARGE}
"""Digits a connected supervisor presses to change role."""
MODES = {"listen": Role.LISTEN, "whisper": Role.WHISPER, "barge": Role.BARGE}


def agent_leg(manager: CallManager, agent: str) -> str | None:
    """The leg of ``agent``'s phone in a bridged call, or None."""
    for leg in manager.legs.values():
        if leg.state is not LegState.ANSWERED or leg.bridge is None:
            continue
        purpose = leg.purpose
        if purpose is not None and purpose.agent == agent and purpose.kind != "monitor":
            return leg.id
        if leg.kind is LegKind.INBOUND:
            call = manager.calls.get(leg.call)
            if call is not None and call.origin == "user" and call.caller is not None:
                if call.caller.number == agent:
                    return leg.id
    return None


@define(slots=True)
class Monitor:
    """A supervisor's leg joined to an agent's call."""

    supervisor_leg: str
    agent: str
    agent_leg: str
    """The agent's leg being monitored: when it ends, so does the supervisor's call."""
    role: Role


@define
class Supervision:
    """The supervisors' legs in agents' calls, over one call manager."""

    manager: CallManager
    monitors: dict[str, Monitor] = field(init=False, factory=dict)
    """Supervisor leg → what it monitors."""
    _ringing: dict[str, Role] = field(init=False, factory=dict)
    """Supervisor's phone ringing for a monitor asked over the API → the role to join with."""

    def ring(self, supervisor: str, agent: str, role: Role, now: float) -> str:
        """Monitor ``agent`` through ``supervisor``'s phone: switch the role of a monitor
        that phone already has on that agent, else ring it and join when it answers.
        Raises :class:`CallError` when the agent is on no call."""
        for monitor in self.monitors.values():
            if monitor.agent == agent and self._device(monitor.supervisor_leg) == supervisor:
                self._set_role(monitor, role)
                return monitor.supervisor_leg
        if agent_leg(self.manager, agent) is None:
            raise CallError(f"agent {agent!r} is on no call")
        call = self.manager.originate(now, number=supervisor, direction="internal")
        leg = self.manager.dial(
            call,
            supervisor,
            now,
            purpose=Purpose("monitor", ref=agent, agent=supervisor),
            from_number=agent,
            from_name=f"{role.name.lower()} {agent}",
        )
        self._ringing[leg] = role
        return leg

    def answered(self, event: LegAnswered, now: float) -> None:
        """The supervisor's phone answered a monitor asked over the API: join."""
        role = self._ringing.pop(event.leg, None)
        purpose = event.purpose
        if role is None or purpose is None:
            return
        target = agent_leg(self.manager, purpose.ref)
        if target is None or not self.join(event.leg, purpose.ref, target, role):
            self.manager.hangup(event.leg, now)

    def _device(self, leg_id: str) -> str | None:
        leg = self.manager.legs.get(leg_id)
        if leg is None:
            return None
        if leg.purpose is not None and leg.purpose.kind == "monitor":
            return leg.purpose.agent
        call = self.manager.calls.get(leg.call)
        return call.caller.number if call is not None and call.caller is not None else None

    def join(self, supervisor_leg: str, agent: str, agent_leg: str, role: Role) -> bool:
        """Join the (answered) supervisor's leg to the bridge of ``agent_leg``; False
        when that leg is not in a bridge any more."""
        manager = self.manager
        target = manager.legs.get(agent_leg)
        if target is None or target.bridge is None:
            return False
        whisper_to = agent_leg if role is Role.WHISPER else None
        manager.join_bridge(supervisor_leg, target.bridge, role, whisper_to=whisper_to)
        self.monitors[supervisor_leg] = Monitor(supervisor_leg, agent, agent_leg, role)
        log.info("supervise", agent=agent, role=role.name)
        return True

    def digit(self, leg: str, digit: str) -> bool:
        """A digit from a supervisor's phone: switch role. False when ``leg`` is not a
        supervisor's (or the digit means nothing)."""
        monitor = self.monitors.get(leg)
        if monitor is None or digit not in SWITCH_DIGITS:
            return False
        self._set_role(monitor, SWITCH_DIGITS[digit])
        return True

    def _set_role(self, monitor: Monitor, role: Role) -> None:
        manager = self.manager
        leg = monitor.supervisor_leg
        if monitor.agent_leg not in manager.legs or leg not in manager.legs:
            return
        whisper_to = monitor.agent_leg if role is Role.WHISPER else None
        manager.set_role(leg, role, whisper_to=whisper_to)
        monitor.role = role

    def leg_ended(self, leg: str, now: float) -> bool:
        """A leg ended: forget a supervisor's, end the supervisors of an agent's; True
        when it was a supervisor's."""
        self._ringing.pop(leg, None)
        if self.monitors.pop(leg, None) is not None:
            return True
        for sup_leg, watching in list(self.monitors.items()):
            if watching.agent_leg == leg:
                del self.monitors[sup_leg]
                log.info("supervise_ended", agent=watching.agent, reason="call ended")
                self.manager.hangup(sup_leg, now)
        return False
