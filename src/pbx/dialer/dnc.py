"""Do-not-call lists as written in files: one number per row, or a ``number`` column.

Theory of operation
-------------------
:func:`read_dnc_csv` reads a CSV do-not-call list. When a cell of the first row is
``number`` or ``phone`` (any case), that row is a header and the numbers are that
column; otherwise the file has no header and each row's first cell is a number. Blank
rows are skipped. Every number is normalised to E.164 like a lead's
(:func:`~pbx.dialer.leads.normalise_phone`): one written without ``+`` and country code
is read in ``region``; with no region, it must carry its country code. Problems come
back as :class:`~pbx.dialer.leads.RowError`, one per bad row, the row being the line
number in the file (the first line is 1), so a caller can refuse the whole list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from pbx.dialer.campaign import CampaignConfig
from pbx.dialer.compliance import GLOBAL_DNC
from pbx.dialer.leads import RowError, normalise_phone

NUMBER_COLUMNS = ("number", "phone")
"""Header names of the column holding the numbers."""


def list_region(name: str, campaigns: Iterable[CampaignConfig]) -> str | None:
    """The region national numbers of list ``name`` are read in: the default region of
    the campaigns using it (every campaign for ``global``; US when none does), or
    ``None`` when they differ (then every number needs its country code)."""
    regions = {c.default_region for c in campaigns if name == GLOBAL_DNC or name in c.dnc_lists}
    if not regions:
        return "US"
    return regions.pop() if len(regions) == 1 else None


def dnc_number(text: str, region: str | None) -> str:
    """``text`` as E.164; :class:`ValueError` with one sentence if it is not a valid
    number (with ``region`` ``None``, a number must start with ``+`` and its country code)."""
    text = text.strip()
    if region is None and not text.startswith("+"):
        raise ValueError("needs its country code (+...): no default region applies here")
    try:
        return normalise_phone(text, region or "US")
    except ValueError:
        if region is None:  # an international number: the region played no part
            raise ValueError("is not a valid number") from None
        raise


def read_dnc_csv(text: str, region: str | None) -> tuple[tuple[str, ...], tuple[RowError, ...]]:
    """The E.164 numbers of a CSV do-not-call list (module docstring), in file order
    without repeats, and one error per bad row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    numbers: dict[str, None] = {}
    errors: list[RowError] = []
    column = 0
    label = "number"
    first = True
    for row in reader:
        cells = [cell.strip() for cell in row]
        if first:
            first = False
            header = [cell.lower() for cell in cells]
            found = next((name for name in NUMBER_COLUMNS if name in header), None)
            if found is not None:
                column = header.index(found)
                label = cells[column]
                continue
        if not any(cells):
            continue
        value = cells[column] if column < len(cells) else ""
        if not value:
            errors.append(RowError(reader.line_num, label, "is empty"))
            continue
        try:
            numbers[dnc_number(value, region)] = None
        except ValueError as exc:
            errors.append(RowError(reader.line_num, label, str(exc), value))
    return tuple(numbers), tuple(errors)
