"""Typed configuration of a pbx application, loaded from TOML or built in Python.

``load_config(path)`` reads a TOML file into :class:`AppConfig`; every mistake raises
:class:`~pbx.errors.ConfigError` naming the file, the key and the problem, e.g.
``callcenter.toml: sip.listen: expected HOST:PORT, got '5060'``. Relative store and
recordings paths are taken relative to the working directory, like the example's
contract says; the prompts directory and IVR files relative to the configuration file.

Theory of operation
-------------------
Loading has two passes. The first reads every table into typed values — the dial plan
as :class:`~pbx.calls.dialplan.Route` rules, each queue as an ACD
:class:`~pbx.acd.models.QueueConfig`, each IVR as an :class:`IvrConfig` holding its
graph, loaded and validated from its file — refusing unknown keys and values of the
wrong type, one parser per table. The second, :func:`check_config` (in
:mod:`pbx.config_check`, importable from here), follows every reference between them: a
route to a queue, IVR, trunk, prompt or extension; a queue's overflow and exit keys; an
agent's queues; an IVR node's queue, transfer, mailbox and prompts. The first problem
found raises :class:`~pbx.errors.ConfigError`, one line naming the file, the key and the
problem, e.g. ``callcenter.toml: dialplan[5].target: unknown queue 'nope' (queues:
sales, support)``. :class:`~pbx.app.Application` runs :func:`check_config` again on the
configuration it is given (it may have been built or changed in Python), against the
prompts it actually loaded, before it opens anything.
"""

from __future__ import annotations

import ipaddress
import math
import random
import ssl
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from attrs import field, frozen

from pbx.acd.models import PriorityRule, QueueConfig
from pbx.acd.models import Target as QueueTarget
from pbx.acd.strategies import STRATEGIES
from pbx.calls.dialplan import Route, dialplan_from_config
from pbx.config_check import check_config
from pbx.dialer.campaign import CampaignConfig, campaign_from_dict
from pbx.dialer.dnc import dnc_number, list_region, read_dnc_csv
from pbx.errors import ConfigError
from pbx.ivr.errors import IvrGraphError
from pbx.ivr.graph import IvrGraph
from pbx.ivr.loader import load_graph
from pbx.ivr.validate import DTMF_KEYS
from pbx.plugins import load_object, make_strategy
from pbx.reports.custom import CustomReport, ReportError, custom_report


@frozen
class SipConfig:
    """Where and how SIP listens."""

    host: str = "127.0.0.1"
    port: int = 5060
    udp: bool = True
    tcp: bool = True
    realm: str = "pbx"
    """Digest realm for REGISTER and for calls placed by users."""
    user_agent: str = "pbx"
    trace: bool = False
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """Requests from these networks that are not from a registered user come from the trunk."""
    auth_algorithms: tuple[str, ...] = ("MD5",)
    """Digest algorithms offered, one challenge each, most preferred first (RFC 8760).

    MD5 alone by default: deployed phones (baresip 1.0, many desk phones) fail on a
    challenge whose algorithm they do not know even when an MD5 one follows, and SIPp
    answers only the first. Add ``SHA-256`` first where every phone supports RFC 8760."""
    tcp_max_connections: int = 4096
    """SIP/TCP connections open at once; a connection accepted beyond it is closed."""
    tcp_max_per_source: int = 64
    """SIP/TCP connections accepted from one IP address at once (a NAT of phones shares one)."""
    tcp_idle_timeout: float = 300.0
    """Seconds an accepted connection may go without a complete message or an RFC 5626
    keep-alive ping before it is closed (0: never); a registration over it keeps it open."""
    tcp_header_timeout: float = 10.0
    """Seconds a connection may hold part of a message before it is closed (0: never)."""
    session_expires: int = 1800
    """RFC 4028 session interval asked for and accepted at most, in seconds (0: no session
    timers). A call whose refreshes stop is ended with BYE before the interval is over."""
    session_min_se: int = 90
    """The shortest session interval accepted; a shorter one is answered 422."""


@frozen
class RtpConfig:
    """The RTP port range, and when a silent call is ended."""

    port_min: int = 20000
    port_max: int = 29999
    inactivity_timeout: float = 60.0
    """Seconds without an RTP or RTCP packet from an answered leg that should be sending
    before its call is ended (0: never). Held legs are not watched."""


@frozen
class UserConfig:
    """A user that registers and places calls: an agent's or supervisor's extension."""

    extension: str
    password: str
    name: str = ""
    skills: Mapping[str, int] = field(factory=dict)
    supervisor: bool = False
    queues: tuple[str, ...] = ()
    """Queues the agent serves (logs in to with ``*1``)."""
    supervises: tuple[str, ...] = ()
    """For a supervisor: the queues they watch and act on over the API (empty: all)."""
    voicemail_pin: str = ""
    """The PIN of their mailbox by phone (empty: the extension number)."""


@frozen
class TrunkConfig:
    """A carrier trunk: where outbound calls go, and whether we register there."""

    name: str
    host: str
    port: int = 5060
    transport: str = "UDP"
    username: str | None = None
    password: str | None = None
    register: bool = False
    caller_id: str | None = None
    """Caller number sent on outbound calls (None: the calling extension's)."""
    expires: int = 3600


@frozen
class AdminConfig:
    """An API administrator (``[http.admins.NAME]``): sees and acts on everything."""

    name: str
    password: str


