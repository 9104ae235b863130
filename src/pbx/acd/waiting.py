"""The waiting callers: joining, leaving, keys, callbacks asked for, and their deadlines.

Theory of operation
-------------------
A caller joins (:func:`on_call_queued`) with the highest priority their priority rules
give; a full queue (``max_length``) or an empty one (``join_empty``) sends them away at
once. Otherwise they get ``(priority, enqueue time, arrival)`` for life, an ENTERQUEUE
row with the position they joined at, music on hold and their deadlines, and are
matched (:func:`pbx.acd.matching.call_waiting`).

The caller's deadlines, each re-armed or acted on by one function here:

* ``announce`` every ``announce_period``: position and estimated wait
  (:mod:`pbx.acd.ewt`) to a caller who is waiting (not while an agent's phone rings);
* ``max_wait``: the caller leaves (EXITWITHTIMEOUT), to the overflow target or rejected;
* ``relax`` at each step of ``relax`` (seconds after joining): the requirement is capped
  and, if it changed, the caller is matched again under the new profile;
* ``callback`` after ``callback_after``: a waiting caller is offered a callback, which
  they take with the callback key (or the application with
  :class:`~pbx.acd.events.CallbackRequested`). A callback keeps the caller's place: they
  stay in the queue as CALLBACK_PENDING until an agent is free, who is then reserved and
  the caller called back (:func:`pbx.acd.matching.offer`).

A caller who hangs up abandons (ABANDON, with their position and wait), except one who
asked for a callback: they hung up on purpose and keep their place. A caller sent away
leaves through :func:`exit_queue` (the row, offers withdrawn) and :func:`send_away`
(overflow if the queue has a target, else rejection); :func:`check_leave_empty` sends
every waiting caller away when an agent's going leaves a queue empty under its
``leave_when_empty`` rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from pbx.acd import actions as act
from pbx.acd import events as ev
from pbx.acd.ewt import estimated_wait
from pbx.acd.matching import agents_available, call_waiting, withdraw_offers
from pbx.acd.models import Agent, CallState, QueueConfig, QueuedCall, relaxed, requirement
from pbx.acd.state import AcdState, Actions, QueueState, index_call, unindex_call

log = structlog.get_logger(__name__)


# ------------------------------------------------------------------ events


def on_call_queued(acd: AcdState, e: ev.CallQueued, now: float, out: Actions) -> None:
    """A caller joins: sent away at once (full, empty), or queued and matched."""
    q = acd.queue(e.queue)
    config = q.config
    if e.call in acd.calls or e.call in acd.talks:
        log.debug("acd_duplicate_call", call=e.call)
        return
    priority = e.priority
    for rule in config.priority_rules:
        value = e.caller if rule.key == "caller" else e.data.get(rule.key)
        if value in rule.values and rule.priority > priority:
            priority = rule.priority
    if config.max_length is not None and len(q.calls) >= config.max_length:
        out.append(act.LogEvent(now, "FULL", e.call, config.name, "", {"caller": e.caller}))
        send_away(e.call, config, "full", out)
        return
    if is_empty(q, config.join_empty):
        out.append(act.LogEvent(now, "JOINEMPTY", e.call, config.name, "", {}))
        send_away(e.call, config, "empty", out)
        return
    position = 1 + sum(n for p, n in q.by_priority.items() if p >= priority)
    call = QueuedCall(
        call=e.call,
        queue=config.name,
        priority=priority,
        enqueued=now,
        seq=next(acd.seq),
        skills=requirement(config.skills, e.skills),
        data=e.data,
        caller=e.caller,
        original_position=position,
    )
    acd.calls[e.call] = call
    q.calls[e.call] = call
    q.by_priority[priority] = q.by_priority.get(priority, 0) + 1
    out.append(
        act.LogEvent(
            now,
            "ENTERQUEUE",
            e.call,
            config.name,
            "",
            {"caller": e.caller, "priority": priority, "position": position},
        )
    )
    out.append(act.PlayHold(e.call, config.music_class))
    if config.announce_period is not None:
        acd.arm_call(call, "announce", now + config.announce_period)
    if config.max_wait is not None:
        acd.arm_call(call, "max_wait", now + config.max_wait)
    if config.relax:
        acd.arm_call(call, "relax", now + config.relax[0][0])
    if config.callback_after is not None:
        acd.arm_call(call, "callback", now + config.callback_after)
    call_waiting(acd, call, now, out)


def on_call_abandoned(acd: AcdState, e: ev.CallAbandoned, now: float, out: Actions) -> None:
    """The caller hung up while waiting or being offered: ABANDON, offers withdrawn."""
    call = acd.calls.get(e.call)
    if call is None or call.state in (CallState.CALLBACK_PENDING, CallState.CALLBACK_DIALING):
        return
    q = acd.queues[call.queue]
    freed = withdraw_offers(acd, call, now, out)
    out.append(
        act.LogEvent(
            now,
            "ABANDON",
            call.call,
            call.queue,
            "",
            {
                "position": acd.position(call),
                "original_position": call.original_position,
                "wait": now - call.enqueued,
            },
        )
    )
    q.abandoned += 1
    q.left(now, False)
    acd.remove_call(call)
    agents_available(acd, freed, now, out)


def on_call_moved(acd: AcdState, e: ev.CallMoved, now: float, out: Actions) -> None:
    """A supervisor moves the waiting caller to another queue, an IVR, voicemail or a
    number: they leave this queue as an overflow would (its reports count one)."""
    call = acd.calls.get(e.call)
    if call is None or call.state in (CallState.CALLBACK_PENDING, CallState.CALLBACK_DIALING):
        return
    data = {
        "position": acd.position(call),
        "wait": now - call.enqueued,
        "to": f"{e.target.kind}:{e.target.name}",
    }
    exit_queue(acd, call, "EXITMOVED", data, now, out)
    out.append(act.Overflow(call.call, e.target, "moved"))


def on_priority_changed(acd: AcdState, e: ev.PriorityChanged, now: float, out: Actions) -> None:
    """The caller's priority changes; their place in the queue moves with it."""
    call = acd.calls.get(e.call)
    if call is None or call.priority == e.priority:
        return
    q = acd.queues[call.queue]
    q.by_priority[call.priority] -= 1
    q.by_priority[e.priority] = q.by_priority.get(e.priority, 0) + 1
    call.priority = e.priority
    if call.index is not None:
        unindex_call(call)
        index_call(acd, call)


