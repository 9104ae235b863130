"""Leads: the people a campaign calls, their attempts, and importing them from CSV.

Theory of operation
-------------------
A :class:`Lead` is a frozen value; the :class:`~pbx.dialer.dialer.Dialer` replaces it on
every change and hands the new value out in a ``LeadChanged`` action for the shell to
store, so the store always holds what the dialer last decided. Its :class:`LeadState`:

* ``pending``: waits for ``next_attempt_at`` (epoch seconds; ``None``: as soon as the
  campaign may call it);
* ``offered``: offered to an agent in a preview campaign, not dialled;
* ``dialing``: an attempt is in progress — stored *before* the dial is sent, so after a
  restart a lead found ``dialing`` is known to have been called, perhaps answered, and is
  not dialled again blindly (the dialer holds it ``in_doubt``);
* ``in_doubt``: found ``dialing`` after a restart; it waits until the shell reports what
  became of the attempt or the hold ends, then follows the ``interrupted`` retry rule;
* ``done``: ``disposition`` says why (``answered``, ``confirmed``, ``message_left``,
  ``dnc``, ``invalid_number``, or the last outcome once its retries are used up).

:func:`import_leads` is all or nothing: it checks every row and accepts either all of
them or none, with one :class:`RowError` per problem (the row is the line number in the
file, the header being line 1). Numbers are normalised to E.164 with ``phonenumbers``:
a number written without ``+`` and country code is read in the campaign's default region.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
from collections.abc import Container, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from attrs import field, frozen


class LeadState(enum.Enum):
    """Where a lead stands in its campaign."""

    PENDING = "pending"
    OFFERED = "offered"
    DIALING = "dialing"
    IN_DOUBT = "in_doubt"
    DONE = "done"


@frozen
class Attempt:
    """One call to a lead."""

    id: str
    """``LEAD#N`` for the lead's N-th attempt: also the call layer's reference for it."""
    time: float
    """Epoch seconds at which it was dialled."""
    outcome: str | None = None
    """``None`` while in progress, then an :class:`~pbx.dialer.outcomes.Outcome` value."""
    sip_status: int | None = None
    """The final SIP status of a call that was not answered."""
    amd: str | None = None
    """The answering-machine verdict: ``human``, ``machine``, ``unsure`` or ``none``."""
    agent: str | None = None
    """The agent who took (or, in preview, dialled) the call."""
    duration: float | None = None
    """Seconds from answer to hang-up."""
    digit: str | None = None
    """Agentless: the confirmation digit the person pressed."""


@frozen
class Lead:
    """One person to call in one campaign."""

    id: str
    campaign: str
    phone: str
    """E.164, e.g. ``+12125550123``."""
    data: Mapping[str, str] = field(factory=dict)
    """Every column but ``phone`` and ``tz`` (``name``, ``lang``, ``amount``, ``due`` …):
    read out by the script, shown to the agent."""
    tz: str | None = None
    """The lead's IANA time zone, if the list gave one."""
    attempts: tuple[Attempt, ...] = ()
    next_attempt_at: float | None = None
    state: LeadState = LeadState.PENDING
    disposition: str | None = None

    @property
    def open_attempt(self) -> Attempt | None:
        """The attempt in progress (the last one, while it has no outcome)."""
        if self.attempts and self.attempts[-1].outcome is None:
            return self.attempts[-1]
        return None


def lead_id(campaign: str, phone: str) -> str:
    """A lead's id: unique because a campaign holds each number once."""
    return f"{campaign}:{phone}"


