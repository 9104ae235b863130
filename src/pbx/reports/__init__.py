"""pbx.reports: contact-centre statistics, sans-I/O (figures in, figures out).

:mod:`pbx.reports.service_level` turns interval counts and per-call figures into the
service level (in the three treatments of abandoned calls), ASA and AHT.
:mod:`pbx.reports.staffing` models a queue with impatient callers (Erlang A) and sizes
staff for a service-level target with Erlang C or Erlang A. Nothing here reads a clock.
"""

from __future__ import annotations

from pbx.reports.service_level import AbandonTreatment, ServiceLevelCounts, aht, asa
from pbx.reports.staffing import ErlangA, agents_needed, erlang_a, erlang_a_service_level

__all__ = [
    "AbandonTreatment",
    "ErlangA",
    "ServiceLevelCounts",
    "agents_needed",
    "aht",
    "asa",
    "erlang_a",
    "erlang_a_service_level",
]