@frozen
class ApiTokenConfig:
    """A static bearer token for an integration (``[http.tokens.NAME]``), kept only as
    the SHA-256 of the token."""

    name: str
    sha256: str
    """Hex SHA-256 of the token (``printf %s TOKEN | sha256sum``)."""
    role: str = "admin"
    """``admin`` or ``supervisor``."""
    queues: tuple[str, ...] = ()
    """For a supervisor token: its queues (empty: all)."""


@frozen
class WebhookConfig:
    """``[http.webhooks.NAME]``: events POSTed to a URL, signed, retried until delivered."""

    name: str
    url: str
    events: tuple[str, ...] = ()
    """Event types to send (``CallEnded``, ``OfferToAgent`` ...); empty: every event."""
    secret: str = ""
    """Key of the ``X-Pbx-Signature: sha256=<hex HMAC of the body>`` header."""
    max_attempts: int = 20
    """Attempts before a delivery is given up (backoff 1 s doubling to 5 min)."""


@frozen
class HttpConfig:
    """``[http]``: the control API, live events, metrics and pages."""

    host: str = "127.0.0.1"
    port: int = 8080
    enabled: bool = True
    """False: no HTTP server (``listen = ""``)."""
    token_ttl: float = 12 * 3600.0
    """How long a login's bearer token lasts, in seconds."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser (none: CORS off)."""
    crm_url: str = ""
    """A screen pop's CRM link: ``{caller}``, ``{did}``, ``{call}`` and any attached
    data key are replaced (e.g. ``https://crm.example/find?phone={caller}``)."""
    admins: tuple[AdminConfig, ...] = ()
    tokens: tuple[ApiTokenConfig, ...] = ()
    login_attempts: int = 5
    """Failed logins per user and address per minute before 429."""
    replay: int = 10_000
    """Events kept for clients that reconnect with the last sequence number they saw."""
    webhooks: tuple[WebhookConfig, ...] = ()
    sip_websocket: bool = True
    """SIP over WebSocket (RFC 7118, subprotocol ``sip``) at ``/sip`` on this listener."""
    certificate: str | None = None
    """``certificate`` and ``private_key``: PEM files (relative to the configuration
    file). With both, the listener speaks HTTPS, and SIP over it is ``wss://`` (``WSS``)."""
    private_key: str | None = None


@frozen
class ConferenceConfig:
    """``[conferences.NAME]``: one dial-in room."""

    name: str
    pin: str = ""
    """Digits a participant enters; empty: no PIN asked (unless a moderator PIN is set:
    then ``#`` alone joins as a participant)."""
    moderator_pin: str = ""
    """Digits that join as a moderator (mute all, lock, remove); empty: no moderators
    by phone."""
    max_members: int = 50
    record: bool = False
    """Record the room (one mono file of what its members say)."""
    announce: bool = True
    """Join and leave tones."""
    alone_music: bool = True
    """A member alone in the room hears the hold music."""


@frozen
class CallbacksConfig:
    """``[callbacks]``: how the pbx calls customers back (IVR requests, queue callbacks)."""

    trunk: str | None = None
    """The outbound trunk callbacks are dialled over, to the caller's number; None: to
    the SIP Contact the caller called from (else the number at the pbx's own host)."""
    caller_id: str = ""
    """The number the customer sees on a callback over the trunk ('' = the queue's)."""
    attempts: int = 3
    """Dial attempts of a stored callback before it is marked failed."""
    retry_after: float = 300.0
    """Seconds between two attempts of a stored callback."""
    timezone: str | None = None
    """IANA zone of clock-time slots (``"18:00"``); None: the reports' zone, else local."""


@frozen
class ReportsConfig:
    """``[reports]``: how the reports judge calls, and the custom SQL reports."""

    short_abandon: float = 5.0
    """Callers who hang up within this many seconds of queueing are not counted."""
    treatment: str = "against"
    """The service level's default treatment of abandons: ignored, against or for."""
    timezone: str | None = None
    """IANA zone of the reports' days and weeks (None: the server's local zone)."""
    custom: Mapping[str, CustomReport] = field(factory=dict)
    """``[reports.custom.NAME]``: named read-only SQL queries with parameters."""


@frozen
class IvrConfig:
    """An IVR (``[ivr.NAME] file = ...``): its graph, loaded and validated with the
    configuration."""

    graph: IvrGraph
    """The validated graph the IVR runs."""
    file: str | None = None
    """The TOML file the graph came from (None: built in Python)."""


