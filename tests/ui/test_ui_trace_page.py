"""The trace page in a real Chromium against a live ``mltrail server``.

Spans reach the server the way collectors and the client send them (OTLP/HTTP
JSON on ``/v1/traces``), trace infos through MLflow 3's ``POST /traces``, and
feedback added on the page is read back with the official ``mlflow`` client.
Screenshots land in ``tmp_path`` for a look at how the page reads.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest

XSS = "<img src=x onerror=window.__pwned=1>"


# ---------------------------------------------------------------- writing traces as clients do


def _value(v: Any) -> dict[str, Any]:
    return {"stringValue": json.dumps(v)}  # MLflow's span attributes: JSON text


def span(
    trace_hex: str,
    name: str,
    start_ms: float,
    end_ms: float | None,
    parent: str | None = None,
    attrs: dict[str, Any] | None = None,
    status: int = 1,
    span_id: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One OTLP JSON span; times in ms after a fixed origin."""
    origin = 1_760_000_000_000_000_000
    d: dict[str, Any] = {
        "traceId": trace_hex,
        "spanId": span_id or uuid.uuid4().hex[:16],
        "name": name,
        "startTimeUnixNano": str(origin + int(start_ms * 1e6)),
        "attributes": [{"key": k, "value": _value(v)} for k, v in (attrs or {}).items()],
        "status": {"code": status},
    }
    if end_ms is not None:
        d["endTimeUnixNano"] = str(origin + int(end_ms * 1e6))
    if parent:
        d["parentSpanId"] = parent
    if events:
        d["events"] = events
    return d


def post_spans(http: Any, experiment_id: str, spans: list[dict[str, Any]]) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    res = http.post("/v1/traces", json=body, headers={"x-mlflow-experiment-id": experiment_id})
    assert res.status_code == 200, res.text


def finish(
    http: Any,
    experiment_id: str,
    trace_hex: str,
    name: str,
    state: str = "OK",
    metadata: dict[str, str] | None = None,
    duration_s: float = 1.5,
) -> None:
    when = 1_760_000_000_000
    info = {
        "trace_id": "tr-" + trace_hex,
        "trace_location": {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": experiment_id},
        },
        "request_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when / 1000)) + ".000Z",
        "execution_duration": f"{duration_s}s",
        "state": state,
        "trace_metadata": metadata or {},
        "tags": {"mlflow.traceName": name},
    }
    res = http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert res.status_code == 200, res.text


@pytest.fixture
def exp_id(seeder) -> str:
    return seeder.experiment(f"traces-{uuid.uuid4().hex[:8]}")


def _no_script_ran(page) -> None:
    assert not [d for d in page.dialogs if d[0] != "confirm"], page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")
    assert page.console_errors == [], page.console_errors


def agent_trace(http: Any, exp: str, label: str = "agent") -> str:
    """A finished agent trace: a chain, two chat calls with a tool call between them, tokens and cost."""
    t = uuid.uuid4().hex
    root, llm1, tool, llm2 = (uuid.uuid4().hex[:16] for _ in range(4))
    question = {"question": "Weather in Paris?", "options": {"units": "metric", "tags": ["a", "b"]}}
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    spans = [
        span(
            t,
            label,
            0,
            1500,
            span_id=root,
            attrs={
                "mlflow.spanType": "CHAIN",
                "mlflow.spanInputs": question,
                "mlflow.spanOutputs": "It is 21°C and sunny.",
            },
        ),
        span(
            t,
            "ChatCompletions",
            20,
            620,
            root,
            span_id=llm1,
            attrs={
                "mlflow.spanType": "CHAT_MODEL",
                "mlflow.spanInputs": {"model": "gpt-4o-mini", "messages": messages},
                "mlflow.spanOutputs": {
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]}}
                    ]
                },
                "mlflow.chat.tokenUsage": {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30},
                "mlflow.llm.cost": {"input_cost": 0.00002, "output_cost": 0.00004, "total_cost": 0.00006},
            },
        ),
        span(
            t,
            "get_weather",
            640,
            900,
            root,
            span_id=tool,
            attrs={
                "mlflow.spanType": "TOOL",
                "mlflow.spanInputs": {"city": "Paris"},
                "mlflow.spanOutputs": {"temp_c": 21},
            },
        ),
        span(
            t,
            "ChatCompletions 2",
            920,
            1480,
            root,
            span_id=llm2,
            attrs={
                "mlflow.spanType": "CHAT_MODEL",
                "mlflow.spanInputs": {
                    "messages": [
                        *messages,
                        {"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
                    ]
                },
                "mlflow.spanOutputs": {
                    "choices": [{"message": {"role": "assistant", "content": "It is 21°C and sunny."}}]
                },
                "mlflow.chat.tokenUsage": {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52},
            },
        ),
    ]
    post_spans(http, exp, spans)
    usage = json.dumps({"input_tokens": 60, "output_tokens": 22, "total_tokens": 82})
    finish(http, exp, t, label, metadata={"mlflow.trace.tokenUsage": usage})
    return "tr-" + t


