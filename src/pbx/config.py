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
wrong type. The second, :func:`check_config`, follows every reference between them: a
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
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from pbx.acd.models import EMPTY_RULES, PriorityRule, QueueConfig, validate_queue
from pbx.acd.models import Target as QueueTarget
from pbx.acd.strategies import STRATEGIES
from pbx.calls.dialplan import Dialplan, Route, dialplan_from_config
from pbx.errors import ConfigError
from pbx.ivr.errors import IvrGraphError
from pbx.ivr.graph import IvrGraph
from pbx.ivr.loader import file_prompt_exists, load_graph
from pbx.ivr.nodes import QueueNode, TransferNode, VoicemailNode
from pbx.ivr.validate import DTMF_KEYS, PromptExists, prompt_problems


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
    voicemail_max_seconds: float = 120.0
    """The longest voicemail message, in seconds."""
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


def config_from_dict(
    data: Mapping[str, Any], source: str = "<dict>", *, base_dir: str | Path | None = None
) -> AppConfig:
    """Build and check an :class:`AppConfig` from parsed TOML (or any nested mapping).

    The prompts directory and IVR files are taken relative to ``base_dir`` (None: the
    working directory); IVR graphs are loaded from their files here, and every
    cross-reference is checked (:func:`check_config`)."""
    root = _Reader(source, data)
    sip_t = root.table("sip")
    host, port = parse_hostport(sip_t.get("listen", str, "127.0.0.1:5060"), sip_t.where("listen"))
    transports = sip_t.get("transports", list, ["udp", "tcp"])
    for t in transports:
        if t not in ("udp", "tcp"):
            raise ConfigError(f"{sip_t.where('transports')}: unknown transport {t!r}")
    trusted = sip_t.get("trusted_networks", list, ["127.0.0.0/8", "::1/128"])
    for network in trusted:
        try:
            ipaddress.ip_network(network if isinstance(network, str) else "")
        except ValueError:
            raise ConfigError(
                f"{sip_t.where('trusted_networks')}: expected a network such as"
                f" 127.0.0.0/8, got {network!r}"
            ) from None
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
    if prompts_dir is not None:
        prompts_dir = _relative_to(base_dir, prompts_dir)
        if not Path(prompts_dir).is_dir():
            raise ConfigError(f"{prompts_t.where('dir')}: no such directory {prompts_dir!r}")
    prompts_t.done()
    dialplan = tuple(dialplan_from_config(root.get("dialplan", list, []), source).routes)
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
    queues_t = root.table("queues")
    queues = {name: _queue(name, queues_t.table(name)) for name in list(queues_t.data)}
    ivr_t = root.table("ivr")
    ivr: dict[str, IvrConfig] = {}
    for name in list(ivr_t.data):
        entry = ivr_t.table(name)
        file = entry.get("file", str, "")
        if not file:
            raise ConfigError(f"{entry.where('file')}: missing")
        entry.done()
        ivr[name] = _ivr(_relative_to(base_dir, file), prompts_dir, entry.where("file"))
    root.done()
    config = AppConfig(
        sip=sip,
        rtp=rtp,
        users=tuple(users),
        trunks=tuple(trunks),
        store_path=store_path,
        recordings_dir=recordings,
        voicemail_dir=voicemail,
        prompts_dir=prompts_dir,
        dialplan=dialplan,
        queues=queues,
        ivr=ivr,
        voicemail_max_seconds=float(vm_max),
        ring_timeout=float(ring_timeout),
        source=source,
    )
    check_config(config)
    return config


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