def normalise_phone(text: str, region: str) -> str:
    """``text`` as E.164; :class:`ValueError` with one sentence if it is not a valid number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"is not a valid number (read in region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@frozen
class RowError:
    """One problem found in one row of a lead list."""

    row: int
    """The line number in the file (the header is line 1)."""
    field: str
    problem: str
    value: str = ""

    def __str__(self) -> str:
        shown = f" ({self.value!r})" if self.value else ""
        return f"row {self.row}: {self.field}{shown}: {self.problem}"


@frozen
class ImportReport:
    """What an import found: every row accepted, or none and every problem."""

    campaign: str
    rows: int
    """Data rows read."""
    leads: tuple[Lead, ...]
    """The new leads; empty whenever :attr:`errors` is not."""
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        """Whether the list was accepted."""
        return not self.errors


KNOWN_COLUMNS = ("phone", "name", "lang", "amount", "due", "tz")
_LANG = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


def import_leads(
    text: str,
    campaign: str,
    *,
    default_region: str,
    dnc: Container[str],
    existing_numbers: Container[str],
) -> ImportReport:
    """Read a CSV lead list for ``campaign``: all rows or none (see the module docstring).

    ``dnc`` holds the E.164 numbers on the campaign's do-not-call lists (global and its
    own); ``existing_numbers`` those the campaign already has.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        return ImportReport(campaign, 0, (), (RowError(1, "phone", "no header row"),))
    columns = [h.strip().lower() for h in header]
    errors: list[RowError] = []
    for i, name in enumerate(columns):
        if not name:
            errors.append(RowError(1, f"column {i + 1}", "has no name"))
        elif name in columns[:i]:
            errors.append(RowError(1, name, "column appears twice"))
    if "phone" not in columns:
        errors.append(RowError(1, "phone", "missing column"))
    if errors:
        return ImportReport(campaign, 0, (), tuple(errors))
    leads: list[Lead] = []
    seen: dict[str, int] = {}
    rows = 0
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        rows += 1
        row = reader.line_num
        if len(record) > len(columns):
            errors.append(RowError(row, "row", f"has {len(record)} cells for {len(columns)}"))
            continue
        values = dict(zip(columns, (cell.strip() for cell in record), strict=False))
        problems, lead = _row(values, row, campaign, default_region)
        if lead is not None:
            first = seen.get(lead.phone)
            if first is not None:
                problems.append(RowError(row, "phone", f"duplicate of row {first}", lead.phone))
            elif lead.phone in existing_numbers:
                problems.append(RowError(row, "phone", "already in the campaign", lead.phone))
            elif lead.phone in dnc:
                problems.append(RowError(row, "phone", "is on a do-not-call list", values["phone"]))
            seen.setdefault(lead.phone, row)
        errors.extend(problems)
        if lead is not None and not problems:
            leads.append(lead)
    if errors:
        return ImportReport(campaign, rows, (), tuple(errors))
    return ImportReport(campaign, rows, tuple(leads), ())


def _row(
    values: Mapping[str, str], row: int, campaign: str, region: str
) -> tuple[list[RowError], Lead | None]:
    """One data row's problems and, if its number is good, its lead."""
    problems: list[RowError] = []
    raw = values.get("phone", "")
    phone: str | None = None
    if not raw:
        problems.append(RowError(row, "phone", "is empty"))
    else:
        try:
            phone = normalise_phone(raw, region)
        except ValueError as e:
            problems.append(RowError(row, "phone", str(e), raw))
    tz = values.get("tz") or None
    if tz is not None and not _zone_ok(tz):
        problems.append(RowError(row, "tz", "is not a known time zone", tz))
    amount = values.get("amount", "")
    if amount and not _decimal_ok(amount):
        problems.append(RowError(row, "amount", "is not a number like 120.50", amount))
    due = values.get("due", "")
    if due and not _date_ok(due):
        problems.append(RowError(row, "due", "is not a date like 2025-03-31", due))
    lang = values.get("lang", "")
    if lang and not _LANG.match(lang):
        problems.append(RowError(row, "lang", "is not a language code like en or ru", lang))
    if phone is None:
        return problems, None
    data = {k: v for k, v in values.items() if k not in ("phone", "tz")}
    return problems, Lead(
        id=lead_id(campaign, phone), campaign=campaign, phone=phone, data=data, tz=tz
    )


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _decimal_ok(text: str) -> bool:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False
    return value.is_finite()


def _date_ok(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def lead_to_dict(lead: Lead) -> dict[str, object]:
    """A lead as plain JSON-able values (for the store)."""
    return {
        "id": lead.id,
        "campaign": lead.campaign,
        "phone": lead.phone,
        "data": dict(lead.data),
        "tz": lead.tz,
        "attempts": [
            {
                "id": a.id,
                "time": a.time,
                "outcome": a.outcome,
                "sip_status": a.sip_status,
                "amd": a.amd,
                "agent": a.agent,
                "duration": a.duration,
                "digit": a.digit,
            }
            for a in lead.attempts
        ],
        "next_attempt_at": lead.next_attempt_at,
        "state": lead.state.value,
        "disposition": lead.disposition,
    }


def lead_from_dict(d: Mapping[str, Any]) -> Lead:
    """The lead :func:`lead_to_dict` wrote."""
    return Lead(
        id=str(d["id"]),
        campaign=str(d["campaign"]),
        phone=str(d["phone"]),
        data={str(k): str(v) for k, v in dict(d.get("data") or {}).items()},
        tz=d.get("tz"),
        attempts=tuple(Attempt(**a) for a in d.get("attempts") or ()),
        next_attempt_at=d.get("next_attempt_at"),
        state=LeadState(d.get("state", "pending")),
        disposition=d.get("disposition"),
    )
