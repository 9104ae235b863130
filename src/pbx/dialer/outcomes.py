"""How an attempt ended, and what that means for its lead.

Theory of operation
-------------------
Every attempt ends with one :class:`Outcome`. A call that was not answered gets its
outcome from the final SIP status (:func:`outcome_for_status`, RFC 3261 §21): 486 Busy
Here and 600 Busy Everywhere are ``busy``; 408, 480 and 487 (the ring timeout's CANCEL)
are ``no_answer``; 404, 410, 484 and 604 say the number does not exist (``invalid``);
anything else is ``failed``. An answered call ends ``answered`` (an agent took it),
``delivered`` (an agentless script was heard), ``message_left``, ``machine`` (hung up on
a machine), ``abandoned`` or ``hung_up`` (the person hung up before an agent could take
the call, inside the two seconds).

:func:`next_step` applies the campaign's retry rules: ``answered``, ``delivered``,
``message_left`` and ``invalid`` are final; the others are retried after their rule's
delay while the lead has had fewer attempts than the rule's ``max_attempts`` (``hung_up``
follows the ``no_answer`` rule); a lead whose retries are used up is done with the
outcome as its disposition.
"""

from __future__ import annotations

import enum

from attrs import evolve, frozen

from pbx.dialer.campaign import CampaignConfig, RetryRules
from pbx.dialer.leads import Lead, LeadState


class Outcome(enum.Enum):
    """How one attempt ended."""

    ANSWERED = "answered"
    DELIVERED = "delivered"
    MESSAGE_LEFT = "message_left"
    MACHINE = "machine"
    ABANDONED = "abandoned"
    HUNG_UP = "hung_up"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    INVALID = "invalid"
    INTERRUPTED = "interrupted"


FINAL = frozenset({Outcome.ANSWERED, Outcome.DELIVERED, Outcome.MESSAGE_LEFT, Outcome.INVALID})
"""Outcomes after which a lead is never dialled again."""

LIVE = frozenset({Outcome.ANSWERED, Outcome.DELIVERED, Outcome.ABANDONED, Outcome.HUNG_UP})
"""Outcomes of calls a person answered (the abandon rate's denominator)."""

_RULE = {Outcome.HUNG_UP: "no_answer"}
_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480, 487})
_INVALID = frozenset({404, 410, 484, 604})


def outcome_for_status(status: int) -> Outcome:
    """The outcome of a call that was not answered, from its final SIP status."""
    if status in _BUSY:
        return Outcome.BUSY
    if status in _NO_ANSWER:
        return Outcome.NO_ANSWER
    if status in _INVALID:
        return Outcome.INVALID
    return Outcome.FAILED


@frozen
class Step:
    """What becomes of a lead after an attempt: dialled again at ``retry_at``, or done."""

    retry_at: float | None
    """Epoch seconds of the next attempt, or ``None`` when the lead is done."""
    disposition: str | None
    """The final disposition when done."""


def next_step(rules: RetryRules, attempts: int, outcome: Outcome, wall: float) -> Step:
    """The lead's next step after its ``attempts``-th attempt ended with ``outcome``."""
    if outcome is Outcome.INVALID:
        return Step(None, "invalid_number")
    if outcome in FINAL:
        return Step(None, outcome.value)
    rule = rules.for_outcome(_RULE.get(outcome, outcome.value))
    if rule is None or attempts >= rule.max_attempts:
        return Step(None, outcome.value)
    return Step(wall + rule.delay, None)


def settle(
    lead: Lead,
    config: CampaignConfig,
    outcome: Outcome,
    wall: float,
    *,
    sip_status: int | None = None,
    amd: str | None = None,
    agent: str | None = None,
    duration: float | None = None,
    digit: str | None = None,
    final: str | None = None,
    callback_at: float | None = None,
    notes: str = "",
) -> Lead:
    """``lead`` after its open attempt ended with ``outcome`` at epoch second ``wall``.

    The retry rules decide, unless ``final`` (a disposition that stands: ``dnc``, an
    agent's code) says otherwise, with ``callback_at`` for an agent's callback; an
    agentless confirmation ``digit`` becomes the disposition it maps to.
    """
    attempt = evolve(
        lead.attempts[-1],
        outcome=outcome.value,
        sip_status=sip_status,
        amd=amd,
        agent=agent,
        duration=duration,
        digit=digit,
    )
    step = next_step(config.retry, len(lead.attempts), outcome, wall)
    disposition, retry_at = step.disposition, step.retry_at
    if outcome is Outcome.DELIVERED and digit is not None:
        disposition = config.confirm_digits.get(digit, disposition)
    if final is not None:
        disposition, retry_at = final, callback_at
    return evolve(
        lead,
        data={**lead.data, "notes": notes} if notes else lead.data,
        attempts=(*lead.attempts[:-1], attempt),
        state=LeadState.DONE if retry_at is None else LeadState.PENDING,
        next_attempt_at=retry_at,
        disposition=disposition,
    )