@frozen
class AppConfig:
    """Everything an :class:`~pbx.app.Application` needs."""

    sip: SipConfig = field(factory=SipConfig)
    """``[sip]``: listening address, transports, digest and TCP limits."""
    http: HttpConfig = field(factory=lambda: HttpConfig(enabled=False))
    """``[http]``: the control API (off unless the table is there)."""
    rtp: RtpConfig = field(factory=RtpConfig)
    """``[rtp]``: the port range and the inactivity timeout."""
    users: tuple[UserConfig, ...] = ()
    """``[agents.EXT]`` and ``[supervisors.EXT]``, in file order."""
    trunks: tuple[TrunkConfig, ...] = ()
    """``[trunks.NAME]``, in file order."""
    store_path: str = "callcenter.db"
    """The SQLite file of CDRs, queue log and voicemail rows."""
    recordings_dir: str = "recordings"
    """Where call recordings are written."""
    voicemail_dir: str = "voicemail"
    """Where voicemail messages are written, one directory per mailbox."""
    prompts_dir: str | None = None
    """Prompts are loaded from here at start: ``en/welcome.wav`` becomes ``en/welcome``."""
    dialplan: tuple[Route, ...] = ()
    """The ``[[dialplan]]`` routes, in order: the first that matches a call wins."""
    queues: Mapping[str, QueueConfig] = field(factory=dict)
    """Queue name → its ``[queues.NAME]`` settings (the ACD's own config type)."""
    ivr: Mapping[str, IvrConfig] = field(factory=dict)
    """IVR name → its graph (``[ivr.NAME]``)."""
    campaigns: Mapping[str, CampaignConfig] = field(factory=dict)
    """Outbound campaign name → its ``[campaigns.NAME]`` settings (the dialer's type)."""
    dnc: Mapping[str, tuple[str, ...]] = field(factory=dict)
    """Do-not-call list name → its E.164 numbers (``[dnc.lists]``); the list named
    ``global`` applies to every campaign, the others to the campaigns naming them."""
    reports: ReportsConfig = field(factory=ReportsConfig)
    """``[reports]``: short-abandon threshold, service-level treatment, custom reports."""
    callbacks: CallbacksConfig = field(factory=CallbacksConfig)
    """``[callbacks]``: the trunk and caller ID of callbacks, their retries and zone."""
    voicemail_max_seconds: float = 120.0
    """The longest voicemail message, in seconds."""
    ring_timeout: float = 60.0
    """Seconds an extension rings before the caller is told 480 (no answer)."""
    device_grace: float = 60.0
    """``[calls] device_grace``: seconds a logged-in agent whose phone lost its
    registration (a closed browser tab, a phone that stopped refreshing) stays logged
    in, not offered calls, before the ACD logs them out."""
    inband_dtmf: str = "auto"
    """``[calls] inband_dtmf``: ``auto`` (DTMF tones are detected in the audio of peers
    whose SDP takes no telephone-event), ``always`` or ``never``."""
    conferences: Mapping[str, ConferenceConfig] = field(factory=dict)
    """``[conferences.NAME]``: dial-in conference rooms (a ``conference`` route names one)."""
    music: Mapping[str, tuple[str, ...]] = field(factory=dict)
    """``[music.CLASS] dir``: hold music class → its sound files, in name order (a
    queue's ``music_class`` names one; ``default`` replaces the ``moh`` prompt)."""
    strategies: Mapping[str, str] = field(factory=dict)
    """``[strategies] NAME = "module:attr"``: custom ACD strategies a queue's
    ``strategy`` may name (a class, a factory taking the ``rng``, or an object with
    ``key``; see :mod:`pbx.acd.strategies`)."""
    lookup_functions: Mapping[str, str] = field(factory=dict)
    """``[lookups.functions] NAME = "module:function"``: ``python`` IVR lookups,
    ``function(params) -> dict | None``, run off the event loop."""
    lookup_databases: Mapping[str, str] = field(factory=dict)
    """``[lookups.databases] NAME = "file.sqlite"``: the SQLite files ``sql`` IVR
    lookups query (read-only), relative to the configuration file."""
    source: str = "<python>"
    """Where the configuration came from, for error messages."""

    def user(self, extension: str) -> UserConfig | None:
        """The user with ``extension``, or None."""
        for u in self.users:
            if u.extension == extension:
                return u
        return None


def parse_hostport(text: str, where: str) -> tuple[str, int]:
    """``127.0.0.1:5060`` or ``[::1]:5060`` → (host, port); ConfigError otherwise."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: expected HOST:PORT, got {text!r}")
    return host, int(port)


class _Reader:
    """Typed access to a TOML table with errors that name the file and key."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.source}: {self.prefix}{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}: expected an integer, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.where(key)}: expected {names}, got {value!r}")
        return value

    def table(self, key: str) -> _Reader:
        value = self.get(key, dict, {})
        return _Reader(self.source, value, f"{self.prefix}{key}.")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self.where(unknown[0])}: unknown key")


def _count(table: _Reader, key: str, default: int) -> int:
    """A whole number of at least 1, or ConfigError naming the key."""
    value = table.get(key, int, default)
    if value < 1:
        raise ConfigError(f"{table.where(key)}: expected an integer >= 1, got {value!r}")
    return int(value)


def _seconds(table: _Reader, key: str, default: float) -> float:
    """A duration in seconds, at least 0 (0: never), or ConfigError naming the key."""
    value = table.get(key, (int, float), default)
    if isinstance(value, bool) or not 0 <= value < math.inf:
        raise ConfigError(f"{table.where(key)}: expected seconds >= 0, got {value!r}")
    return float(value)


