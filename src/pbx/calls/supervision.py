"""Supervisors listening to, whispering to, or barging into an agent's call.

A supervisor's phone dials ``*5``, ``*6`` or ``*7`` and the agent's extension; their leg
joins the bridge of the agent's call with a role of the mixer: listen (hears both, heard
by none), whisper (heard by the agent only), barge (heard by both). While connected the
supervisor switches between the three with the digits 4, 5 and 6. When the monitored
call ends, the supervisor's call ends with it.
"""

from __future__ import annotations

import structlog
from attrs import define, field

from pbx.calls.manager import CallManager
from pbx.media.mixer import Role

log = structlog.get_logger(__name__)

SUPERVISOR_ROLES = {"5": Role.LISTEN, "6": Role.WHISPER, "7": Role.BARGE}
"""The feature code's digit → the role the supervisor joins with."""
SWITCH_DIGITS = {"4": Role.LISTEN, "5": Role.WHISPER, "6": Role.BARGE}
"""Digits a connected supervisor presses to change role."""


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
        role = SWITCH_DIGITS[digit]
        manager = self.manager
        if monitor.agent_leg not in manager.legs or leg not in manager.legs:
            return True
        whisper_to = monitor.agent_leg if role is Role.WHISPER else None
        manager.set_role(leg, role, whisper_to=whisper_to)
        monitor.role = role
        return True

    def leg_ended(self, leg: str, now: float) -> bool:
        """A leg ended: forget a supervisor's, end the supervisors of an agent's; True
        when it was a supervisor's."""
        if self.monitors.pop(leg, None) is not None:
            return True
        for sup_leg, watching in list(self.monitors.items()):
            if watching.agent_leg == leg:
                del self.monitors[sup_leg]
                log.info("supervise_ended", agent=watching.agent, reason="call ended")
                self.manager.hangup(sup_leg, now)
        return False
