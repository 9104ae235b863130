"""pbx.reports: contact-centre statistics, sans-I/O (rows in, figures out).

:mod:`pbx.reports.queues` reads the queue log call by call into per-queue interval
figures (offered, answered, abandoned, service level in three treatments, ASA, AHT,
transfers, overflows, callbacks), counting each customer call once;
:mod:`pbx.reports.agents` replays each agent's states into time by state per interval;
:mod:`pbx.reports.calls` groups CDRs by trunk, DID or direction and measures the IVR's
containment and drop-off; :mod:`pbx.reports.campaigns` reads the dialer's attempts;
:mod:`pbx.reports.custom` checks named SQL reports; :mod:`pbx.reports.plan` sizes a
day's staff per interval with :mod:`pbx.reports.staffing` (Erlang A and C).
:mod:`pbx.reports.service_level` holds the definitions. Nothing here reads a clock or
a file: the store's :class:`~pbx.store.readonly.ReportReader` supplies the rows.
"""

from __future__ import annotations

from pbx.reports.agents import AgentInterval, AgentReport, agent_report
from pbx.reports.calls import CallsReport, IvrReport, calls_report, ivr_report
from pbx.reports.campaigns import CampaignReport, campaign_report
from pbx.reports.custom import CustomReport, ReportError, custom_report
from pbx.reports.periods import Intervals, PeriodError, intervals
from pbx.reports.plan import StaffingInterval, staffing_plan
from pbx.reports.queues import QueueInterval, QueueReport, QueueSettings, queue_report
from pbx.reports.service_level import AbandonTreatment, ServiceLevelCounts, aht, asa
from pbx.reports.staffing import ErlangA, agents_needed, erlang_a, erlang_a_service_level

__all__ = [
    "AbandonTreatment",
    "AgentInterval",
    "AgentReport",
    "CallsReport",
    "CampaignReport",
    "CustomReport",
    "ErlangA",
    "Intervals",
    "IvrReport",
    "PeriodError",
    "QueueInterval",
    "QueueReport",
    "QueueSettings",
    "ReportError",
    "ServiceLevelCounts",
    "StaffingInterval",
    "agent_report",
    "agents_needed",
    "aht",
    "asa",
    "calls_report",
    "campaign_report",
    "custom_report",
    "erlang_a",
    "erlang_a_service_level",
    "intervals",
    "ivr_report",
    "queue_report",
    "staffing_plan",
]
