"""Durable records in SQLite: CDRs, the queue/agent event log, voicemail and callbacks."""

from pbx.store.db import Store

__all__ = ["Store"]
