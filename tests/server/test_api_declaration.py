"""One API declaration: the REST stores call only endpoints the server's table serves, as declared.

The REST stores run against a live server with a session that records each
call; every call must go through a declaration (:mod:`mltrail.protocol`) that
the server implements with the same method, path and request type, and every
HTTP request must land on a path of the server's table. ``/openapi.json``
must list the web UI's routes as well.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest

from mltrail.entities import Dataset, DatasetInput, ExperimentTag, Metric, Param, RunTag
from mltrail.entities.assessment import AssessmentSource, Feedback
from mltrail.entities.logged_model import LoggedModelOutput
from mltrail.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mltrail.entities.trace import TraceInfo
from mltrail.protocol.logged_models import LOGGED_MODELS
from mltrail.protocol.registry import REGISTRY
from mltrail.protocol.routes import Route
from mltrail.protocol.traces import TRACES
from mltrail.protocol.tracking import TRACKING
from mltrail.protocol.ui import UI
from mltrail.server.app import collect_endpoints
from mltrail.store._http import HttpSession
from mltrail.store.rest import RestTrackingStore
from mltrail.store.rest_logged_models import RestLoggedModelStore
from mltrail.store.rest_registry import RestRegistryStore
from mltrail.store.rest_traces import RestTraceStore

DECLARED = (TRACKING, REGISTRY, LOGGED_MODELS, TRACES)


class RecordingSession(HttpSession):
    """An ordinary session that also notes each declared call and each HTTP request."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.sent: list[tuple[Route, Any]] = []
        self.requests: list[tuple[str, str, bool]] = []  # method, path, made by send()
        self._in_send = False

    def send_raw(self, route: Route, body: Any = None, **path_params: str) -> bytes:
        # send() decodes what send_raw() answers: every declared call passes here.
        self.sent.append((route, body))
        self._in_send = True
        try:
            return super().send_raw(route, body, **path_params)
        finally:
            self._in_send = False

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        self.requests.append((method, path, self._in_send))
        return super().request(method, path, **kw)


def _pattern(template: str) -> re.Pattern[str]:
    """A mount path template as a regex: ``{name}`` one segment, ``{name:path}`` the rest."""
    parts = re.split(r"(\{[^}]+\})", template)
    out = "".join(
        (".+" if p.endswith(":path}") else "[^/]+") if p.startswith("{") else re.escape(p) for p in parts
    )
    return re.compile(f"^{out}$")


@pytest.fixture(scope="module")
def table():
    return collect_endpoints()


def _exercise_tracking(store: RestTrackingStore) -> str:
    exp_id = store.create_experiment(f"decl-{time.time_ns()}", tags=[ExperimentTag("team", "a")])
    store.get_experiment(exp_id)
    exp = store.get_experiment(exp_id)
    assert store.get_experiment_by_name(exp.name) is not None
    assert store.get_experiment_by_name("no-such-experiment-here") is None
    store.search_experiments(filter_string=f"name = '{exp.name}'", order_by=["name"])
    store.rename_experiment(exp_id, exp.name + "-renamed")
    store.set_experiment_tag(exp_id, ExperimentTag("k", "v"))
    store.delete_experiment_tag(exp_id, "k")
    run = store.create_run(exp_id, "me", None, [RunTag("t", "1")], "r1")
    run_id = run.info.run_id
    store.log_metric(run_id, Metric("loss", float("nan"), 1, 0), synchronous=True)
    store.log_metric(run_id, Metric("loss", 0.5, 2, 1))  # buffered, sent with log-batch
    store.log_param(run_id, Param("p", "1"))
    store.set_tag(run_id, RunTag("t2", ""))
    store.delete_tag(run_id, "t2")
    store.log_batch(run_id, [Metric("acc", 0.9, 3, 0)], [Param("q", "2")], [RunTag("t3", "x")])
    store.log_inputs(run_id, [DatasetInput(Dataset("d", "abc", "local", "/tmp/d"), [])])
    history = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1]
    fetched = store.get_run(run_id)
    assert fetched.data.params == {"p": "1", "q": "2"} and fetched.data.tags["t3"] == "x"
    assert len(store.search_runs([exp_id], "params.p = '1'", order_by=["start_time DESC"])) == 1
    store.update_run_info(run_id, "FINISHED", 123, None)
    store.delete_run(run_id)
    store.restore_run(run_id)
    other = store.create_experiment(f"decl-gone-{time.time_ns()}")
    store.delete_experiment(other)
    store.restore_experiment(other)
    return run_id