def _rows(page):
    return page.locator(".span-viewport .span-row")


def test_waterfall_chat_pretty_json_tokens_and_cost(page, seeder, exp_id, tmp_path):
    trace_id = agent_trace(seeder.http, exp_id)
    page.goto(f"/#/traces/{trace_id}")
    page.wait_for_selector("h1:text('agent')")
    assert _rows(page).evaluate_all("rs => rs.map(r => r.querySelector('.span-label').textContent)") == [
        "agent",
        "ChatCompletions",
        "get_weather",
        "ChatCompletions 2",
    ]
    # Waterfall: a bar per span on one time axis, children inside the root, durations beside them.
    bars = page.locator(".span-row .span-bar").evaluate_all(
        "bs => bs.map(b => { const r = b.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    (root_l, root_r), (l1, r1), (lt, rt), (l2, r2) = bars
    assert root_l <= l1 < r1 <= lt < rt <= l2 < r2 <= root_r + 1
    assert _rows(page).locator(".span-dur").all_inner_texts() == ["1.5s", "600ms", "260ms", "560ms"]
    assert page.locator(".span-axis .tick").count() >= 3
    # Totals: trace tokens from its metadata, cost summed from the spans that carry one.
    assert page.locator(".trace-tokens strong").inner_text() == "82 tokens (60 in · 22 out)"
    assert page.locator(".trace-cost strong").inner_text().startswith("$0.00006")
    assert page.locator(".trace-duration strong").inner_text() == "1.5s"
    assert page.locator(".trace-spans strong").inner_text() == "4"
    # The root's inputs: pretty JSON (indented, no escaped quotes); its string output as plain text.
    inputs = page.locator(".span-detail pre.span-inputs").inner_text()
    assert (
        '"question": "Weather in Paris?"' in inputs
        and '\n    "units": "metric"' in inputs
        and '\\"' not in inputs
    )
    assert page.locator(".span-detail pre.span-outputs").inner_text() == "It is 21°C and sunny."
    page.screenshot(path=str(tmp_path / "trace-root.png"), full_page=True)
    # A chat span reads as a conversation: roles, the tool call with its arguments, tokens and cost.
    page.locator(".span-pick[data-span='ChatCompletions']").click()
    page.wait_for_selector(".span-detail h2:text('ChatCompletions')")
    roles = page.locator(".span-detail .chat-msg").evaluate_all("ms => ms.map(m => m.dataset.role)")
    assert roles == ["system", "user", "assistant"]
    call = page.locator(".span-detail .tool-call")
    assert "get_weather" in call.locator(".tool-call-head").inner_text()
    assert json.loads(call.locator("pre").inner_text()) == {"city": "Paris"}
    assert '\n  "city": "Paris"' in call.locator("pre").inner_text()
    assert page.locator(".span-detail .span-tokens").inner_text() == "30 tokens (20 in · 10 out)"
    assert page.locator(".span-detail .span-cost").inner_text().startswith("$0.00006 ($0.00002 in")
    page.locator(".span-pick[data-span='ChatCompletions 2']").click()
    page.wait_for_selector(".span-detail h2:text('ChatCompletions 2')")
    tool_msg = page.locator(".span-detail .chat-msg[data-role='tool']")
    assert "call_1" in tool_msg.inner_text() and '{"temp_c": 21}' in tool_msg.inner_text()
    assert page.locator(".span-detail .chat-msg").last.inner_text().endswith("It is 21°C and sunny.")
    page.screenshot(path=str(tmp_path / "trace-chat.png"), full_page=True)
    # On a phone the detail goes under the span list and nothing overflows the page sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
    list_box = page.locator(".span-list").bounding_box()
    detail_box = page.locator(".span-detail").bounding_box()
    assert detail_box["y"] >= list_box["y"] + list_box["height"] - 1
    page.screenshot(path=str(tmp_path / "trace-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    # Keyboard: arrow keys move the selection.
    page.locator(".span-viewport").focus()
    page.keyboard.press("ArrowUp")
    page.wait_for_selector(".span-detail h2:text('get_weather')")
    _no_script_ran(page)


def test_langchain_and_responses_api_spans_read_as_conversations(page, seeder, exp_id):
    """The shapes mltrail's LangChain autologger (messages in, LLMResult out) and OpenAI's Responses API record."""
    t = uuid.uuid4().hex
    lc_result = {
        "generations": [
            [
                {
                    "text": "",
                    "type": "ChatGeneration",
                    "message": {
                        "type": "ai",
                        "content": "",
                        "tool_calls": [
                            {"name": "search", "args": {"q": "mlflow"}, "id": "tc-9", "type": "tool_call"}
                        ],
                    },
                }
            ]
        ],
        "llm_output": {"model": "m"},
    }
    responses_out = {
        "output": [
            {"type": "function_call", "name": "lookup", "arguments": '{"id": 7}', "call_id": "fc-1"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Found it."}],
            },
        ]
    }
    post_spans(
        seeder.http,
        exp_id,
        [
            span(
                t,
                "ChatOpenAI",
                0,
                50,
                attrs={
                    "mlflow.spanType": "CHAT_MODEL",
                    "mlflow.spanInputs": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Find mlflow docs"},
                    ],
                    "mlflow.spanOutputs": lc_result,
                },
            ),
            span(
                t,
                "Responses",
                60,
                90,
                attrs={
                    "mlflow.spanType": "CHAT_MODEL",
                    "mlflow.spanInputs": {"instructions": "Be exact.", "input": "Find 7"},
                    "mlflow.spanOutputs": responses_out,
                },
            ),
            span(t, "big", 95, 99, attrs={"mlflow.spanInputs": {"blob": "x" * 150_000}}),
        ],
    )
    finish(seeder.http, exp_id, t, "shapes")
    page.goto(f"/#/traces/tr-{t}")
    page.wait_for_selector(".span-detail h2:text('ChatOpenAI')")
    msgs = page.locator(".span-detail .chat-msg")
    assert msgs.evaluate_all("ms => ms.map(m => m.dataset.role)") == ["system", "user", "assistant"]
    assert "search" in msgs.last.locator(".tool-call-head").inner_text()
    assert json.loads(msgs.last.locator(".tool-call pre").inner_text()) == {"q": "mlflow"}
    page.locator(".span-pick[data-span='Responses']").click()
    page.wait_for_selector(".span-detail h2:text('Responses')")
    assert msgs.evaluate_all("ms => ms.map(m => m.dataset.role)") == [
        "system",
        "user",
        "assistant",
        "assistant",
    ]
    assert "lookup" in msgs.nth(2).inner_text() and json.loads(msgs.nth(2).locator("pre").inner_text()) == {
        "id": 7
    }
    assert msgs.nth(3).locator(".chat-content").inner_text() == "Found it."
    # A very long value shows its first 100,000 characters until asked for the rest.
    page.locator(".span-pick[data-span='big']").click()
    page.wait_for_selector(".span-detail h2:text('big')")
    inputs = page.locator(".span-detail pre.span-inputs")
    assert len(inputs.inner_text()) == 100_000
    page.locator(".span-detail button.show-all").click()
    assert json.loads(inputs.inner_text()) == {"blob": "x" * 150_000}
    _no_script_ran(page)


def test_markup_in_trace_values_is_text(page, seeder, exp_id):
    t = uuid.uuid4().hex
    root = uuid.uuid4().hex[:16]
    call = {"id": XSS, "function": {"name": XSS, "arguments": json.dumps({"q": XSS})}}
    post_spans(
        seeder.http,
        exp_id,
        [
            span(
                t,
                XSS,
                0,
                100,
                span_id=root,
                attrs={"mlflow.spanType": XSS, "mlflow.spanInputs": {"html": XSS}, XSS: XSS},
            ),
            span(
                t,
                "chat " + XSS,
                10,
                90,
                root,
                attrs={
                    "mlflow.spanType": "CHAT_MODEL",
                    "mlflow.spanInputs": {"messages": [{"role": XSS, "content": XSS}]},
                    "mlflow.spanOutputs": {
                        "choices": [{"message": {"role": "assistant", "content": XSS, "tool_calls": [call]}}]
                    },
                },
                status=2,
                events=[
                    {
                        "name": "exception",
                        "timeUnixNano": "1760000000000000050",
                        "attributes": [
                            {"key": "exception.type", "value": {"stringValue": XSS}},
                            {"key": "exception.message", "value": {"stringValue": XSS}},
                        ],
                    }
                ],
            ),
        ],
    )
    finish(seeder.http, exp_id, t, XSS, state="ERROR")
    res = seeder.http.post(
        f"/api/3.0/mlflow/traces/tr-{t}/assessments",
        json={
            "assessment": {
                "assessment_name": XSS,
                "trace_id": f"tr-{t}",
                "source": {"source_type": "HUMAN", "source_id": XSS},
                "feedback": {"value": XSS},
                "rationale": XSS,
            }
        },
    )
    assert res.status_code == 200, res.text
    page.goto(f"/#/traces/tr-{t}")
    page.wait_for_selector(".span-detail h2.span-title")
    assert page.locator("h1").inner_text() == XSS
    assert page.locator(".span-detail h2.span-title").inner_text() == XSS
    assert XSS in page.locator(".span-detail pre.span-inputs").inner_text()
    assert page.locator(".assessment-name").inner_text() == XSS
    assert page.locator(".assessment-rationale").inner_text() == XSS
    page.locator(".span-pick", has_text="chat").click()
    page.wait_for_selector(".span-detail .chat-msg")
    assert XSS in page.locator(".span-detail .chat").inner_text()
    assert XSS in page.locator(".span-detail .exception-title").inner_text()
    page.locator(".span-detail details.span-attributes summary").click()
    assert page.locator("img").count() == 0
    _no_script_ran(page)


def test_feedback_from_the_page_reads_back_through_mlflow(page, seeder, exp_id, ui_server, tmp_path):
    from mlflow import MlflowClient

    trace_id = agent_trace(seeder.http, exp_id, "feedback-me")
    page.goto(f"/#/traces/{trace_id}")
    page.wait_for_selector("h1:text('feedback-me')")
    assert page.locator(".trace-assessments").inner_text().count("No assessments yet.") == 1
    form = page.locator("form.feedback-form")
    form.locator("input[name=name]").fill("helpful")
    form.locator("select[name=bool]").select_option("no")
    form.locator("textarea[name=rationale]").fill("Missed the units.")
    form.get_by_role("button", name="Add feedback").click()
    page.wait_for_selector("li.assessment[data-name='helpful']")
    # A number, and a bad number refused on the page before anything is sent.
    form.locator("input[name=name]").fill("score")
    form.locator("select[name=kind]").select_option("number")
    form.locator("input[name=value]").fill("abc")
    form.get_by_role("button", name="Add feedback").click()
    page.wait_for_selector("form.feedback-form .error")
    form.locator("input[name=value]").fill("0.75")
    form.get_by_role("button", name="Add feedback").click()
    page.wait_for_selector("li.assessment[data-name='score']")
    assert page.locator("li.assessment[data-name='helpful'] .assessment-value").inner_text() == "false"
    page.screenshot(path=str(tmp_path / "trace-feedback.png"), full_page=True)

    found = {a.name: a for a in MlflowClient(ui_server).get_trace(trace_id).info.assessments}
    assert found["helpful"].value is False
    assert found["helpful"].rationale == "Missed the units."
    assert found["helpful"].source.source_type == "HUMAN"
    assert found["helpful"].source.source_id == "anonymous"  # logins off: nobody is known
    assert found["score"].value == 0.75
    # A reload shows them from the server.
    page.reload()
    page.wait_for_selector("li.assessment[data-name='score']")
    assert page.locator("li.assessment").count() == 2
    _no_script_ran(page)


def test_ten_thousand_spans_keep_the_dom_small(page, seeder, exp_id, tmp_path):
    t = uuid.uuid4().hex
    root = uuid.uuid4().hex[:16]
    spans = [span(t, "root", 0, 10_000, span_id=root, attrs={"mlflow.spanType": "CHAIN"})]
    parents = []
    for i in range(99):
        pid = uuid.uuid4().hex[:16]
        parents.append(pid)
        spans.append(span(t, f"step-{i}", i * 100, i * 100 + 95, root, span_id=pid))
    for i in range(10_000 - len(spans)):
        p = i % 99
        spans.append(
            span(
                t,
                f"leaf-{i}",
                p * 100 + (i // 99) * 0.9,
                p * 100 + (i // 99) * 0.9 + 0.8,
                parents[p],
                attrs={"mlflow.spanInputs": {"i": i}},
            )
        )
    for i in range(0, len(spans), 2500):
        post_spans(seeder.http, exp_id, spans[i : i + 2500])
    finish(seeder.http, exp_id, t, "huge", duration_s=10)
    page.goto(f"/#/traces/tr-{t}")
    page.wait_for_selector("h1:text('huge')")
    assert page.locator(".span-count").inner_text() == "10000 spans"
    bounded = 120
    assert 10 < _rows(page).count() <= bounded
    viewport = page.locator(".span-viewport")
    # Scroll to the end and through the middle: still only a window of rows, and the last span is there.
    viewport.evaluate("v => { v.scrollTop = v.scrollHeight; }")
    page.wait_for_selector(".span-row[data-index='9999']")
    assert _rows(page).count() <= bounded
    for fraction in (0.25, 0.5, 0.75):
        viewport.evaluate(f"v => {{ v.scrollTop = v.scrollHeight * {fraction}; }}")
        page.wait_for_function(
            f"() => [...document.querySelectorAll('.span-row')].some(r => Math.abs(r.dataset.index - {int(10_000 * fraction)}) < 40)"
        )
        assert _rows(page).count() <= bounded
    # Collapsing a step hides its 100 leaves; search finds one span among 10,000.
    viewport.evaluate("v => { v.scrollTop = 0; }")
    page.wait_for_selector(".span-row[data-index='0']")
    page.locator(".span-row[data-index='1'] button.span-toggle").click()
    page.wait_for_function(
        "() => document.querySelector('.span-row[data-index=\"2\"] .span-label').textContent === 'step-1'"
    )
    page.locator(".span-search").fill("leaf-4242")
    page.wait_for_selector(".span-count:text('1 of 10000 spans match')")
    assert _rows(page).evaluate_all("rs => rs.map(r => r.querySelector('.span-label').textContent)") == [
        "root",
        f"step-{4242 % 99}",
        "leaf-4242",
    ]
    page.wait_for_selector(".span-detail h2:text('leaf-4242')")
    assert json.loads(page.locator(".span-detail pre.span-inputs").inner_text()) == {"i": 4242}
    page.screenshot(path=str(tmp_path / "trace-10k.png"))
    _no_script_ran(page)


def test_a_trace_in_progress_grows_in_the_list_and_on_its_page(page, seeder, exp_id):
    page.goto(f"/#/experiments/{exp_id}/traces")
    page.wait_for_selector("text=No traces yet.")
    t = uuid.uuid4().hex
    root = uuid.uuid4().hex[:16]
    post_spans(seeder.http, exp_id, [span(t, "first-step", 10, 200, root, attrs={"mlflow.spanType": "TOOL"})])
    # The list hears about the new trace (no reload) and shows it running.
    row = page.locator(f"tr[data-trace-id='tr-{t}']")
    row.wait_for()
    assert row.get_attribute("data-state") == "IN_PROGRESS"
    row.locator("a").click()
    page.wait_for_selector(".span-row .span-label:text('first-step')")
    assert page.locator(".trace-state strong").inner_text() == "IN_PROGRESS"
    post_spans(
        seeder.http, exp_id, [span(t, "second-step", 210, 400, root, attrs={"mlflow.spanType": "LLM"})]
    )
    page.wait_for_selector(".span-row .span-label:text('second-step')")
    assert _rows(page).count() == 2
    # The root arrives last (it ends last) and the client finishes the trace: the page shows it done.
    post_spans(
        seeder.http, exp_id, [span(t, "agent-live", 0, 450, span_id=root, attrs={"mlflow.spanType": "AGENT"})]
    )
    finish(seeder.http, exp_id, t, "agent-live", duration_s=0.45)
    page.wait_for_selector(".trace-state .badge:text-is('OK')")
    page.wait_for_selector("h1:text('agent-live')")
    assert _rows(page).evaluate_all("rs => rs.map(r => r.querySelector('.span-label').textContent)") == [
        "agent-live",
        "first-step",
        "second-step",
    ]
    page.go_back()
    page.wait_for_selector(f"tr[data-trace-id='tr-{t}'][data-state='OK']")
    _no_script_ran(page)


# ---------------------------------------------------------------- the UI route itself


def test_trace_route_answers_all_spans_in_one_request(seeder, exp_id):
    trace_id = agent_trace(seeder.http, exp_id, "route")
    res = seeder.http.get(f"/ajax-api/mltrail/traces/{trace_id}")
    assert res.status_code == 200
    assert re.match(r"^app;dur=\d+(\.\d+)?$", res.headers["server-timing"])
    body = res.json()
    assert body["trace_info"]["trace_id"] == trace_id
    rest = seeder.http.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}).json()["trace"]
    assert sorted(s["span_id"] for s in body["spans"]) == sorted(s["span_id"] for s in rest["spans"])
    missing = seeder.http.get("/ajax-api/mltrail/traces/tr-" + "0" * 32)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = seeder.http.get("/ajax-api/mltrail/traces/" + "x" * 80)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert seeder.http.get("/ajax-api/mltrail/experiments/traces/events").status_code == 400


def test_trace_event_stream_sends_spans_then_changes(seeder, exp_id):
    t = uuid.uuid4().hex
    post_spans(seeder.http, exp_id, [span(t, "one", 0, 10)])
    with seeder.http.stream("GET", f"/ajax-api/mltrail/traces/tr-{t}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        events = []
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 1:
                    post_spans(seeder.http, exp_id, [span(t, "two", 10, 20)])
                if len(events) == 2:
                    break
    assert [s["name"] for s in events[0]["spans"]] == ["one"]
    assert events[0]["trace_info"]["state"] == "IN_PROGRESS"
    assert [s["name"] for s in events[1]["spans"]] == ["two"]  # only what changed


# ---------------------------------------------------------------- with logins on


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """Logins (``support.basic_auth``), nothing readable by default, users alice and bob."""
    from support.basic_auth import basic_auth_server

    root = tmp_path_factory.mktemp("trace-auth")
    with basic_auth_server(
        root,
        "--artifacts-destination",
        str(root / "artifacts"),
        env={"MLTRAIL_UI_POLL_SECONDS": "0.2"},
        default_permission="NO_PERMISSIONS",
    ) as server:
        yield server


def test_trace_routes_need_read_on_the_trace_experiment_and_feedback_names_the_user(browser, auth_server):
    import httpx

    from support.basic_auth import PASSWORD

    alice = httpx.Client(base_url=auth_server.url, auth=("alice", PASSWORD), timeout=30)
    bob = httpx.Client(base_url=auth_server.url, auth=("bob", PASSWORD), timeout=30)
    with alice, bob:
        res = alice.post(
            "/api/2.0/mlflow/experiments/create", json={"name": f"private-{uuid.uuid4().hex[:8]}"}
        )
        exp = res.json()["experiment_id"]
        trace_id = agent_trace(alice, exp, "private")
        assert alice.get(f"/ajax-api/mltrail/traces/{trace_id}").status_code == 200
        for path in (
            f"/ajax-api/mltrail/traces/{trace_id}",
            f"/ajax-api/mltrail/traces/{trace_id}/events",
            f"/ajax-api/mltrail/experiments/traces/events?experiment_ids={exp}",
        ):
            denied = bob.get(path)
            assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED", path

        context = browser.new_context(
            base_url=auth_server.url,
            viewport={"width": 1280, "height": 800},
            http_credentials={"username": "alice", "password": PASSWORD},
        )
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"/#/traces/{trace_id}")
        page.wait_for_selector("h1:text('private')")
        page.locator("form.feedback-form").get_by_role("button", name="Add feedback").click()
        page.wait_for_selector("li.assessment[data-name='user_feedback']")
        context.close()
        assert errors == []
        info = alice.get(f"/api/3.0/mlflow/traces/{trace_id}").json()["trace"]["trace_info"]
        (feedback,) = info["assessments"]
        assert feedback["source"] == {"source_type": "HUMAN", "source_id": "alice"}
        assert feedback["feedback"]["value"] is True
