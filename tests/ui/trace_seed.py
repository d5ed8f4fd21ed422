"""LLM traces for the traces list and sessions tests, sent as clients send them.

Spans go as OTLP/HTTP JSON with OpenTelemetry GenAI attributes (``gen_ai.usage.*``,
``session.id``, ``user.id``), the trace info through MLflow 3's ``POST /traces``:
the server works out tokens, cost, session and user.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

ORIGIN_NS = 1_760_000_000_000_000_000


def _attr(v: Any) -> dict[str, Any]:
    return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}


def seed_trace(
    http: Any,
    exp: str,
    n: int,
    question: str,
    answer: str,
    session: str | None,
    user: str | None,
    tokens: int | None,
    model: str = "gpt-4o-mini",
    state: str = "OK",
) -> str:
    """One agent trace with a chat span, sent as OTLP JSON spans then MLflow 3 trace info; returns its id."""
    trace_hex, root, chat = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    start = ORIGIN_NS + n * 60_000_000_000
    root_attrs = {
        "mlflow.spanType": json.dumps("AGENT"),
        "mlflow.spanInputs": json.dumps({"question": question}),
        "mlflow.spanOutputs": json.dumps(answer),
    }
    if session:
        root_attrs["session.id"] = session
    if user:
        root_attrs["user.id"] = user
    chat_attrs: dict[str, Any] = {"mlflow.spanType": json.dumps("CHAT_MODEL"), "gen_ai.request.model": model}
    if tokens is not None:
        chat_attrs.update({"gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens // 2})
    spans = [
        {
            "traceId": trace_hex,
            "spanId": root,
            "name": "agent",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + (n + 1) * 100_000_000),
            "status": {"code": 2 if state == "ERROR" else 1},
            "attributes": [{"key": k, "value": _attr(v)} for k, v in root_attrs.items()],
        },
        {
            "traceId": trace_hex,
            "spanId": chat,
            "parentSpanId": root,
            "name": "chat",
            "startTimeUnixNano": str(start + 1),
            "endTimeUnixNano": str(start + 50_000_000),
            "status": {"code": 1},
            "attributes": [{"key": k, "value": _attr(v)} for k, v in chat_attrs.items()],
        },
    ]
    res = http.post(
        "/v1/traces",
        json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]},
        headers={"x-mlflow-experiment-id": exp},
    )
    assert res.status_code == 200, res.text
    info = {
        "trace_id": "tr-" + trace_hex,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}},
        "request_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start / 1e9)) + ".000Z",
        "execution_duration": f"{(n + 1) / 10:.1f}s",
        "state": state,
        "trace_metadata": {},
        "tags": {"mlflow.traceName": "agent"},
        "request_preview": json.dumps({"question": question}),
        "response_preview": json.dumps(answer),
    }
    res = http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert res.status_code == 200, res.text
    return "tr-" + trace_hex