def _exercise_registry(store: RestRegistryStore, run_id: str) -> None:
    name = f"decl-model-{time.time_ns()}"
    store.create_registered_model(name, [RegisteredModelTag("a", "1")], "first")
    store.get_registered_model(name)
    store.update_registered_model(name, "second")
    store.set_registered_model_tag(name, RegisteredModelTag("b", "2"))
    store.delete_registered_model_tag(name, "b")
    store.search_registered_models(f"name = '{name}'", 10, ["name ASC"])
    version = store.create_model_version(name, f"runs:/{run_id}/model", run_id, [ModelVersionTag("v", "1")])
    v = version.version
    store.get_model_version(name, v)
    store.update_model_version(name, v, "described")
    store.set_model_version_tag(name, v, ModelVersionTag("w", "2"))
    store.delete_model_version_tag(name, v, "w")
    store.transition_model_version_stage(name, v, "Staging", archive_existing_versions=True)
    assert [m.version for m in store.get_latest_versions(name, ["Staging"])] == [v]
    store.get_model_version_download_uri(name, v)
    store.search_model_versions(f"name = '{name}'")
    store.set_registered_model_alias(name, "champion", v)
    assert store.get_model_version_by_alias(name, "champion").version == v
    store.delete_registered_model_alias(name, "champion")
    store.rename_registered_model(name, name + "-2")
    store.delete_model_version(name + "-2", v)
    store.delete_registered_model(name + "-2")


def _exercise_logged_models(store: RestLoggedModelStore, exp_id: str, run_id: str) -> None:
    params = {f"p{i}": str(i) for i in range(130)}  # more than one request's worth (100)
    model = store.create_logged_model(exp_id, "agent-v1", run_id, {"t": "1"}, params, "agent")
    model_id = model.model_id
    assert len(store.get_logged_model(model_id).params) == 130
    store.finalize_logged_model(model_id, "READY")
    store.set_logged_model_tags(model_id, {"a key": "x"})
    store.delete_logged_model_tag(model_id, "a key")
    store.log_logged_model_params(model_id, {"late": "1"})
    found = store.search_logged_models([exp_id], "name = 'agent-v1'", order_by=[{"field_name": "name"}])
    assert [m.model_id for m in found] == [model_id]
    store.log_outputs(run_id, [LoggedModelOutput(model_id, 3)])
    store.delete_logged_model(model_id)
    assert store.get_logged_model(model_id, allow_deleted=True).model_id == model_id


def _exercise_traces(store: RestTraceStore, exp_id: str) -> None:
    trace_id = f"tr-{uuid.uuid4().hex}"
    store.start_trace(TraceInfo(trace_id, exp_id, int(time.time() * 1000), 5))
    assert store.get_trace_info(trace_id).trace_id == trace_id
    store.set_trace_tag(trace_id, "k", "v")
    store.delete_trace_tag(trace_id, "k")
    infos, _ = store.search_traces([exp_id], max_results=5)
    assert [i.trace_id for i in infos] == [trace_id]
    assert store.get_trace(trace_id).info.trace_id == trace_id
    assert [t.info.trace_id for t in store.batch_get_traces([trace_id])] == [trace_id]
    created = store.create_assessment(Feedback("quality", 0.5, trace_id=trace_id, source=AssessmentSource("HUMAN", "me")))
    assessment_id = created.assessment_id
    assert store.get_assessment(trace_id, assessment_id).name == "quality"
    assert store.update_assessment(trace_id, assessment_id, rationale="good").rationale == "good"
    store.delete_assessment(trace_id, assessment_id)
    assert store.delete_traces(exp_id, trace_ids=[trace_id]) == 1


def _check_calls(session: RecordingSession, table: list) -> None:
    by_name = {ep.name: ep for ep in table if ep.name}
    assert session.sent, "the store made no declared call"
    for route, body in session.sent:
        ep = by_name.get(route.name)
        assert ep is not None, f"{route.name} is not in the server's table"
        assert (ep.path, ep.methods, ep.service, ep.request) == (route.path, route.methods, route.service,
                                                                  route.request)
        assert body is None or isinstance(body, route.request), (route.name, type(body))
    served = [(m, _pattern(p)) for ep in table for p in ep.mount_paths() for m in ep.methods]
    raw_paths = {r.client_path for group in DECLARED for r in group if r.raw}
    for method, path, declared in session.requests:
        assert declared or path in raw_paths, f"{method} {path} was not sent through a declaration"
        assert any(m == method and pat.match(path) for m, pat in served), f"{method} {path} is not served"