def config_from_dict(
    data: Mapping[str, Any], source: str = "<dict>", *, base_dir: str | Path | None = None
) -> AppConfig:
    """Build and check an :class:`AppConfig` from parsed TOML (or any nested mapping).

    The prompts directory and IVR files are taken relative to ``base_dir`` (None: the
    working directory); IVR graphs are loaded from their files here, and every
    cross-reference is checked (:func:`check_config`)."""
    # One parser per table, in this order: the first problem found is the one reported.
    root = _Reader(source, data)
    sip = _sip(root.table("sip"))
    http = _http(root.table("http"), base_dir) if "http" in data else HttpConfig(enabled=False)
    rtp = _rtp(root.table("rtp"))
    store = _store(root.table("store"))
    users = _users(root)
    prompts_dir = _prompts_dir(root.table("prompts"), base_dir)
    dialplan = tuple(dialplan_from_config(root.get("dialplan", list, []), source).routes)
    voicemail_max = _number(root.table("voicemail"), "max_seconds", 120.0)
    calls_t = root.table("calls")
    ring_timeout = float(calls_t.get("ring_timeout", (int, float), 60.0))
    device_grace = float(calls_t.get("device_grace", (int, float), 60.0))
    inband_dtmf = calls_t.get("inband_dtmf", str, "auto")
    if inband_dtmf not in ("auto", "always", "never"):
        raise ConfigError(
            f"{calls_t.where('inband_dtmf')}: expected auto, always or never, got {inband_dtmf!r}"
        )
    if device_grace < 0:
        raise ConfigError(f"{calls_t.where('device_grace')}: must be 0 or more seconds")
    calls_t.done()
    trunks = _trunks(root.table("trunks"))
    queues_t = root.table("queues")
    queues = {name: _queue(name, queues_t.table(name)) for name in list(queues_t.data)}
    ivr = _ivrs(root.table("ivr"), base_dir, prompts_dir)
    campaigns_t = root.table("campaigns")
    campaigns = {
        name: campaign_from_dict(
            name, campaigns_t.get(name, dict, {}), f"{source}: campaigns.{name}"
        )
        for name in list(campaigns_t.data)
    }
    dnc = _dnc(root.table("dnc"), base_dir, campaigns)
    reports = _reports(root.table("reports"))
    callbacks = _callbacks(root.table("callbacks"))
    music = _music(root.table("music"), base_dir)
    conferences_t = root.table("conferences")
    conferences = {
        name: _conference(name, conferences_t.table(name)) for name in list(conferences_t.data)
    }
    strategies = _strategies(root.table("strategies"))
    functions, databases = _lookups(root.table("lookups"), base_dir)
    root.done()
    config = AppConfig(
        sip=sip,
        http=http,
        rtp=rtp,
        users=users,
        trunks=trunks,
        store_path=store.path,
        recordings_dir=store.recordings,
        voicemail_dir=store.voicemail,
        prompts_dir=prompts_dir,
        dialplan=dialplan,
        queues=queues,
        ivr=ivr,
        campaigns=campaigns,
        dnc=dnc,
        reports=reports,
        callbacks=callbacks,
        voicemail_max_seconds=voicemail_max,
        ring_timeout=ring_timeout,
        device_grace=device_grace,
        inband_dtmf=inband_dtmf,
        conferences=conferences,
        music=music,
        strategies=strategies,
        lookup_functions=functions,
        lookup_databases=databases,
        source=source,
    )
    check_config(config)
    return config


# ------------------------------------------------------------------ one table each
_TRANSPORTS = ("udp", "tcp")
_AUTH_ALGORITHMS = ("MD5", "SHA-256")


def _sip(table: _Reader) -> SipConfig:
    """``[sip]``: the listening address, transports, digest, TCP limits, session timers."""
    host, port = parse_hostport(table.get("listen", str, "127.0.0.1:5060"), table.where("listen"))
    transports = table.get("transports", list, ["udp", "tcp"])
    for t in transports:
        if t not in _TRANSPORTS:
            raise ConfigError(f"{table.where('transports')}: unknown transport {t!r}")
    trusted = _networks(table, "trusted_networks", ["127.0.0.0/8", "::1/128"])
    sip = SipConfig(
        host=host,
        port=port,
        udp="udp" in transports,
        tcp="tcp" in transports,
        realm=table.get("realm", str, "pbx"),
        user_agent=table.get("user_agent", str, "pbx"),
        trace=table.get("trace", bool, False),
        trusted_networks=trusted,
        auth_algorithms=tuple(str(a) for a in table.get("auth_algorithms", list, ["MD5"])),
        tcp_max_connections=_count(table, "tcp_max_connections", 4096),
        tcp_max_per_source=_count(table, "tcp_max_per_source", 64),
        tcp_idle_timeout=_seconds(table, "tcp_idle_timeout", 300.0),
        tcp_header_timeout=_seconds(table, "tcp_header_timeout", 10.0),
        session_expires=table.get("session_expires", int, 1800),
        session_min_se=table.get("session_min_se", int, 90),
    )
    _check_sip(sip, table)
    table.done()
    return sip


def _networks(table: _Reader, key: str, default: list[str]) -> tuple[str, ...]:
    """A list of IP networks (``127.0.0.0/8``, ``::1/128``)."""
    networks = table.get(key, list, default)
    for network in networks:
        try:
            ipaddress.ip_network(network if isinstance(network, str) else "")
        except ValueError:
            raise ConfigError(
                f"{table.where(key)}: expected a network such as 127.0.0.0/8, got {network!r}"
            ) from None
    return tuple(str(n) for n in networks)


def _check_sip(sip: SipConfig, table: _Reader) -> None:
    """The ``[sip]`` values that bound one another: RFC 4028 session timers, TCP limits,
    digest algorithms."""
    if sip.session_min_se < 90:
        raise ConfigError(
            f"{table.where('session_min_se')}: expected at least 90 (RFC 4028 §4), "
            f"got {sip.session_min_se!r}"
        )
    if sip.session_expires != 0 and sip.session_expires < sip.session_min_se:
        raise ConfigError(
            f"{table.where('session_expires')}: expected 0 (off) or at least session_min_se "
            f"({sip.session_min_se}), got {sip.session_expires!r}"
        )
    if sip.tcp_max_per_source > sip.tcp_max_connections:
        raise ConfigError(
            f"{table.where('tcp_max_per_source')}: expected at most tcp_max_connections "
            f"({sip.tcp_max_connections}), got {sip.tcp_max_per_source}"
        )
    for algorithm in sip.auth_algorithms:
        if algorithm not in _AUTH_ALGORITHMS:
            raise ConfigError(f"{table.where('auth_algorithms')}: unknown algorithm {algorithm!r}")


