"""Command line: ``python -m pbx run CONFIG [--sip HOST:PORT] [--http HOST:PORT]``,
``pbx check CONFIG`` and ``pbx campaign VERB NAME [CSV]`` (:mod:`pbx.campaign_cli`).

A bad configuration — found while loading it or while the application is built and
started — is one line on stderr naming the file, the key and the problem, and exit
status 2, before anything listens. ``check`` loads and checks a configuration the way
``run`` does, then exits without starting anything.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

import structlog
from attrs import evolve

from pbx import campaign_cli
from pbx.config import AppConfig, load_config, parse_hostport
from pbx.errors import ConfigError

CONFIG_ERROR = 2
"""Exit status for a configuration that is refused."""


def _configure_logging(level: str) -> None:
    # Received bytes that are not UTF-8 travel as surrogate escapes; print them escaped
    # rather than let one caller's malformed header make a log line raise.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
    )


def _install_fast_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary(config: AppConfig) -> str:
    """``11 users, 2 queues, 13 routes, 1 IVR graph, 1 trunk, 2 campaigns, 1 conference
    room``."""
    return ", ".join(
        (
            _plural(len(config.users), "user"),
            _plural(len(config.queues), "queue"),
            _plural(len(config.dialplan), "route"),
            _plural(len(config.ivr), "IVR graph"),
            _plural(len(config.trunks), "trunk"),
            _plural(len(config.campaigns), "campaign"),
            _plural(len(config.conferences), "conference room"),
        )
    )


def _refuse(exc: ConfigError) -> int:
    print(f"pbx: {exc}", file=sys.stderr)
    return CONFIG_ERROR


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pbx`` command."""
    parser = argparse.ArgumentParser(prog="pbx", description="pbx softswitch")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a call center from a TOML configuration")
    run.add_argument("config", help="path of the TOML configuration")
    run.add_argument("--sip", metavar="HOST:PORT", help="override sip.listen")
    run.add_argument("--http", metavar="HOST:PORT", help='override http.listen ("": no HTTP)')
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    run.add_argument("--trace", action="store_true", help="log every SIP message")
    check = sub.add_parser(
        "check", help="check a TOML configuration and its cross-references; start nothing"
    )
    check.add_argument("config", help="path of the TOML configuration")
    campaign_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "campaign":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return _refuse(exc)
        return campaign_cli.run(config, args)
    if args.command == "check":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return _refuse(exc)
        print(f"{args.config}: ok ({summary(config)})")
        return 0
    _configure_logging(args.log_level)
    try:
        config = load_config(args.config)
        if args.sip:
            host, port = parse_hostport(args.sip, "--sip")
            config = evolve(config, sip=evolve(config.sip, host=host, port=port))
        if args.http is not None:
            if args.http:
                host, port = parse_hostport(args.http, "--http")
                http = evolve(config.http, host=host, port=port, enabled=True)
            else:
                http = evolve(config.http, enabled=False)
            config = evolve(config, http=http)
        if args.trace:
            config = evolve(config, sip=evolve(config.sip, trace=True))
    except ConfigError as exc:
        return _refuse(exc)
    from pbx.app import Application

    _install_fast_loop()
    # A switch keeps many objects alive for the 32 s of a transaction's life: collect the
    # young generation less often, and leave everything loaded at start-up out of it.
    gc.set_threshold(20_000, 20, 20)
    try:
        app = Application(config)
    except ConfigError as exc:
        return _refuse(exc)
    gc.freeze()
    try:
        asyncio.run(app.run())
    except ConfigError as exc:
        return _refuse(exc)
    except OSError as exc:
        print(f"pbx: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