def on_key_pressed(acd: AcdState, e: ev.KeyPressed, now: float, out: Actions) -> None:
    """An exit key sends the caller away; the callback key, once offered, asks for one."""
    call = acd.calls.get(e.call)
    if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
        return
    config = acd.queues[call.queue].config
    target = config.exit_keys.get(e.digit)
    if target is not None:
        data = {"key": e.digit, "position": acd.position(call), "wait": now - call.enqueued}
        exit_queue(acd, call, "EXITWITHKEY", data, now, out)
        out.append(act.Overflow(call.call, target, "key"))
    elif e.digit == config.callback_key and call.callback_offered and call.caller:
        on_callback_requested(acd, ev.CallbackRequested(call.call, call.caller), now, out)


def on_callback_requested(acd: AcdState, e: ev.CallbackRequested, now: float, out: Actions) -> None:
    """The caller asks to be called back and keeps their place (CALLBACK_PENDING)."""
    call = acd.calls.get(e.call)
    if call is None or call.state not in (CallState.WAITING, CallState.OFFERED):
        return
    freed = withdraw_offers(acd, call, now, out)
    if call.index is not None:
        unindex_call(call)
    call.state = CallState.CALLBACK_PENDING
    call.callback_number = e.number
    for kind in ("announce", "max_wait", "callback"):
        call.deadlines.pop(kind, None)
    out.append(
        act.LogEvent(
            now,
            "CALLBACKREQUESTED",
            call.call,
            call.queue,
            "",
            {"number": e.number, "position": acd.position(call)},
        )
    )
    call_waiting(acd, call, now, out)
    agents_available(acd, freed, now, out)


