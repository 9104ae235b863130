"""Who is asking: users, bearer tokens, roles and what each role may see.

Users come from the configuration: every agent (their extension and SIP password, role
``agent``), every supervisor (role ``supervisor``, over the queues they supervise — all
when none are listed), and the ``[http.admins]`` (role ``admin``). ``POST /api/login``
trades a user and password for a random bearer token that lasts ``token_ttl``; an
integration may instead hold a static token from ``[http.tokens]``, which the
configuration keeps only as its SHA-256. Tokens are kept hashed in memory too, and
compared in constant time. Failed logins are limited per user and address (a sliding
minute): past the limit a login is refused with 429 before the password is looked at.

Scopes: an agent sees and acts on their own state, calls and recordings; a supervisor
on the agents, calls and queues of their queues; an admin on everything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Iterable, Mapping

from attrs import define, field, frozen

from pbx.config import AppConfig

ROLES = ("agent", "supervisor", "admin")


@frozen
class Principal:
    """An authenticated caller of the API."""

    user: str
    role: str
    queues: frozenset[str] = frozenset()
    """A supervisor's queues (empty with ``all_queues``)."""
    all_queues: bool = False
    """An admin, or a supervisor of every queue."""

    @property
    def agent(self) -> str | None:
        """The agent this principal is, when it is one."""
        return self.user if self.role == "agent" else None

    def sees_queue(self, queue: str | None) -> bool:
        """May act on ``queue`` (and the calls in it)."""
        if self.role == "agent":
            return False
        return self.all_queues or (queue is not None and queue in self.queues)

    def sees_agent(self, agent: str, agent_queues: Iterable[str]) -> bool:
        """May see and act on ``agent`` (a member of ``agent_queues``)."""
        if self.role == "agent":
            return agent == self.user
        return self.all_queues or any(q in self.queues for q in agent_queues)


@frozen
class _Account:
    password: str
    principal: Principal


@define
class _Session:
    principal: Principal
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@define
class Authenticator:
    """Logins, bearer tokens and the login rate limit; ``now`` is passed in."""

    accounts: Mapping[str, _Account]
    static: Mapping[str, Principal]
    """SHA-256 hex of a static token → who it is."""
    ttl: float
    attempts: int
    """Failed logins allowed per user and address per minute."""
    _sessions: dict[str, _Session] = field(init=False, factory=dict)
    _failures: dict[tuple[str, str], deque[float]] = field(init=False, factory=dict)

    @classmethod
    def from_config(cls, config: AppConfig) -> Authenticator:
        """The users, supervisors, admins and tokens of ``config``."""
        accounts: dict[str, _Account] = {}
        for user in config.users:
            if user.supervisor:
                principal = Principal(
                    user.extension,
                    "supervisor",
                    frozenset(user.supervises),
                    all_queues=not user.supervises,
                )
            else:
                principal = Principal(user.extension, "agent")
            accounts[user.extension] = _Account(user.password, principal)
        for admin in config.http.admins:
            accounts[admin.name] = _Account(
                admin.password, Principal(admin.name, "admin", all_queues=True)
            )
        static = {
            t.sha256: Principal(
                f"token:{t.name}",
                t.role,
                frozenset(t.queues),
                all_queues=t.role == "admin" or not t.queues,
            )
            for t in config.http.tokens
        }
        return cls(accounts, static, config.http.token_ttl, config.http.login_attempts)

    def limited(self, user: str, address: str, now: float) -> float | None:
        """Seconds until ``user`` from ``address`` may try again, or None."""
        failures = self._failures.get((user, address))
        if failures is None:
            return None
        while failures and failures[0] <= now - 60.0:
            failures.popleft()
        if len(failures) < self.attempts:
            return None
        return max(1.0, failures[0] + 60.0 - now)

    def login(self, user: str, password: str, address: str, now: float) -> str | None:
        """A new bearer token for ``user``, or None (the failure is counted)."""
        account = self.accounts.get(user)
        ok = account is not None and hmac.compare_digest(
            account.password.encode(), password.encode()
        )
        if not ok or account is None:
            self._failures.setdefault((user, address), deque()).append(now)
            return None
        self._failures.pop((user, address), None)
        token = secrets.token_urlsafe(32)
        self._sessions[_digest(token)] = _Session(account.principal, now + self.ttl)
        return token

    def logout(self, token: str) -> None:
        """Forget a login's token."""
        self._sessions.pop(_digest(token), None)

    def verify(self, token: str, now: float) -> Principal | None:
        """Who holds ``token``, or None (unknown or expired)."""
        digest = _digest(token)
        session = self._sessions.get(digest)
        if session is not None:
            if session.expires > now:
                return session.principal
            del self._sessions[digest]
            return None
        for known, principal in self.static.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None