# ------------------------------------------------------------------ cross-references
_MAILBOX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""A mailbox is a directory under the voicemail directory: one safe path component."""


def _known(what: str, names: Iterable[str]) -> str:
    """``queues: sales, support`` (at most 12 shown) or ``no queues are configured``."""
    shown = sorted(names)
    if not shown:
        return f"no {what} are configured"
    more = f", ... ({len(shown)} in all)" if len(shown) > 12 else ""
    return f"{what}: {', '.join(shown[:12])}{more}"


def check_config(config: AppConfig, prompt_exists: PromptExists | None = None) -> None:
    """Check every cross-reference of ``config``; ConfigError for the first problem.

    Prompts are looked up with ``prompt_exists`` (the application passes the prompts it
    loaded), else as files in :attr:`AppConfig.prompts_dir`; with neither, nothing that
    plays a prompt can be configured."""
    _Checker(config, prompt_exists).run()


class _Checker:
    """The references between the parts of one :class:`AppConfig`."""

    def __init__(self, config: AppConfig, prompt_exists: PromptExists | None) -> None:
        self.config = config
        self.source = config.source
        if prompt_exists is None and config.prompts_dir is not None:
            prompt_exists = file_prompt_exists(config.prompts_dir)
        self.prompt_exists = prompt_exists
        self.users = {u.extension for u in config.users}
        self.trunks = {t.name for t in config.trunks}

    def run(self) -> None:
        for name, queue in self.config.queues.items():
            self.queue(name, queue)
        for user in self.config.users:
            where = f"{self.source}: {'supervisors' if user.supervisor else 'agents'}"
            for queue_name in user.queues:
                self.known_queue(f"{where}.{user.extension}.queues", queue_name)
        for i, route in enumerate(self.config.dialplan):
            self.route(f"{self.source}: dialplan[{i}]", route)
        for name, ivr in self.config.ivr.items():
            self.ivr(f"{self.source}: ivr.{name}", ivr)

    # -- one kind of reference each ----------------------------------------------------
    def known_queue(self, where: str, name: str) -> None:
        if name not in self.config.queues:
            raise ConfigError(
                f"{where}: unknown queue {name!r} ({_known('queues', self.config.queues)})"
            )

    def known_ivr(self, where: str, name: str) -> None:
        if name not in self.config.ivr:
            raise ConfigError(f"{where}: unknown IVR {name!r} ({_known('IVRs', self.config.ivr)})")

    def known_extension(self, where: str, extension: str) -> None:
        if extension not in self.users:
            raise ConfigError(
                f"{where}: unknown extension {extension!r} ({_known('extensions', self.users)})"
            )

    def mailbox(self, where: str, mailbox: str) -> None:
        if not _MAILBOX.fullmatch(mailbox):
            raise ConfigError(
                f"{where}: mailbox {mailbox!r} must be letters, digits, '.', '-' or '_'"
            )

    def prompt(self, where: str, name: str) -> None:
        directory = self.config.prompts_dir
        if directory is None and self.prompt_exists is None:
            raise ConfigError(
                f"{where}: cannot play prompt {name!r}: no prompts directory is configured"
                " (prompts.dir)"
            )
        if self.prompt_exists is not None and not self.prompt_exists(name):
            place = f"in the prompts directory {directory!r}" if directory else "loaded"
            raise ConfigError(f"{where}: unknown prompt {name!r} (not {place})")

    # -- the parts ---------------------------------------------------------------------
    def queue(self, name: str, queue: QueueConfig) -> None:
        where = f"{self.source}: queues.{name}"
        if queue.name != name:
            raise ConfigError(f"{where}: the queue is named {queue.name!r}")
        if queue.strategy not in STRATEGIES:
            raise ConfigError(
                f"{where}.strategy: unknown strategy {queue.strategy!r} "
                f"({_known('strategies', STRATEGIES)})"
            )
        if queue.rona not in ("not_ready", "skip"):
            raise ConfigError(f"{where}.rona: expected not_ready or skip, got {queue.rona!r}")
        for key in ("join_empty", "leave_when_empty"):
            value = getattr(queue, key)
            if value not in EMPTY_RULES:
                rules = ", ".join(sorted(EMPTY_RULES))
                raise ConfigError(f"{where}.{key}: expected one of {rules}, got {value!r}")
        for key in ("ring_timeout", "announce_period"):
            value = getattr(queue, key)
            if value is not None and value <= 0:
                raise ConfigError(f"{where}.{key}: expected seconds > 0, got {value!r}")
        last = 0.0
        for i, (after, _) in enumerate(queue.relax):
            if after <= last:
                raise ConfigError(
                    f"{where}.relax[{i}].after: steps must be at increasing times > 0"
                )
            last = after
        try:
            validate_queue(queue, STRATEGIES)
        except ConfigError as exc:
            problem = str(exc).removeprefix(f"queue {name!r}: ")
            raise ConfigError(f"{where}: {problem}") from None
        if queue.overflow is not None:
            self.queue_target(f"{where}.overflow", queue.overflow, name)
        for digit, target in queue.exit_keys.items():
            self.queue_target(f"{where}.exit_keys.{digit}", target, name)

    def queue_target(self, where: str, target: QueueTarget, queue: str) -> None:
        if target.kind == "queue":
            self.known_queue(where, target.name)
            if target.name == queue:
                raise ConfigError(f"{where}: the queue {queue!r} cannot overflow to itself")
        elif target.kind == "ivr":
            self.known_ivr(where, target.name)
        elif target.kind == "voicemail":
            self.mailbox(where, target.name)
        elif target.kind == "number":
            self.known_extension(where, target.name)
        else:
            raise ConfigError(f"{where}: unknown target kind {target.kind!r}")

    def route(self, where: str, route: Route) -> None:
        target = route.target
        at = f"{where}.target"
        if target.kind == "queue":
            self.known_queue(at, target.name)
        elif target.kind == "ivr":
            self.known_ivr(at, target.name)
        elif target.kind == "trunk":
            if target.name not in self.trunks:
                raise ConfigError(
                    f"{at}: unknown trunk {target.name!r} ({_known('trunks', self.trunks)})"
                )
        elif target.kind == "play":
            self.prompt(at, target.name)
        elif target.kind == "voicemail":
            if target.name:
                self.mailbox(at, target.name)
        elif target.kind == "extension":
            extension = target.name or route.number.exact
            if extension is not None:
                self.known_extension(at, extension)
        if route.trunk is not None and route.trunk not in self.trunks | {"local"}:
            known = _known("trunks", self.trunks | {"local"})
            raise ConfigError(f"{where}.trunk: unknown trunk {route.trunk!r} ({known})")

    def ivr(self, where: str, ivr: IvrConfig) -> None:
        graph = ivr.graph
        at = f"{where}: file {ivr.file!r}" if ivr.file is not None else where
        dialplan = Dialplan(self.config.dialplan)
        for node in graph.nodes:
            node_at = f"{at}: node {node.id!r}"
            if isinstance(node, QueueNode):
                self.known_queue(node_at, node.queue)
            elif isinstance(node, VoicemailNode):
                self.mailbox(node_at, node.mailbox)
            elif isinstance(node, TransferNode):
                if node.to in ("agent", "extension"):
                    self.known_extension(node_at, node.target)
                elif node.to == "external" and not node.target.startswith("sip:"):
                    match = dialplan.resolve(origin="user", number=node.target, caller="")
                    if match is None:
                        raise ConfigError(
                            f"{node_at}: no dial-plan route takes {node.target!r}"
                            " (from = user or any)"
                        )
        if self.prompt_exists is None:
            if prompt_problems(graph.nodes, graph.languages, lambda name: False):
                raise ConfigError(
                    f"{where}: the graph plays prompts, but no prompts directory is"
                    " configured (prompts.dir)"
                )
            return
        problems = prompt_problems(graph.nodes, graph.languages, self.prompt_exists)
        if problems:
            raise ConfigError(f"{at}: {'; '.join(problems)}")


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
