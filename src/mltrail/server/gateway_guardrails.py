"""Guardrails on the AI gateway's proxy: an endpoint's scorers run on the request before the call, on the answer after it.

As MLflow 3.17's gateway (``mlflow.gateway.guardrails``): the guardrails attached to the
called endpoint run in their ``execution_order``. A BEFORE guardrail judges the request
body (the scorer's ``inputs``); an AFTER guardrail judges the answer (``outputs``, with the
request as ``inputs``) of a call that was not streamed (streamed answers are relayed as
they come, so only BEFORE guardrails see those calls, as in MLflow). Embeddings, as in
MLflow: a unified ``/invocations`` embeddings call runs no guardrails, an OpenAI-format
``/embeddings`` call only the BEFORE ones (the proxy's routes say which stages run). A
scorer passes with ``True``, ``"yes"`` or a feedback of either (every one of a list); otherwise:

* VALIDATION refuses the call: HTTP 400 ``INVALID_PARAMETER_VALUE``,
  ``Guardrail '<name>' blocked: <rationale>``. A streamed call (``"stream": true``, Gemini's
  stream route; not the raw proxy) is answered as MLflow answers it, its guardrails having run
  once its stream began: HTTP 200, ``text/event-stream``, one event
  ``data: {"error": {"message": "Guardrail '<name>' blocked: ...", "type": "GuardrailViolation"}}``
  and no ``[DONE]`` (:class:`GuardrailStop`; a scorer that cannot run is told so the same way);
* SANITIZATION asks the guardrail's action endpoint (through this server's gateway) to
  rewrite the payload with MLflow's sanitizer prompt, and the call goes on with the
  rewritten JSON. The rewrite call carries a per-process token so it runs without
  guardrails (no loops); a caller cannot forge it.

Each guardrail run is a span of the call's trace (``guardrail/<name>``, ``GUARDRAIL``) with
its ``judge`` (``EVALUATOR``, the verdict as outputs) and, when it rewrote the payload, its
``sanitization`` (``LLM``) under it, as MLflow's guardrails record them
(:class:`mltrail.server.gateway_traces.Step`); streamed calls included (their BEFORE runs).

A scorer that cannot run (its LLM unreachable, an answer that is not a verdict) refuses
the call too (503 ``TEMPORARILY_UNAVAILABLE``): an endpoint never serves traffic its
guardrails did not see. A custom ``@scorer`` never runs here (400 ``INVALID_STATE``).
As in MLflow, a guardrail whose scorer cannot be loaded at all (its registration is
gone or unreadable) is skipped with a warning in the server log.

The server runs on the stores and does not import the SDK; the process that starts it
(``mltrail server``) hands it the function that turns a serialized scorer into one it can
run (:data:`SCORER_LOADER`, set on the app's state).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from mltrail.entities.trace import SpanType
from mltrail.exceptions import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
)
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.gateway_traces import GatewayTrace
from mltrail.server.routing import Call

_log = logging.getLogger("mltrail.gateway")
#: The app state's attribute holding ``load(serialized_scorer: str) -> scorer`` (``scorer.run(inputs=, outputs=)``).
SCORER_LOADER = "gateway_scorer_loader"
#: The header that marks this server's own sanitization calls (its value is the process's token).
BYPASS_HEADER = "x-mltrail-guardrail-bypass"
_MAX_RATIONALE = 500
_SANITIZE_PROMPT = """\
You are a content sanitizer. You will receive a JSON payload and an issue description.
Fix the issue by modifying the content using the following rules:
- Replace content that cannot be safely rephrased (e.g. sensitive data, PII, credentials)
  with [REDACTED].
- Rewrite content that can be made acceptable (e.g. soften hostile tone, remove bias,
  generalize specifics).
