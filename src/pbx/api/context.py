"""What every API handler needs: the application, who is asking, and scope checks.

The FastAPI application keeps one :class:`ApiContext` in its state; handlers get it and
the caller's :class:`~pbx.api.auth.Principal` as dependencies (``Ctx``, ``Caller``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from attrs import define
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from pbx.api.auth import Authenticator, Principal
from pbx.api.hub import EventHub
from pbx.api.metrics import Metrics
from pbx.api.problems import Problem
from pbx.calls.manager import Call

if TYPE_CHECKING:
    from pbx.app import Application


@define
class ApiContext:
    """The application behind the API and the checks every resource shares."""

    app: Application
    auth: Authenticator
    hub: EventHub
    metrics: Metrics

    def now(self) -> float:
        """The loop's clock (token expiry, the cores' ``now``)."""
        return self.app.sip.now()

    def agent_queues(self, agent: str) -> tuple[str, ...]:
        return self.app.agent_queues(agent)

    def visible_call(self, who: Principal, call: Call) -> bool:
        """An agent's own calls, a supervisor's queues' (or agents'), an admin's all."""
        if who.role == "agent":
            return call.agent == who.user
        if who.sees_queue(call.queue):
            return True
        return call.agent is not None and who.sees_agent(call.agent, self.agent_queues(call.agent))

    def find_call(self, who: Principal, call_id: str) -> Call:
        """The live call ``call_id`` if ``who`` may see it (404 otherwise: no hint)."""
        call = self.app.calls.calls.get(call_id)
        if call is None or not self.visible_call(who, call):
            raise Problem(404, f"no live call {call_id!r}")
        return call

    def find_agent(self, who: Principal, agent: str) -> str:
        """The agent ``agent`` (404 when unknown, 403 when not ``who``'s to see)."""
        if self.app.queues.distributor_agent(agent) is None:
            raise Problem(404, f"no agent {agent!r}")
        if not who.sees_agent(agent, self.agent_queues(agent)):
            raise Problem(403, f"agent {agent!r} is not yours to see")
        return agent

    @staticmethod
    def staff(who: Principal) -> None:
        """Supervisors and admins only."""
        if who.role == "agent":
            raise Problem(403, "supervisors and admins only")


def context(request: HTTPConnection) -> ApiContext:
    """The API's context (from a request or a WebSocket)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> Principal:
    """The bearer token's owner; 401 with a Bearer challenge otherwise."""
    ctx = context(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    who = ctx.auth.verify(token.strip(), ctx.now()) if scheme.lower() == "bearer" else None
    if who is None:
        raise Problem(401, "a valid bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
    return who


Ctx = Annotated[ApiContext, Depends(context)]
Caller = Annotated[Principal, Depends(principal)]
