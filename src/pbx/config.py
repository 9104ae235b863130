"""Typed configuration of a pbx application, loaded from TOML or built in Python.

``load_config(path)`` reads a TOML file into :class:`AppConfig`; every mistake raises
:class:`~pbx.errors.ConfigError` naming the file, the key and the problem, e.g.
``callcenter.toml: sip.listen: expected HOST:PORT, got '5060'``. Relative paths in the
file (store, recordings, prompts) are taken relative to the working directory, like the
example's contract says.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import evolve, field, frozen

from pbx.errors import ConfigError


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
class AppConfig:
    """Everything an :class:`~pbx.app.Application` needs."""

    sip: SipConfig = field(factory=SipConfig)
    rtp: RtpConfig = field(factory=RtpConfig)
    users: tuple[UserConfig, ...] = ()
    trunks: tuple[TrunkConfig, ...] = ()
    store_path: str = "callcenter.db"
    recordings_dir: str = "recordings"
    voicemail_dir: str = "voicemail"
    prompts_dir: str | None = None
    """Prompts are loaded from here at start: ``en/welcome.wav`` becomes ``en/welcome``."""
    dialplan: tuple[Mapping[str, Any], ...] = ()
    queues: Mapping[str, Mapping[str, Any]] = field(factory=dict)
    ivr: Mapping[str, str] = field(factory=dict)
    """IVR graph name → its TOML file (``[ivr.NAME] file = ...``)."""
    """The ``[queues.NAME]`` tables, read by :func:`pbx.calls.queues.queue_configs`."""
    """The ``[[dialplan]]`` tables, checked by :func:`pbx.calls.dialplan.dialplan_from_config`."""
    voicemail_max_seconds: float = 120.0
    ring_timeout: float = 60.0
    """Seconds an extension rings before the caller is told 480 (no answer)."""
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


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> AppConfig:
    """Build an :class:`AppConfig` from parsed TOML (or any nested mapping)."""
    root = _Reader(source, data)
    sip_t = root.table("sip")
    host, port = parse_hostport(sip_t.get("listen", str, "127.0.0.1:5060"), sip_t.where("listen"))
    transports = sip_t.get("transports", list, ["udp", "tcp"])
    for t in transports:
        if t not in ("udp", "tcp"):
            raise ConfigError(f"{sip_t.where('transports')}: unknown transport {t!r}")
    trusted = sip_t.get("trusted_networks", list, ["127.0.0.0/8", "::1/128"])
    sip = SipConfig(
        host=host,
        port=port,
        udp="udp" in transports,
        tcp="tcp" in transports,
        realm=sip_t.get("realm", str, "pbx"),
        user_agent=sip_t.get("user_agent", str, "pbx"),
        trace=sip_t.get("trace", bool, False),
        trusted_networks=tuple(str(n) for n in trusted),
        auth_algorithms=tuple(str(a) for a in sip_t.get("auth_algorithms", list, ["MD5"])),
        tcp_max_connections=_count(sip_t, "tcp_max_connections", 4096),
        tcp_max_per_source=_count(sip_t, "tcp_max_per_source", 64),
        tcp_idle_timeout=_seconds(sip_t, "tcp_idle_timeout", 300.0),
        tcp_header_timeout=_seconds(sip_t, "tcp_header_timeout", 10.0),
        session_expires=sip_t.get("session_expires", int, 1800),
        session_min_se=sip_t.get("session_min_se", int, 90),
    )
    if sip.session_min_se < 90:
        raise ConfigError(
            f"{sip_t.where('session_min_se')}: expected at least 90 (RFC 4028 §4), "
            f"got {sip.session_min_se!r}"
        )
    if sip.session_expires != 0 and sip.session_expires < sip.session_min_se:
        raise ConfigError(
            f"{sip_t.where('session_expires')}: expected 0 (off) or at least session_min_se "
            f"({sip.session_min_se}), got {sip.session_expires!r}"
        )
    if sip.tcp_max_per_source > sip.tcp_max_connections:
        raise ConfigError(
            f"{sip_t.where('tcp_max_per_source')}: expected at most tcp_max_connections "
            f"({sip.tcp_max_connections}), got {sip.tcp_max_per_source}"
        )
    for algorithm in sip.auth_algorithms:
        if algorithm not in ("MD5", "SHA-256"):
            raise ConfigError(f"{sip_t.where('auth_algorithms')}: unknown algorithm {algorithm!r}")
    sip_t.done()
    rtp_t = root.table("rtp")
    ports = rtp_t.get("ports", str, "20000-29999")
    lo, dash, hi = ports.partition("-")
    if not dash or not lo.isdigit() or not hi.isdigit() or not 1024 <= int(lo) < int(hi) <= 65535:
        raise ConfigError(
            f"{rtp_t.where('ports')}: expected LOW-HIGH within 1024-65535, got {ports!r}"
        )
    inactivity = rtp_t.get("inactivity_timeout", (int, float), 60)
    if isinstance(inactivity, bool) or inactivity < 0:
        raise ConfigError(
            f"{rtp_t.where('inactivity_timeout')}: expected seconds >= 0, got {inactivity!r}"
        )
    rtp = RtpConfig(int(lo), int(hi), float(inactivity))
    rtp_t.done()
    store_t = root.table("store")
    store_path = store_t.get("path", str, "callcenter.db")
    recordings = store_t.get("recordings", str, "recordings")
    voicemail = store_t.get("voicemail", str, "voicemail")
    store_t.done()
    users: list[UserConfig] = []
    for kind, supervisor in (("agents", False), ("supervisors", True)):
        table = root.table(kind)
        for ext in list(table.data):
            entry = table.table(ext)
            if not ext.isdigit():
                raise ConfigError(f"{table.where(ext)}: an extension is digits only")
            skills = entry.get("skills", dict, {})
            for skill, level in skills.items():
                if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 10:
                    raise ConfigError(
                        f"{entry.where('skills')}: skill {skill!r} needs a level from 1 to 10"
                    )
            users.append(
                UserConfig(
                    extension=ext,
                    password=entry.get("password", str, ""),
                    name=entry.get("name", str, ""),
                    skills=dict(skills),
                    supervisor=supervisor,
                    queues=tuple(str(q) for q in entry.get("queues", list, [])),
                )
            )
            if not users[-1].password:
                raise ConfigError(f"{entry.where('password')}: missing")
            entry.done()
    seen: set[str] = set()
    for u in users:
        if u.extension in seen:
            raise ConfigError(f"{source}: extension {u.extension} is defined twice")
        seen.add(u.extension)
    prompts_t = root.table("prompts")
    prompts_dir = prompts_t.get("dir", str, None)
    prompts_t.done()
    dialplan = root.get("dialplan", list, [])
    for i, entry in enumerate(dialplan):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: dialplan[{i}]: expected a table")
    vm_t = root.table("voicemail")
    vm_max = vm_t.get("max_seconds", (int, float), 120.0)
    vm_t.done()
    calls_t = root.table("calls")
    ring_timeout = calls_t.get("ring_timeout", (int, float), 60.0)
    calls_t.done()
    trunks: list[TrunkConfig] = []
    trunks_t = root.table("trunks")
    for name in list(trunks_t.data):
        t = trunks_t.table(name)
        transport = t.get("transport", str, "udp")
        if transport not in ("udp", "tcp"):
            raise ConfigError(f"{t.where('transport')}: expected udp or tcp, got {transport!r}")
        trunk = TrunkConfig(
            name=name,
            host=t.get("host", str, ""),
            port=t.get("port", int, 5060),
            transport=transport.upper(),
            username=t.get("username", str, None),
            password=t.get("password", str, None),
            register=t.get("register", bool, False),
            caller_id=t.get("caller_id", str, None),
            expires=t.get("expires", int, 3600),
        )
        if not trunk.host:
            raise ConfigError(f"{t.where('host')}: missing")
        if trunk.register and not (trunk.username and trunk.password):
            raise ConfigError(f"{t.where('register')}: registering needs username and password")
        t.done()
        trunks.append(trunk)
    queues = root.get("queues", dict, {})
    ivr_t = root.table("ivr")
    ivr: dict[str, str] = {}
    for name in list(ivr_t.data):
        entry = ivr_t.table(name)
        file = entry.get("file", str, "")
        if not file:
            raise ConfigError(f"{entry.where('file')}: missing")
        ivr[name] = file
        entry.done()  # read by the ACD and IVR modules
    root.done()
    return AppConfig(
        sip=sip,
        rtp=rtp,
        users=tuple(users),
        trunks=tuple(trunks),
        store_path=store_path,
        recordings_dir=recordings,
        voicemail_dir=voicemail,
        prompts_dir=prompts_dir,
        dialplan=tuple(dialplan),
        queues=dict(queues),
        ivr=ivr,
        voicemail_max_seconds=float(vm_max),
        ring_timeout=float(ring_timeout),
        source=source,
    )


def load_config(path: str | Path) -> AppConfig:
    """Read a TOML configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    config = config_from_dict(data, str(p))
    if config.prompts_dir is not None and not Path(config.prompts_dir).is_absolute():
        # Prompts and IVR graphs ship beside the configuration that names them.
        config = evolve(config, prompts_dir=str(p.parent / config.prompts_dir))
    ivr = {
        name: file if Path(file).is_absolute() else str(p.parent / file)
        for name, file in config.ivr.items()
    }
    return evolve(config, ivr=ivr)