_ROLES = ("admin", "supervisor")


def _http(table: _Reader, base_dir: str | Path | None = None) -> HttpConfig:
    """``[http]``: where the API listens, its administrators and integration tokens."""
    listen = table.get("listen", str, "127.0.0.1:8080")
    host, port = parse_hostport(listen, table.where("listen")) if listen else ("", 0)
    admins_t = table.table("admins")
    admins = []
    for name in list(admins_t.data):
        entry = admins_t.table(name)
        password = entry.get("password", str, "")
        if not password:
            raise ConfigError(f"{entry.where('password')}: missing")
        entry.done()
        admins.append(AdminConfig(name, password))
    tokens_t = table.table("tokens")
    tokens = []
    for name in list(tokens_t.data):
        entry = tokens_t.table(name)
        digest = entry.get("sha256", str, "").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{entry.where('sha256')}: expected 64 hex digits")
        role = entry.get("role", str, "admin")
        if role not in _ROLES:
            raise ConfigError(f"{entry.where('role')}: expected admin or supervisor, got {role!r}")
        queues = tuple(str(q) for q in entry.get("queues", list, []))
        entry.done()
        tokens.append(ApiTokenConfig(name, digest, role, queues))
    origins = table.get("cors_origins", list, [])
    hooks_t = table.table("webhooks")
    hooks = []
    for name in list(hooks_t.data):
        entry = hooks_t.table(name)
        url = entry.get("url", str, "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{entry.where('url')}: expected an http:// or https:// URL, got {url!r}"
            )
        hooks.append(
            WebhookConfig(
                name,
                url,
                tuple(str(e) for e in entry.get("events", list, [])),
                entry.get("secret", str, ""),
                _count(entry, "max_attempts", 20),
            )
        )
        entry.done()
    config = HttpConfig(
        host=host,
        port=port,
        enabled=bool(listen),
        token_ttl=_seconds(table, "token_ttl", 12 * 3600.0),
        cors_origins=tuple(str(o) for o in origins),
        crm_url=table.get("crm_url", str, ""),
        admins=tuple(admins),
        tokens=tuple(tokens),
        login_attempts=_count(table, "login_attempts", 5),
        replay=_count(table, "replay", 10_000),
        webhooks=tuple(hooks),
        sip_websocket=table.get("sip_websocket", bool, True),
        **_tls_files(table, base_dir),
    )
    table.done()
    return config


def _tls_files(table: _Reader, base_dir: str | Path | None) -> dict[str, str | None]:
    """``certificate`` and ``private_key``: both or neither, readable, and a pair."""
    cert = table.get("certificate", str, None)
    key = table.get("private_key", str, None)
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        missing = "certificate" if cert is None else "private_key"
        raise ConfigError(f"{table.where(missing)}: missing (HTTPS needs both files)")
    cert, key = _relative_to(base_dir, cert), _relative_to(base_dir, key)
    for name, path in (("certificate", cert), ("private_key", key)):
        if not Path(path).is_file():
            raise ConfigError(f"{table.where(name)}: no such file {path!r}")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{table.where('certificate')}: {cert!r} and {key!r} are not a PEM certificate "
            f"and its private key ({exc})"
        ) from None
    return {"certificate": cert, "private_key": key}


def _rtp(table: _Reader) -> RtpConfig:
    """``[rtp]``: ``ports = "LOW-HIGH"`` and the inactivity timeout."""
    ports = table.get("ports", str, "20000-29999")
    lo, dash, hi = ports.partition("-")
    if not dash or not lo.isdigit() or not hi.isdigit() or not 1024 <= int(lo) < int(hi) <= 65535:
        raise ConfigError(
            f"{table.where('ports')}: expected LOW-HIGH within 1024-65535, got {ports!r}"
        )
    inactivity = table.get("inactivity_timeout", (int, float), 60)
    if isinstance(inactivity, bool) or inactivity < 0:
        raise ConfigError(
            f"{table.where('inactivity_timeout')}: expected seconds >= 0, got {inactivity!r}"
        )
    rtp = RtpConfig(int(lo), int(hi), float(inactivity))
    table.done()
    return rtp


@frozen
class _StorePaths:
    """``[store]``: where the records go."""

    path: str
    recordings: str
    voicemail: str


def _store(table: _Reader) -> _StorePaths:
    """``[store]``: the SQLite file, the recordings and the voicemail directories."""
    store = _StorePaths(
        path=table.get("path", str, "callcenter.db"),
        recordings=table.get("recordings", str, "recordings"),
        voicemail=table.get("voicemail", str, "voicemail"),
    )
    table.done()
    return store


def _users(root: _Reader) -> tuple[UserConfig, ...]:
    """``[agents.EXT]`` then ``[supervisors.EXT]``; an extension is defined once."""
    users: list[UserConfig] = []
    for kind, supervisor in (("agents", False), ("supervisors", True)):
        table = root.table(kind)
        for ext in list(table.data):
            users.append(_user(table, ext, supervisor))
    seen: set[str] = set()
    for u in users:
        if u.extension in seen:
            raise ConfigError(f"{root.source}: extension {u.extension} is defined twice")
        seen.add(u.extension)
    return tuple(users)


