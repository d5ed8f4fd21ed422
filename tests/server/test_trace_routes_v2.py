"""MLflow 2's trace routes, link-prompts, and MLflow 3.17's trace metrics and filter correlation.

One ``mltrail server`` for the module; the official client's REST store
(``mlflow.store.tracking.rest_store.RestStore``) calls the routes the way older
clients and MLflow's dashboards do, and its protobuf classes read the answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import pytest
from mlflow.entities.model_registry import PromptVersion
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.trace_status import TraceStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.service_pb2 import GetTraceInfo, SearchTraces
from mlflow.store.analytics.trace_correlation import calculate_npmi_from_counts
from mlflow.store.tracking.rest_store import RestStore
from mlflow.utils.proto_json_utils import parse_dict
from mlflow.utils.rest_utils import MlflowHostCreds

from support.live_server import LiveServer, start_server, stop_server

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
HOUR = 3_600_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("traces_v2"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def official(server: LiveServer) -> RestStore:
    return RestStore(lambda: MlflowHostCreds(server.url))


@pytest.fixture(scope="module")
def experiment(server: LiveServer) -> str:
    resp = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "v2-traces"})
    return resp.json()["experiment_id"]


@pytest.fixture(scope="module")
def traces(official: RestStore, experiment: str) -> list[str]:
    """Five traces: (name, start, duration ms, status, tags)."""
    plan = [
        ("chat", T0, 100, TraceStatus.OK, {"env": "prod"}),
        ("chat", T0 + 1000, 300, TraceStatus.OK, {"env": "prod"}),
        ("chat", T0 + HOUR, 500, TraceStatus.ERROR, {"env": "dev"}),
        ("search", T0 + HOUR + 5, 200, TraceStatus.ERROR, {"env": "prod"}),
        ("search", T0 + 2 * HOUR, 400, TraceStatus.OK, {"env": "dev"}),
    ]
    ids = []
    for name, start, duration, status, tags in plan:
        info = official.deprecated_start_trace_v2(
            experiment, start, {"m.start": "1"}, {"mlflow.traceName": name, **tags}
        )
        official.deprecated_end_trace_v2(info.request_id, start + duration, status, {}, {})
        ids.append(info.request_id)
    return ids


def test_start_and_end_as_mlflow_2(official: RestStore, experiment: str, server: LiveServer) -> None:
    started = official.deprecated_start_trace_v2(experiment, T0, {"user": "ann"}, {"k": "v"})
    assert started.experiment_id == experiment and started.timestamp_ms == T0
    assert started.status == TraceStatus.IN_PROGRESS and len(started.request_id) == 32
    ended = official.deprecated_end_trace_v2(started.request_id, T0 + 250, TraceStatus.ERROR, {"out": "x"},
                                             {"k2": "v2"})  # fmt: skip
    assert (ended.request_id, ended.execution_time_ms, ended.status) == (
        started.request_id,
        250,
        TraceStatus.ERROR,
    )
    assert ended.request_metadata["user"] == "ann" and ended.request_metadata["out"] == "x"
    assert ended.tags["k"] == "v" and ended.tags["k2"] == "v2"

    resp = httpx.get(f"{server.url}/api/2.0/mlflow/traces/{started.request_id}/info")
    parsed = GetTraceInfo.Response()
    parse_dict(resp.json(), parsed)  # the proto accepts the answer
    info = parsed.trace_info
    assert (info.request_id, info.timestamp_ms, info.execution_time_ms) == (started.request_id, T0, 250)
    assert TraceStatus.from_proto(info.status) == TraceStatus.ERROR
    # MLflow 3's read sees the same trace
    v3 = httpx.get(f"{server.url}/api/3.0/mlflow/traces/{started.request_id}").json()["trace"]["trace_info"]
    assert v3["state"] == "ERROR" and v3["execution_duration"] == "0.250s"


def test_search_v2(server: LiveServer, experiment: str, traces: list[str]) -> None:
    resp = httpx.get(f"{server.url}/api/2.0/mlflow/traces", params={
        "experiment_ids": experiment, "filter": "tags.env = 'dev'", "max_results": 1,
        "order_by": "timestamp_ms DESC"})  # fmt: skip
    page = SearchTraces.Response()
    parse_dict(resp.json(), page)
    assert [t.request_id for t in page.traces] == [traces[4]] and page.next_page_token
    rest = httpx.get(f"{server.url}/ajax-api/2.0/mlflow/traces", params={
        "experiment_ids": experiment, "filter": "tags.env = 'dev'", "page_token": page.next_page_token,
        "order_by": "timestamp_ms DESC"}).json()  # fmt: skip
    assert [t["request_id"] for t in rest["traces"]] == [traces[2]]
    too_many = httpx.get(f"{server.url}/api/2.0/mlflow/traces", params={"experiment_ids": experiment,
                                                                         "max_results": 501})  # fmt: skip
    assert too_many.status_code == 400 and too_many.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_bad_v2_calls_are_400_or_404(server: LiveServer, official: RestStore, experiment: str) -> None:
    api = f"{server.url}/api/2.0/mlflow/traces"
    cases = [
        (httpx.post(api, json={"timestamp_ms": T0}), 400),
        (httpx.post(api, json={"experiment_id": "999999", "timestamp_ms": T0}), 404),
        (httpx.patch(f"{api}/{'0' * 32}", json={"timestamp_ms": T0, "status": "OK"}), 404),
        (httpx.get(f"{api}/{'0' * 32}/info"), 404),
        (httpx.get(api), 400),
        (httpx.post(f"{api}/link-prompts", json={"trace_id": "x"}), 400),
    ]
    started = official.deprecated_start_trace_v2(experiment, T0, {}, {})
    cases.append((httpx.patch(f"{api}/{started.request_id}", json={"status": "DONE"}), 400))
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert resp.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")


def test_link_prompts_with_the_official_store(
    server: LiveServer, official: RestStore, traces: list[str]
) -> None:
    official.link_prompts_to_trace(traces[0], [PromptVersion("qa", 1, "t"), PromptVersion("qa", 2, "t")])
    official.link_prompts_to_trace(traces[0], [PromptVersion("qa", 2, "t")])  # linked once only
    tags = httpx.get(f"{server.url}/api/3.0/mlflow/traces/{traces[0]}").json()["trace"]["trace_info"]["tags"]
    assert json.loads(tags["mlflow.linkedPrompts"]) == [
        {"name": "qa", "version": "1"},
        {"name": "qa", "version": "2"},
    ]


def _points(official: RestStore, experiment: str, view: MetricViewType, metric: str, aggs, **kw) -> list:
    return [
        (p.dimensions, p.values) for p in official.query_trace_metrics([experiment], view, metric, aggs, **kw)
    ]


def test_trace_metrics(official: RestStore, experiment: str, traces: list[str]) -> None:
    count = [MetricAggregation(AggregationType.COUNT)]
    only = ["tags.env = 'prod' OR tags.env = 'dev'"]  # the five planned traces
    assert _points(official, experiment, MetricViewType.TRACES, "trace_count", count,
                   dimensions=["trace_status"], filters=only) == [
        ({"trace_status": "ERROR"}, {"COUNT": 2.0}), ({"trace_status": "OK"}, {"COUNT": 3.0})]  # fmt: skip
    latency = [MetricAggregation(AggregationType.AVG), MetricAggregation(AggregationType.PERCENTILE, 50.0),
               MetricAggregation(AggregationType.MAX)]  # fmt: skip
    assert _points(official, experiment, MetricViewType.TRACES, "latency", latency, dimensions=["trace_name"],
                   filters=only) == [
        ({"trace_name": "chat"}, {"AVG": 300.0, "P50.0": 300.0, "MAX": 500.0}),
        ({"trace_name": "search"}, {"AVG": 300.0, "P50.0": 300.0, "MAX": 400.0})]  # fmt: skip
    hourly = _points(official, experiment, MetricViewType.TRACES, "trace_count", count, filters=only,
                     time_interval_seconds=3600, start_time_ms=T0, end_time_ms=T0 + 3 * HOUR)  # fmt: skip
    assert [v["COUNT"] for _, v in hourly] == [2.0, 2.0, 1.0]
    assert hourly[0][0] == {"time_bucket": "2023-11-14T22:00:00+00:00"}
    tagged = _points(official, experiment, MetricViewType.TRACES, "trace_count", count,
                     filters=["trace.tag.env = 'prod'", "trace.status = 'ERROR'"])  # fmt: skip
    assert tagged == [({}, {"COUNT": 1.0})]


def test_trace_metrics_refuse_what_mlflow_refuses(official: RestStore, experiment: str) -> None:
    bad = [
        (MetricViewType.TRACES, "nope", [MetricAggregation(AggregationType.COUNT)], {}),
        (MetricViewType.TRACES, "trace_count", [MetricAggregation(AggregationType.AVG)], {}),
        (MetricViewType.TRACES, "latency", [MetricAggregation(AggregationType.AVG)], {"dimensions": ["span_name"]}),
        (MetricViewType.TRACES, "trace_count", [MetricAggregation(AggregationType.COUNT)],
         {"time_interval_seconds": 60}),
    ]  # fmt: skip
    for view, metric, aggs, kw in bad:
        with pytest.raises(MlflowException) as err:
            official.query_trace_metrics([experiment], view, metric, aggs, **kw)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_filter_correlation_matches_mlflows_formula(
    official: RestStore, experiment: str, traces: list[str]
) -> None:
    base = "tags.env = 'prod' OR tags.env = 'dev'"
    got = official.calculate_trace_filter_correlation([experiment], "trace.status = 'ERROR'", "tags.env = 'dev'",
                                                      base_filter=base)  # fmt: skip
    assert (got.filter1_count, got.filter2_count, got.joint_count, got.total_count) == (2, 2, 1, 5)
    expected = calculate_npmi_from_counts(1, 2, 2, 5)
    assert math.isclose(got.npmi, expected.npmi) and math.isclose(got.npmi_smoothed, expected.npmi_smoothed)
    never = official.calculate_trace_filter_correlation(
        [experiment], "tags.env = 'nowhere'", "tags.env = 'dev'"
    )
    assert never.filter1_count == 0 and math.isnan(never.npmi)
