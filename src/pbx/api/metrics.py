"""Prometheus text at ``/metrics``: the call center's state, read when scraped.

Counters that only the event stream knows (calls completed by disposition, events
published) are kept as the events pass; everything else — live calls, registrations,
queues, agents by state, the media tick's p50/p99 and late ticks, RTP packets, store
errors, SIP messages by method and status, WebSocket clients — is read from the running
parts at scrape time by one collector, so the hot path does no more than bump a number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from pbx.calls.events import CallEnded

if TYPE_CHECKING:
    from pbx.app import Application


class _Live(Collector):
    def __init__(self, app: Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app = self.app
        now = app.sip.now()
        yield GaugeMetricFamily("pbx_calls_active", "Calls in progress", value=len(app.calls.calls))
        yield GaugeMetricFamily(
            "pbx_legs_active", "SIP legs in progress", value=len(app.calls.legs)
        )
        yield GaugeMetricFamily(
            "pbx_registrations", "Registered devices", value=app.location.count(now)
        )
        view = app.queues.snapshot(now)
        waiting = GaugeMetricFamily("pbx_queue_waiting", "Callers waiting", labels=["queue"])
        longest = GaugeMetricFamily(
            "pbx_queue_longest_wait_seconds", "Longest current wait", labels=["queue"]
        )
        level = GaugeMetricFamily(
            "pbx_queue_service_level", "Service level today (0-1)", labels=["queue"]
        )
        for q in view.queues:
            waiting.add_metric([q.name], q.waiting)
            longest.add_metric([q.name], q.longest_wait)
            level.add_metric([q.name], q.service_level)
        yield from (waiting, longest, level)
        states = GaugeMetricFamily("pbx_agents", "Agents by state", labels=["state"])
        counts: dict[str, int] = {}
        for a in view.agents:
            counts[a.state.value] = counts.get(a.state.value, 0) + 1
        for state, n in sorted(counts.items()):
            states.add_metric([state], n)
        yield states
        media = app.media
        p50, p99 = media.tick_percentiles()
        tick = GaugeMetricFamily(
            "pbx_media_tick_seconds", "Media tick duration", labels=["quantile"]
        )
        tick.add_metric(["0.5"], p50)
        tick.add_metric(["0.99"], p99)
        yield tick
        yield GaugeMetricFamily("pbx_media_ticks", "Media ticks run", value=media.ticks)
        yield GaugeMetricFamily(
            "pbx_media_late_ticks", "Ticks far behind schedule", value=media.late_ticks
        )
        yield GaugeMetricFamily(
            "pbx_rtp_packets_received", "RTP packets in", value=media.packets_in
        )
        yield GaugeMetricFamily("pbx_rtp_packets_sent", "RTP packets out", value=media.packets_out)
        lost, late = app.engine.rtp_losses()
        yield CounterMetricFamily(
            "pbx_rtp_packets_lost", "RTP packets lost (RFC 3550 A.3), every stream", value=lost
        )
        yield CounterMetricFamily(
            "pbx_rtp_packets_late", "RTP packets too late for their frame", value=late
        )
        yield from _campaigns(app, now)
        yield GaugeMetricFamily(
            "pbx_store_errors", "Store writes that failed", value=app.calls.store_errors
        )
        yield GaugeMetricFamily(
            "pbx_webhook_backlog",
            "Webhook deliveries not yet made",
            value=app.store.outbox_backlog(),
        )
        yield GaugeMetricFamily(
            "pbx_sip_bad_messages",
            "Malformed SIP messages received",
            value=app.endpoint.bad_messages,
        )
        yield from _sip_traffic(app)


def _campaigns(app: Application, now: float) -> Iterator[Metric]:
    """Per campaign: lines in use, leads by state, abandon rates (FCC 30 days, Ofcom 24 h)."""
    lines = GaugeMetricFamily("pbx_dialer_lines", "Outbound lines in use", labels=["campaign"])
    leads = GaugeMetricFamily("pbx_dialer_leads", "Leads by state", labels=["campaign", "state"])
    abandon = GaugeMetricFamily(
        "pbx_dialer_abandon_rate", "Abandon rate (0-1) by window", labels=["campaign", "window"]
    )
    for name in app.config.campaigns:
        view = app.dialer.snapshot(name, now)
        lines.add_metric([name], view.lines_in_use)
        for state, n in sorted(view.leads.items()):
            leads.add_metric([name, state], n)
        abandon.add_metric([name, "30d"], view.abandon.rate_30d)
        abandon.add_metric([name, "24h"], view.abandon.rate_24h)
    yield from (lines, leads, abandon)


def _sip_traffic(app: Application) -> Iterator[Metric]:
    """SIP messages by method (and status), in and out, from the endpoint's counts."""
    ep = app.endpoint
    requests = CounterMetricFamily(
        "pbx_sip_requests",
        "SIP requests by method and direction (retransmissions included; unknown methods"
        " as OTHER; malformed messages are in pbx_sip_bad_messages)",
        labels=["method", "direction"],
    )
    responses = CounterMetricFamily(
        "pbx_sip_responses",
        "SIP responses by CSeq method, status code and direction (retransmissions included)",
        labels=["method", "status", "direction"],
    )
    for direction, reqs, resps in (
        ("in", ep.requests_in, ep.responses_in),
        ("out", ep.requests_out, ep.responses_out),
    ):
        for key, n in sorted(reqs.items()):
            requests.add_metric([*key, direction], n)
        for key, n in sorted(resps.items()):
            responses.add_metric([*key, direction], n)
    yield requests
    yield responses


class Metrics:
    """The registry behind ``/metrics``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, app: Application) -> None:
        self.registry = CollectorRegistry()
        self.calls_completed = Counter(
            "pbx_calls_completed",
            "Calls ended, by disposition",
            ["disposition"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "pbx_events_published",
            "Events published to the API's stream",
            ["type"],
            registry=self.registry,
        )
        self.websocket_clients = Gauge(
            "pbx_api_websocket_clients", "Clients on /api/events", registry=self.registry
        )
        self.registry.register(_Live(app))

    def observe(self, kind: str, event: object) -> None:
        """An event on its way to the stream."""
        self.events_published.labels(kind).inc()
        if isinstance(event, CallEnded):
            self.calls_completed.labels(event.disposition).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