Preserve the payload structure and overall intent. Do not add new fields or change the schema.
Return ONLY a valid JSON object with the same schema as the input payload.
Issue: {rationale}
Input payload:
{payload_json}"""


class GuardrailStop(MltrailException):
    """A guardrail's run stopped the call: it refused it, or could not judge it.

    A streamed call stopped so gets an error event in a 200 stream (as from MLflow, whose
    guardrails run once the stream has started). An error in setting a guardrail up (a custom
    scorer, no scorer runtime) is not one: it stays an HTTP error, as MLflow's load errors do.
    """


class GuardrailViolation(GuardrailStop):
    """A guardrail refused the call (400 ``INVALID_PARAMETER_VALUE``); its span's exception is named so, as MLflow's."""

    def __init__(self, name: str, rationale: str) -> None:
        super().__init__(f"Guardrail '{name}' blocked: {rationale}", INVALID_PARAMETER_VALUE)


class GuardrailUnavailable(GuardrailStop):
    """A guardrail's scorer could not judge the call (503 ``TEMPORARILY_UNAVAILABLE``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"Guardrail '{name}' could not run: {reason}", TEMPORARILY_UNAVAILABLE)


def guardrail_store(call: Call) -> Any:
    """The app's guardrail store."""
    return call.side_store("gateway_guardrail_store", _open)


def _open(backend_store_uri: str) -> Any:
    with LAZY_IMPORTS:  # the SQL store loads on the first proxied call, not at server start-up
        from mltrail.store.sql.gateway_guardrails import SqlGuardrailStore

    return SqlGuardrailStore(backend_store_uri)


def _bypass_token(call: Call) -> str:
    token = getattr(call.state, "gateway_bypass_token", None)
    if token is None:
        token = call.state.gateway_bypass_token = secrets.token_urlsafe(32)
    return token


def bypassed(call: Call) -> bool:
    """Whether this request is the server's own sanitization call (which runs no guardrails)."""
    given = call.request.headers.get(BYPASS_HEADER)
    return bool(given) and secrets.compare_digest(given, _bypass_token(call))


def _scorer(call: Call, guardrail: dict[str, Any]) -> Any:
    with LAZY_IMPORTS:  # in a worker thread; the store (and so this module) is open by now
        from mltrail.store.sql.gateway_guardrails import is_custom_code

    scorer = guardrail["scorer"]
    if is_custom_code(scorer["serialized_scorer"]):
        raise MltrailException(
            f"Guardrail '{guardrail['name']}' uses a custom scorer defined with the @scorer decorator, which "
            "gateway guardrails do not support. Replace it with a built-in scorer or a judge created with "
            "make_judge, or remove it from this endpoint.",
            INVALID_STATE,
        )
    cache = getattr(call.state, "gateway_guardrail_scorers", None)
    if cache is None:
        cache = call.state.gateway_guardrail_scorers = {}
    key = (scorer["scorer_id"], scorer["scorer_version"], scorer["serialized_scorer"])
    if key not in cache:
        load = getattr(call.state, SCORER_LOADER, None)
        if load is None:
            raise MltrailException(
                f"Guardrail '{guardrail['name']}' cannot run: this server was started without the scorer "
                "runtime (start it with `mltrail server`).",
                INVALID_STATE,
            )
        try:
            cache[key] = load(scorer["serialized_scorer"])
        except Exception:  # as MLflow: a guardrail that cannot be loaded is skipped, loudly
            _log.warning(
                "gateway: cannot load guardrail %s, skipping it", guardrail["guardrail_id"], exc_info=True
            )
            return None
    return cache[key]


def _passes(result: Any) -> bool:
    if isinstance(result, list):
        return all(_passes(r) for r in result)
    value = getattr(result, "value", result)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "yes"
    raise TypeError(f"expected a bool, 'yes'/'no' or a feedback of one, got {type(value).__name__}")


def _rationale(result: Any) -> str:
    if isinstance(result, list):
        return "; ".join(_rationale(r) for r in result if not _passes(r))[:_MAX_RATIONALE]
    text = getattr(result, "rationale", None) or str(getattr(result, "value", result))
    return text[:_MAX_RATIONALE]


def _judge(guardrail: dict[str, Any], scorer: Any, inputs: Any, outputs: Any) -> tuple[bool, str]:
    """Run one guardrail's scorer (on a worker thread): (passed, rationale)."""
    try:
        result = scorer.run(inputs=inputs, outputs=outputs)
        return _passes(result), _rationale(result)
    except MltrailException as err:
        raise GuardrailUnavailable(guardrail["name"], err.message) from None
    except Exception as err:
        raise GuardrailUnavailable(guardrail["name"], f"{type(err).__name__}: {err}") from None