def test_every_rest_store_call_goes_through_a_served_declaration(live_server, table):
    session = RecordingSession(live_server.url)
    tracking = RestTrackingStore(live_server.url)
    tracking.http = session
    registry = RestRegistryStore(live_server.url)
    registry.http = session
    run_id = _exercise_tracking(tracking)
    exp_id = tracking.get_run(run_id).info.experiment_id
    _exercise_registry(registry, run_id)
    _exercise_logged_models(RestLoggedModelStore(live_server.url, session=session), exp_id, run_id)
    _check_calls(session, table)
    names = {route.name for route, _ in session.sent}
    # The whole tracking, registry and logged-model surface the stores use was exercised.
    assert {"log_batch", "log_metric", "get_metric_history", "search_runs"} <= names
    assert {"create_model_version", "get_model_version_by_alias", "delete_registered_model"} <= names
    assert {"create_logged_model", "log_logged_model_params", "delete_logged_model_tag"} <= names


def test_every_rest_trace_store_call_goes_through_a_served_declaration(live_server, table):
    session = RecordingSession(live_server.url)
    exp_id = RestTrackingStore(live_server.url).create_experiment(f"decl-traces-{time.time_ns()}")
    _exercise_traces(RestTraceStore(live_server.url, session=session), exp_id)
    _check_calls(session, table)
    assert {route.name for route, _ in session.sent} >= {
        "start_trace", "get_trace_info", "get_trace", "batch_get_traces", "search_traces", "delete_traces",
        "set_trace_tag", "delete_trace_tag", "create_assessment", "get_assessment", "update_assessment",
        "delete_assessment",
    }


def test_every_declaration_is_served_once(table):
    rows: dict[str, int] = {}
    for ep in table:
        if ep.name:
            rows[ep.name] = rows.get(ep.name, 0) + 1
    declared = [r.name for group in DECLARED for r in group]
    assert len(declared) == len(set(declared)), "route names are unique"
    assert {name: rows.get(name, 0) for name in declared} == dict.fromkeys(declared, 1)


def test_a_declaration_knows_its_client_path():
    assert TRACKING.get_run.client_path == "/api/2.0/mlflow/runs/get"
    assert REGISTRY.get_model_version.mount_paths()[:2] == [
        "/api/2.0/mlflow/model-versions/get",
        "/api/2.0/preview/mlflow/model-versions/get",
    ]
    assert LOGGED_MODELS.delete_logged_model_tag.url(model_id="m-1", tag_key="a/b c") == (
        "/api/2.0/mlflow/logged-models/m-1/tags/a%2Fb%20c"
    )
    assert TRACES.delete_traces.client_path == "/api/2.0/mlflow/traces/delete-traces"
    assert TRACES.start_trace.client_path == "/api/3.0/mlflow/traces"


def test_openapi_lists_the_ui_routes(api):
    doc = api.get("/openapi.json").json()
    for route in UI:
        op = doc["paths"][route.path]["get"]
        assert op["tags"] == ["ui"]
        assert route.media_type in op["responses"]["200"].get("content", {route.media_type: 1})
    history = doc["paths"]["/ajax-api/mltrail/metrics/history"]["get"]
    assert {p["name"] for p in history["parameters"]} >= {"run_id", "key", "axis", "max_points"}
    events = doc["paths"]["/ajax-api/mltrail/runs/{run_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert [p["name"] for p in events["parameters"]] == ["run_id"]
    csv = doc["paths"]["/ajax-api/mltrail/runs/export.csv"]["get"]
    assert "text/csv; charset=utf-8" in csv["responses"]["200"]["content"]


def test_the_ui_routes_answer_where_declared(api):
    run_id = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    answer = api.get(UI.ui_metric_counts.path, params={"run_ids": run_id})
    assert answer.status_code == 200 and answer.json() == {"counts": {run_id: {}}}
    bad = api.get(UI.ui_metric_history.path, params={"run_id": run_id})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_ui_routes_are_dispatched_table_rows(api, table):
    """The UI's routes are rows of the same table as the API, so the dispatcher's checks apply."""
    rows = {ep.name: ep for ep in table}
    for route in UI:
        assert rows[route.name].mount_paths() == [route.path] and rows[route.name].raw
    # The dispatcher, not the handler's own run-id check, refuses a control character in a path.
    answer = api.get("/ajax-api/mltrail/runs/a%01b/events")
    assert answer.status_code == 400 and "control characters are not allowed" in answer.json()["message"]
    trace = api.get("/ajax-api/mltrail/traces/tr-%7F")
    assert trace.status_code == 400 and trace.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_rest_client_imports_neither_the_server_nor_its_framework():
    code = (
        "import sys\n"
        "import mltrail.store.rest, mltrail.store.rest_registry, mltrail.store.rest_logged_models\n"
        "import mltrail.store.rest_traces, mltrail.protocol.ui\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'starlette' or m.startswith('mltrail.server')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