def _user(table: _Reader, ext: str, supervisor: bool) -> UserConfig:
    """One ``[agents.EXT]`` or ``[supervisors.EXT]`` table."""
    entry = table.table(ext)
    if not ext.isdigit():
        raise ConfigError(f"{table.where(ext)}: an extension is digits only")
    skills = _skill_levels(entry.get("skills", dict, {}), entry.where("skills"))
    user = UserConfig(
        extension=ext,
        password=entry.get("password", str, ""),
        name=entry.get("name", str, ""),
        skills=skills,
        supervisor=supervisor,
        queues=tuple(str(q) for q in entry.get("queues", list, [])),
        supervises=tuple(str(q) for q in entry.get("supervises", list, [])) if supervisor else (),
        voicemail_pin=entry.get("voicemail_pin", str, ""),
    )
    if not user.password:
        raise ConfigError(f"{entry.where('password')}: missing")
    if user.voicemail_pin and not user.voicemail_pin.isdigit():
        raise ConfigError(f"{entry.where('voicemail_pin')}: digits only")
    entry.done()
    return user


def _prompts_dir(table: _Reader, base_dir: str | Path | None) -> str | None:
    """``[prompts] dir``: an existing directory, relative to the configuration file."""
    prompts_dir = table.get("dir", str, None)
    if prompts_dir is not None:
        prompts_dir = _relative_to(base_dir, prompts_dir)
        if not Path(prompts_dir).is_dir():
            raise ConfigError(f"{table.where('dir')}: no such directory {prompts_dir!r}")
    table.done()
    return prompts_dir


MUSIC_SUFFIXES = (".wav", ".flac", ".ogg")


def _strategies(table: _Reader) -> dict[str, str]:
    """``[strategies] NAME = "module:attr"``, each one importable and a strategy."""
    found: dict[str, str] = {}
    for name in list(table.data):
        where = table.where(name)
        spec = table.get(name, str, "")
        if name in STRATEGIES:
            raise ConfigError(f"{where}: {name!r} is a built-in strategy; choose another name")
        make_strategy(spec, where, random.Random(0))
        found[name] = spec
    table.done()
    return found