async def _sanitize(call: Call, guardrail: dict[str, Any], payload: Any, rationale: str) -> Any:
    """The payload rewritten by the guardrail's action endpoint (through this server's own gateway)."""
    with LAZY_IMPORTS:
        import httpx

    name = guardrail["name"]
    endpoint_name = guardrail["action_endpoint_id"]  # the endpoint's name on the wire, as in MLflow
    config = call.config
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.host, config.host)
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{config.port}{config.static_prefix}/gateway/{endpoint_name}/mlflow/invocations"
    prompt = _SANITIZE_PROMPT.format(rationale=rationale, payload_json=json.dumps(payload, indent=2))
    headers = {BYPASS_HEADER: _bypass_token(call)}
    if auth := call.request.headers.get("authorization"):
        headers["authorization"] = auth
    try:
        async with httpx.AsyncClient(timeout=120.0) as client:
            resp = await client.post(
                url, json={"messages": [{"role": "user", "content": prompt}]}, headers=headers
            )
        content = resp.json()["choices"][0]["message"]["content"] if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        content = None
    if content is None:
        raise GuardrailViolation(name, "Sanitization request failed.")
    try:
        return json.loads(content)
    except (ValueError, TypeError):
        raise GuardrailViolation(name, "Sanitization LLM returned invalid JSON.") from None


async def _apply(
    call: Call, traced: GatewayTrace, guardrail: dict[str, Any], payload: Any, inputs: Any, outputs: Any
) -> Any:
    """Run one guardrail on ``payload`` inside its spans: the payload to go on with, or raise to refuse."""
    from starlette.concurrency import run_in_threadpool

    scorer = await run_in_threadpool(_scorer, call, guardrail)
    if scorer is None:  # cannot be loaded: skipped, as MLflow skips it before the call (so no span)
        return payload
    # As MLflow's: a BEFORE run's span takes the request, an AFTER run's the request and the response.
    span_inputs = payload if guardrail["stage"] == "BEFORE" else {"request": inputs, "response": outputs}
    run = traced.step(f"guardrail/{guardrail['name']}", SpanType.GUARDRAIL, inputs=span_inputs)
    try:
        judge = traced.step("judge", SpanType.EVALUATOR, parent=run)
        try:
            passed, rationale = await run_in_threadpool(_judge, guardrail, scorer, inputs, outputs)
        except MltrailException as err:
            judge.fail(err)
            raise
        judge.end({"passed": passed, "rationale": rationale})
        if not passed:
            if guardrail["action"] == "VALIDATION":
                raise GuardrailViolation(guardrail["name"], rationale)
            if not guardrail.get("action_endpoint_id"):  # none was set, or the endpoint is gone
                raise GuardrailViolation(
                    guardrail["name"], "Sanitization requires an action endpoint but none was configured."
                )
            rewrite = traced.step(
                "sanitization", SpanType.LLM, parent=run, inputs={"payload": payload, "rationale": rationale}
            )
            try:
                payload = await _sanitize(call, guardrail, payload, rationale)
            except MltrailException as err:
                rewrite.fail(err)
                raise
            rewrite.end(payload)
    except MltrailException as err:
        run.fail(err)
        raise
    run.end(payload)
    return payload


def endpoint_guardrails(call: Call, endpoint_id: str) -> list[dict[str, Any]]:
    """The guardrails attached to an endpoint, in execution order (none for the server's own rewrite calls)."""
    if bypassed(call):
        return []
    return [c["guardrail"] for c in guardrail_store(call).endpoint_configs(endpoint_id, check_endpoint=False)]


async def before(
    call: Call, traced: GatewayTrace, guardrails: list[dict[str, Any]], body: dict[str, Any]
) -> dict[str, Any]:
    """Run the BEFORE guardrails on a request body: the body to send (rewritten by a sanitizer), or refuse."""
    for guardrail in guardrails:
        if guardrail["stage"] == "BEFORE":
            body = await _apply(call, traced, guardrail, body, body, None)
    return body


async def after(
    call: Call, traced: GatewayTrace, guardrails: list[dict[str, Any]], body: dict[str, Any], answer: Any
) -> Any:
    """Run the AFTER guardrails on an answer: the answer to relay (rewritten by a sanitizer), or refuse."""
    for guardrail in guardrails:
        if guardrail["stage"] == "AFTER":
            answer = await _apply(call, traced, guardrail, answer, body, answer)
    return answer