# ------------------------------------------------------------------ deadlines


def announce(acd: AcdState, call: QueuedCall, deadline: float, now: float, out: Actions) -> None:
    """Tell a waiting caller their position and estimated wait; re-arm for the next period."""
    q = acd.queues[call.queue]
    config = q.config
    assert config.announce_period is not None
    acd.arm_call(call, "announce", deadline + config.announce_period)
    if call.state is CallState.WAITING:
        position = acd.position(call)
        out.append(act.Announce(call.call, position, estimated_wait(q, position)))
        out.append(act.PlayHold(call.call, config.music_class))


def max_wait_reached(
    acd: AcdState, call: QueuedCall, deadline: float, now: float, out: Actions
) -> None:
    """The caller waited ``max_wait``: they leave for the overflow target."""
    config = acd.queues[call.queue].config
    data = {
        "position": acd.position(call),
        "original_position": call.original_position,
        "wait": now - call.enqueued,
    }
    exit_queue(acd, call, "EXITWITHTIMEOUT", data, now, out)
    send_away(call.call, config, "timeout", out)


def relax(acd: AcdState, call: QueuedCall, deadline: float, now: float, out: Actions) -> None:
    """The next relaxation step: cap the requirement and match the caller again."""
    config = acd.queues[call.queue].config
    step = config.relax[call.relax_step]
    call.relax_step += 1
    if call.relax_step < len(config.relax):
        acd.arm_call(call, "relax", call.enqueued + config.relax[call.relax_step][0])
    skills = relaxed(call.skills, step[1])
    if skills != call.skills:
        call.skills = skills
        if call.index is not None:
            unindex_call(call)
            call_waiting(acd, call, now, out)


def offer_callback(
    acd: AcdState, call: QueuedCall, deadline: float, now: float, out: Actions
) -> None:
    """``callback_after`` passed: offer a waiting caller a callback that keeps their place."""
    if call.state is CallState.WAITING:
        call.callback_offered = True
        out.append(act.OfferCallback(call.call))


# ------------------------------------------------------------------ leaving


def exit_queue(
    acd: AcdState,
    call: QueuedCall,
    name: str,
    data: Mapping[str, object],
    now: float,
    out: Actions,
) -> None:
    """The caller leaves the queue other than by an answer or a hang-up."""
    freed = withdraw_offers(acd, call, now, out)
    out.append(act.LogEvent(now, name, call.call, call.queue, "", dict(data)))
    acd.queues[call.queue].exited += 1
    acd.queues[call.queue].left(now, False)
    acd.remove_call(call)
    agents_available(acd, freed, now, out)


def send_away(call: str, config: QueueConfig, reason: str, out: Actions) -> None:
    """To the queue's overflow target, or rejected when it has none."""
    if config.overflow is not None:
        out.append(act.Overflow(call, config.overflow, reason))
    else:
        out.append(act.RejectCall(call, reason))


def is_empty(q: QueueState, rule: str) -> bool:
    """Whether ``q`` is empty under a ``join_empty`` / ``leave_when_empty`` rule."""
    if rule == "no_members":
        return not q.members
    if rule == "no_staffed":
        return q.staffed == 0
    return False


def check_leave_empty(
    acd: AcdState, agent: Agent, now: float, out: Actions, queues: tuple[str, ...] = ()
) -> None:
    """After ``agent`` went: send the waiting callers of every queue left empty away
    (of ``queues`` when given: the ones the agent just left)."""
    names = queues or agent.queues or tuple(m.queue for m in agent.config.queues)
    for name in names:
        q = acd.queues[name]
        if not is_empty(q, q.config.leave_when_empty):
            continue
        for call in sorted(q.calls.values(), key=lambda c: c.sort_key):
            if call.state in (CallState.CALLBACK_PENDING, CallState.CALLBACK_DIALING):
                continue
            data = {"position": acd.position(call), "wait": now - call.enqueued}
            exit_queue(acd, call, "EXITEMPTY", data, now, out)
            send_away(call.call, q.config, "empty", out)