def _lookups(table: _Reader, base_dir: str | Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """``[lookups.functions]`` (importable callables) and ``[lookups.databases]``
    (existing SQLite files)."""
    functions_t = table.table("functions")
    functions: dict[str, str] = {}
    for name in list(functions_t.data):
        where = functions_t.where(name)
        spec = functions_t.get(name, str, "")
        if not callable(load_object(spec, where)):
            raise ConfigError(f"{where}: {spec!r} is not a function")
        functions[name] = spec
    functions_t.done()
    databases_t = table.table("databases")
    databases: dict[str, str] = {}
    for name in list(databases_t.data):
        where = databases_t.where(name)
        path = _relative_to(base_dir, databases_t.get(name, str, ""))
        if not Path(path).is_file():
            raise ConfigError(f"{where}: no such database file {path!r}")
        databases[name] = path
    databases_t.done()
    table.done()
    return functions, databases


def _music(table: _Reader, base_dir: str | Path | None) -> dict[str, tuple[str, ...]]:
    """``[music.CLASS] dir``: an existing directory with at least one sound file."""
    classes: dict[str, tuple[str, ...]] = {}
    for name in list(table.data):
        entry = table.table(name)
        where = entry.where("dir")
        directory = entry.get("dir", str, None)
        if not directory:
            raise ConfigError(f"{where}: missing (the directory of the class's files)")
        path = Path(_relative_to(base_dir, directory))
        if not path.is_dir():
            raise ConfigError(f"{where}: no such directory {str(path)!r}")
        files = tuple(
            str(f)
            for f in sorted(path.iterdir())
            if f.is_file() and f.suffix.lower() in MUSIC_SUFFIXES
        )
        if not files:
            raise ConfigError(f"{where}: no .wav, .flac or .ogg file in {str(path)!r}")
        entry.done()
        classes[name] = files
    table.done()
    return classes


def _conference(name: str, table: _Reader) -> ConferenceConfig:
    """``[conferences.NAME]``: PINs of digits, a member limit, flags."""
    pins: dict[str, str] = {}
    for key in ("pin", "moderator_pin"):
        pin = table.get(key, str, "")
        if pin and not (pin.isdigit() and pin.isascii() and len(pin) <= 16):
            raise ConfigError(f"{table.where(key)}: expected 1 to 16 digits, got {pin!r}")
        pins[key] = pin
    if pins["pin"] and pins["pin"] == pins["moderator_pin"]:
        raise ConfigError(f"{table.where('moderator_pin')}: must differ from the pin")
    max_members = table.get("max_members", int, 50)
    if not 2 <= max_members <= 200:
        raise ConfigError(f"{table.where('max_members')}: expected 2 to 200, got {max_members!r}")
    flags = {
        key: table.get(key, bool, default)
        for key, default in (("record", False), ("announce", True), ("alone_music", True))
    }
    table.done()
    return ConferenceConfig(name, pins["pin"], pins["moderator_pin"], max_members, **flags)


def _number(table: _Reader, key: str, default: float) -> float:
    """A table of one number (``[voicemail] max_seconds``)."""
    value = table.get(key, (int, float), default)
    table.done()
    return float(value)


def _trunks(table: _Reader) -> tuple[TrunkConfig, ...]:
    """``[trunks.NAME]``, in file order."""
    return tuple(_trunk(name, table.table(name)) for name in list(table.data))


def _trunk(name: str, table: _Reader) -> TrunkConfig:
    """One ``[trunks.NAME]`` table: a host, and credentials when it registers."""
    transport = table.get("transport", str, "udp")
    if transport not in _TRANSPORTS:
        raise ConfigError(f"{table.where('transport')}: expected udp or tcp, got {transport!r}")
    trunk = TrunkConfig(
        name=name,
        host=table.get("host", str, ""),
        port=table.get("port", int, 5060),
        transport=transport.upper(),
        username=table.get("username", str, None),
        password=table.get("password", str, None),
        register=table.get("register", bool, False),
        caller_id=table.get("caller_id", str, None),
        expires=table.get("expires", int, 3600),
    )
    if not trunk.host:
        raise ConfigError(f"{table.where('host')}: missing")
    if trunk.register and not (trunk.username and trunk.password):
        raise ConfigError(f"{table.where('register')}: registering needs username and password")
    table.done()
    return trunk


def _ivrs(
    table: _Reader, base_dir: str | Path | None, prompts_dir: str | None
) -> dict[str, IvrConfig]:
    """``[ivr.NAME] file = ...``: each graph loaded and validated from its file."""
    ivr: dict[str, IvrConfig] = {}
    for name in list(table.data):
        entry = table.table(name)
        file = entry.get("file", str, "")
        if not file:
            raise ConfigError(f"{entry.where('file')}: missing")
        entry.done()
        ivr[name] = _ivr(_relative_to(base_dir, file), prompts_dir, entry.where("file"))
    return ivr


def _relative_to(base_dir: str | Path | None, path: str) -> str:
    """``path`` as written, or under ``base_dir`` when it is relative and one is given."""
    if base_dir is None or Path(path).is_absolute():
        return path
    return str(Path(base_dir) / path)


def _ivr(file: str, prompts_dir: str | None, where: str) -> IvrConfig:
    """Load and validate the IVR graph in ``file``; its problems follow ``where``."""
    if not Path(file).is_file():
        raise ConfigError(f"{where}: no such file {file!r}")
    try:
        graph = load_graph(file, prompt_dir=prompts_dir)
    except IvrGraphError as exc:
        prefix = f"file '{Path(file)}': "
        problems = "; ".join(p.removeprefix(prefix) for p in exc.problems)
        raise ConfigError(f"{where.rpartition('.file')[0]}: {prefix}{problems}") from None
    return IvrConfig(graph, file)


_QUEUE_SECONDS = (
    "ring_timeout",
    "skip_delay",
    "wrap_up",
    "announce_period",
    "max_wait",
    "callback_after",
    "service_level_threshold",
    "default_aht",
)
_QUEUE_STRINGS = ("strategy", "rona", "join_empty", "leave_when_empty", "music_class")


def _queue(name: str, table: _Reader) -> QueueConfig:
    """A ``[queues.NAME]`` table → :class:`QueueConfig`; values are checked by
    :func:`check_config`, types and keys here."""
    kwargs: dict[str, Any] = {"name": name}
    for key in list(table.data):
        if key in _QUEUE_SECONDS:
            kwargs[key] = _seconds(table, key, 0.0)
        elif key in _QUEUE_STRINGS:
            kwargs[key] = table.get(key, str, "")
        elif key in ("max_length", "weight"):
            kwargs[key] = table.get(key, int, 0)
        elif key in ("whisper", "record"):
            kwargs[key] = table.get(key, bool, False)
        elif key == "callback_key":
            kwargs[key] = _dtmf_key(table.get(key, str, ""), table.where(key))
        elif key == "overflow":
            kwargs[key] = _queue_target(table.get(key, str, ""), table.where(key))
        elif key == "skills":
            kwargs[key] = _skill_levels(table.get(key, dict, {}), table.where(key))
        elif key == "relax":
            kwargs[key] = _relax(table)
        elif key == "dispositions":
            codes = table.get(key, list, [])
            if not all(isinstance(c, str) and 0 < len(c) <= 64 for c in codes):
                raise ConfigError(f"{table.where(key)}: expected a list of codes (1-64 chars)")
            kwargs[key] = tuple(dict.fromkeys(codes))
        elif key == "exit_keys":
            keys = table.table(key)
            kwargs[key] = {
                _dtmf_key(digit, keys.where(digit)): _queue_target(
                    keys.get(digit, str, ""), keys.where(digit)
                )
                for digit in list(keys.data)
            }
    vip = table.get("vip", list, None)
    priority = table.get("vip_priority", int, 10)
    if vip is not None:
        if not all(isinstance(v, str) for v in vip):
            raise ConfigError(f"{table.where('vip')}: expected a list of caller numbers")
        kwargs["priority_rules"] = (PriorityRule("caller", frozenset(vip), priority),)
    table.done()
    return QueueConfig(**kwargs)


def _relax(table: _Reader) -> tuple[tuple[float, Mapping[str, int]], ...]:
    """``relax = [{ after = 60, skills = { support = 1 } }, ...]``."""
    steps = []
    for i, step in enumerate(table.get("relax", list, [])):
        if not isinstance(step, dict) or "after" not in step:
            raise ConfigError(f"{table.where('relax')}[{i}]: expected {{after, skills}}")
        entry = _Reader(table.source, step, f"{table.prefix}relax[{i}].")
        after = _seconds(entry, "after", 0.0)
        steps.append((after, _skill_levels(entry.get("skills", dict, {}), entry.where("skills"))))
        entry.done()
    return tuple(steps)


def _queue_target(value: str, where: str) -> QueueTarget:
    """``queue:support``, ``ivr:main``, ``voicemail:800`` or ``number:2001``."""
    kind, colon, name = value.partition(":")
    if not colon or not name:
        raise ConfigError(
            f"{where}: expected KIND:NAME (queue:support, ivr:main, "
            f"voicemail:800, number:2001), got {value!r}"
        )
    if kind not in ("queue", "ivr", "voicemail", "number"):
        raise ConfigError(f"{where}: unknown target kind {kind!r}")
    return QueueTarget(kind, name)


def _dtmf_key(value: str, where: str) -> str:
    """One of the sixteen DTMF keys."""
    if value not in DTMF_KEYS:
        raise ConfigError(f"{where}: expected one DTMF key (0-9, *, #, A-D), got {value!r}")
    return value


def _skill_levels(value: Mapping[str, Any], where: str) -> dict[str, int]:
    """A table of skill = level, each level 1..10."""
    for skill, level in value.items():
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 10:
            raise ConfigError(f"{where}: skill {skill!r} needs a level from 1 to 10")
    return dict(value)


def _dnc(
    table: _Reader, base_dir: str | Path | None, campaigns: Mapping[str, CampaignConfig]
) -> dict[str, tuple[str, ...]]:
    """``[dnc]``: ``lists.NAME`` is a CSV file (relative to the configuration file) or a
    list of numbers, each read as E.164 in ``default_region`` when given, else in the
    default region of the campaigns using the list (see
    :func:`~pbx.dialer.dnc.list_region`)."""
    region = table.get("default_region", str, None)
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"{table.where('default_region')}: unknown region {region!r} (ISO 3166, e.g. US)"
        )
    lists_t = table.table("lists")
    lists: dict[str, tuple[str, ...]] = {}
    for name in list(lists_t.data):
        value = lists_t.get(name, (str, list), "")
        where = lists_t.where(name)
        numbers_region = region if region is not None else list_region(name, campaigns.values())
        if isinstance(value, str):
            if not value:
                raise ConfigError(f"{where}: expected a CSV file or a list of numbers, got ''")
            lists[name] = _dnc_file(_relative_to(base_dir, value), numbers_region, where)
            continue
        numbers: dict[str, None] = {}
        for i, number in enumerate(value):
            if not isinstance(number, str):
                raise ConfigError(f"{where}[{i}]: expected a phone number, got {number!r}")
            try:
                numbers[dnc_number(number, numbers_region)] = None
            except ValueError as exc:
                raise ConfigError(f"{where}[{i}]: {number!r} {exc}") from None
        lists[name] = tuple(numbers)
    lists_t.done()
    table.done()
    return lists


