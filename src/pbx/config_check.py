"""The second pass of loading a configuration: every reference between its parts.

Theory of operation
-------------------
:func:`check_config` follows every reference of an :class:`~pbx.config.AppConfig` whose
tables the first pass (:func:`~pbx.config.config_from_dict`) already read into typed
values: a route to a queue, IVR, trunk, prompt or extension; a queue's strategy, limits,
overflow and exit keys; an agent's queues; an IVR node's queue, transfer target, mailbox
and prompts. The parts are checked in a fixed order (queues, users, the dial plan, the
IVRs), and the first problem found raises :class:`~pbx.errors.ConfigError`, one line
naming the file, the key and the problem, e.g. ``callcenter.toml: dialplan[5].target:
unknown queue 'nope' (queues: sales, support)``. A configuration built or changed in
Python goes through the same checks: :class:`~pbx.app.Application` runs them again
against the prompts it loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pbx.acd.models import EMPTY_RULES, QueueConfig, validate_queue
from pbx.acd.models import Target as QueueTarget
from pbx.acd.strategies import STRATEGIES
from pbx.calls.dialplan import Dialplan, Route
from pbx.dialer.compliance import GLOBAL_DNC
from pbx.errors import ConfigError
from pbx.ivr.loader import file_prompt_exists
from pbx.ivr.nodes import CallbackNode, QueueNode, TransferNode, VoicemailNode
from pbx.ivr.slots import slot_due
from pbx.ivr.validate import PromptExists, prompt_problems

if TYPE_CHECKING:
    from pbx.config import AppConfig, IvrConfig

__all__ = ["check_config"]

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
    loaded), else as files in :attr:`~pbx.config.AppConfig.prompts_dir`; with neither, nothing that
    plays a prompt can be configured."""
    _Checker(config, prompt_exists).run()


class _Checker:
    """The references between the parts of one :class:`~pbx.config.AppConfig`."""

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
            for queue_name in user.supervises:
                self.known_queue(f"{where}.{user.extension}.supervises", queue_name)
        for token in self.config.http.tokens:
            for queue_name in token.queues:
                self.known_queue(f"{self.source}: http.tokens.{token.name}.queues", queue_name)
        for i, route in enumerate(self.config.dialplan):
            self.route(f"{self.source}: dialplan[{i}]", route)
        for name, ivr in self.config.ivr.items():
            self.ivr(f"{self.source}: ivr.{name}", ivr)
        callbacks = self.config.callbacks
        if callbacks.trunk is not None and callbacks.trunk not in self.trunks:
            known = _known("trunks", self.trunks)
            raise ConfigError(
                f"{self.source}: callbacks.trunk: unknown trunk {callbacks.trunk!r} ({known})"
            )
        for name, campaign in self.config.campaigns.items():
            where = f"{self.source}: campaigns.{name}"
            if campaign.trunk not in self.trunks:
                known = _known("trunks", self.trunks)
                raise ConfigError(f"{where}.trunk: unknown trunk {campaign.trunk!r} ({known})")
            if campaign.queue is not None:
                self.known_queue(f"{where}.queue", campaign.queue)
            if campaign.script is not None:
                self.known_ivr(f"{where}.script", campaign.script)
            for agent in campaign.agents:
                self.known_extension(f"{where}.agents", agent)
            for list_name in campaign.dnc_lists:
                if list_name != GLOBAL_DNC and list_name not in self.config.dnc:
                    known = _known("do-not-call lists", {GLOBAL_DNC, *self.config.dnc})
                    raise ConfigError(
                        f"{where}.dnc: unknown do-not-call list {list_name!r} ({known})"
                    )

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
        strategies = {**STRATEGIES, **self.config.strategies}
        if queue.strategy not in strategies:
            raise ConfigError(
                f"{where}.strategy: unknown strategy {queue.strategy!r} "
                f"({_known('strategies', strategies)}; add [strategies] NAME = "
                '"module:attr")'
            )
        if queue.rona not in ("not_ready", "skip"):
            raise ConfigError(f"{where}.rona: expected not_ready or skip, got {queue.rona!r}")
        if queue.music_class != "default" and queue.music_class not in self.config.music:
            known = _known("music classes", {"default", *self.config.music})
            raise ConfigError(
                f"{where}.music_class: unknown music class {queue.music_class!r} ({known}; "
                "add [music.NAME] dir)"
            )
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
            validate_queue(queue, strategies)
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
        elif target.kind == "conference":
            if target.name not in self.config.conferences:
                known = _known("conference rooms", self.config.conferences)
                raise ConfigError(
                    f"{at}: unknown conference room {target.name!r} ({known}; "
                    "add [conferences.NAME])"
                )
        elif target.kind == "voicemail":
            if target.name:
                self.mailbox(at, target.name)
        elif target.kind == "mailbox":
            if target.name:
                self.mailbox(at, target.name)
                pin = str(target.options.get("pin", ""))
                if pin and not pin.isdigit():
                    raise ConfigError(f"{where}.options.pin: digits only")
                if not pin and self.config.user(target.name) is None:
                    raise ConfigError(
                        f"{where}.options.pin: mailbox {target.name!r} belongs to no user, "
                        "so its menu needs a PIN"
                    )
            elif route.origin != "user":
                raise ConfigError(
                    f"{where}.from: a mailbox route without a mailbox opens the caller's "
                    'own, so it takes calls from "user" only'
                )
        elif target.kind == "extension":
            extension = target.name or route.number.exact
            if extension is not None:
                self.known_extension(at, extension)
            voicemail = target.options.get("voicemail", False)
            if not isinstance(voicemail, bool):
                raise ConfigError(f"{where}.options.voicemail: expected true or false")
            ring = target.options.get("ring_timeout")
            if ring is not None and (
                isinstance(ring, bool) or not isinstance(ring, int | float) or not 1 <= ring <= 600
            ):
                raise ConfigError(f"{where}.options.ring_timeout: expected 1 to 600 seconds")
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
            elif isinstance(node, CallbackNode):
                for key, slot in node.slots:
                    try:
                        slot_due(slot, 0.0, None)
                    except ValueError as exc:
                        raise ConfigError(f"{node_at}: slots.{key}: {exc}") from None
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
