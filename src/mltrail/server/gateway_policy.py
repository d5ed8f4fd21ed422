"""What the AI gateway's proxy asks before and after each call: budgets and guardrails.

The proxy (:mod:`mltrail.server.gateway_proxy`) makes three calls into this module:

* :func:`admit` before the provider call: a spent REJECT budget refuses it
  (:mod:`mltrail.server.gateway_budget`), then the endpoint's BEFORE guardrails judge the
  request (:mod:`mltrail.server.gateway_guardrails`; only the stages the route runs); it
  answers the body to send;
* :meth:`Admitted.screen` on a JSON answer: the AFTER guardrails judge it; it answers the
  bytes to relay;
* :func:`count` once the call is over: its cost goes to the budget windows.

Example::

    admitted = await admit(call, endpoint, body, traced)
    ...  # send admitted.body
    content = await admitted.screen(call, answer, content)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.prices import span_cost
from mltrail.entities.trace import SpanAttributeKey
from mltrail.server import gateway_budget as budget
from mltrail.server import gateway_guardrails as guardrails
from mltrail.server.gateway_traces import GatewayTrace
from mltrail.server.routing import Call

_log = logging.getLogger("mltrail.gateway")


@dataclass
class Admitted:
    """A call the budgets and BEFORE guardrails let through: its body, its trace and the endpoint's guardrails."""

    body: dict[str, Any]
    traced: GatewayTrace
    guardrails: list[dict[str, Any]] = field(default_factory=list)

    async def screen(self, call: Call, answer: Any, content: bytes) -> bytes:
        """The answer's bytes to relay once the AFTER guardrails passed (or rewrote) it; raises to refuse."""
        if answer is None or not any(g["stage"] == "AFTER" for g in self.guardrails):
            return content
        screened = await guardrails.after(call, self.traced, self.guardrails, self.body, answer)
        return content if screened is answer else json.dumps(screened).encode()


async def admit(
    call: Call,
    endpoint: dict[str, Any],
    body: dict[str, Any],
    traced: GatewayTrace,
    stages: tuple[str, ...] = ("BEFORE", "AFTER"),
) -> Admitted:
    """Check the budgets and run the BEFORE guardrails (their runs are spans of ``traced``); raises
    :class:`MltrailException` to refuse the call (:class:`~mltrail.server.gateway_guardrails.GuardrailStop`
    when a guardrail's run refused it).

    ``stages``: the guardrail stages the route runs (MLflow runs none on a unified embeddings call,
    only BEFORE on an OpenAI-format one); guardrails of the other stages do not run.
    """
    from starlette.concurrency import run_in_threadpool

    endpoint_id = str(endpoint["endpoint_id"])
    await run_in_threadpool(budget.check, call, endpoint_id, traced.username)
    if not stages:
        return Admitted(body, traced)
    found = await run_in_threadpool(guardrails.endpoint_guardrails, call, endpoint_id)
    found = [g for g in found if g["stage"] in stages]
    if not found:
        return Admitted(body, traced)
    return Admitted(await guardrails.before(call, traced, found, body), traced, found)


def call_cost(attempts: list[Any]) -> float:
    """The USD a call's provider attempts cost (their models' prices times their token usage)."""
    total = 0.0
    for attempt in attempts:
        values = attempt.values
        cost = span_cost(values.get(SpanAttributeKey.MODEL), values.get(SpanAttributeKey.CHAT_USAGE))
        total += (cost or {}).get("total_cost", 0.0)
    return total


async def count(call: Call, endpoint: dict[str, Any], attempts: list[Any], username: str | None) -> None:
    """Add a finished call's cost to the budget windows it applies to (never failing the call)."""
    from starlette.concurrency import run_in_threadpool

    try:
        cost = call_cost(attempts)
        if cost > 0:
            await run_in_threadpool(budget.record, call, cost, str(endpoint["endpoint_id"]), username)
    except Exception:
        _log.warning(
            "gateway: could not count a call to %s in its budgets", endpoint.get("name"), exc_info=True
        )