def _callbacks(table: _Reader) -> CallbacksConfig:
    """``[callbacks]``: ``trunk``, ``caller_id``, ``attempts``, ``retry_after``,
    ``timezone`` (the trunk is checked against ``[trunks]`` with the other references)."""
    zone = table.get("timezone", str, None)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{table.where('timezone')}: unknown time zone {zone!r}") from None
    config = CallbacksConfig(
        trunk=table.get("trunk", str, None),
        caller_id=table.get("caller_id", str, ""),
        attempts=_count(table, "attempts", 3),
        retry_after=_seconds(table, "retry_after", 300.0),
        timezone=zone,
    )
    table.done()
    return config


def _reports(table: _Reader) -> ReportsConfig:
    """``[reports]``: ``short_abandon`` seconds, ``treatment``, ``timezone`` and
    ``custom.NAME`` (``sql``, ``params``, ``title``) checked as read-only queries."""
    short = _seconds(table, "short_abandon", 5.0)
    treatment = table.get("treatment", str, "against")
    if treatment not in ("ignored", "against", "for"):
        raise ConfigError(
            f"{table.where('treatment')}: expected ignored, against or for, got {treatment!r}"
        )
    zone = table.get("timezone", str, None)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{table.where('timezone')}: unknown time zone {zone!r}") from None
    custom_t = table.table("custom")
    custom: dict[str, CustomReport] = {}
    for name in list(custom_t.data):
        entry = custom_t.table(name)
        sql = entry.get("sql", str, "")
        params_t = entry.get("params", dict, {})
        title = entry.get("title", str, "")
        entry.done()
        params: dict[str, str] = {}
        for key, kind in params_t.items():
            if not isinstance(kind, str):
                raise ConfigError(f"{entry.where('params')}.{key}: expected time, number or text")
            params[str(key)] = kind
        try:
            custom[name] = custom_report(name, sql, params, title)
        except ReportError as exc:
            raise ConfigError(f"{custom_t.where(name)}: {exc}") from None
    custom_t.done()
    table.done()
    return ReportsConfig(short, treatment, zone, custom)


def _dnc_file(file: str, region: str | None, where: str) -> tuple[str, ...]:
    """The numbers of a CSV do-not-call list; ConfigError naming the file and row."""
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file {file!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read {file!r}: {reason}") from None
    numbers, errors = read_dnc_csv(text, region)
    if errors:
        more = f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
        raise ConfigError(f"{where}: file {file!r} {errors[0]}{more}")
    return numbers


def load_config(path: str | Path) -> AppConfig:
    """Read and check a TOML configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    # Prompts and IVR graphs ship beside the configuration that names them.
    return config_from_dict(data, str(p), base_dir=p.parent)
