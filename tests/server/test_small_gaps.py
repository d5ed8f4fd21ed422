"""Issue 19 point 4, the small gaps: official client calls that must work against ``mltrail server``.

``runs/log-model``: the official client's ``log_model`` records every model logged in a
run in the run's ``mlflow.log-model.history`` tag; the entry must be what MLflow's own
server stores (``Model.from_dict(...).get_tags_dict()``), and bad input is a 400.

``runs/outputs`` and ``runs/log-inputs`` with models: the logged models a run produced
(with their step) and used come back in ``run.outputs.model_outputs`` and
``run.inputs.model_inputs``, through the official client and on every SQL backend.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from mlflow.entities import LoggedModelInput, LoggedModelOutput
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from support.live_server import start_server, stop_server
from support.sql_backends import SQL_BACKENDS

HISTORY = "mlflow.log-model.history"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("small_gaps")
    (root / "local").mkdir()
    server = start_server(root, None, "--allowed-artifact-roots", str(root / "local"))
    server.local_root = root / "local"  # type: ignore[attr-defined]
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(live_server) -> MlflowClient:
    return MlflowClient(tracking_uri=live_server.url)


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    exp = client.create_experiment(f"gaps-{uuid.uuid4().hex[:8]}")
    return client.create_run(exp).info.run_id


def _model(run_id: str, path: str) -> Model:
    model = Model(artifact_path=path, run_id=run_id)
    model.add_flavor("python_function", loader_module="m", config={"secret": 1}, env={"conda": "c.yaml"})
    model.add_flavor("sklearn", sklearn_version="1.5", pickled_model="model.pkl")
    return model


def test_official_client_records_logged_models_in_the_run_history(client: MlflowClient, run_id: str) -> None:
    first, second = _model(run_id, "model"), _model(run_id, "other")
    client._record_logged_model(run_id, first)  # what mlflow.<flavor>.log_model calls
    client._record_logged_model(run_id, second)
    history = json.loads(client.get_run(run_id).data.tags[HISTORY])
    # MLflow's server stores Model.from_dict(body).get_tags_dict() of each request
    expected = [Model.from_dict(m.get_tags_dict()).get_tags_dict() for m in (first, second)]
    assert history == expected
    assert "config" not in history[0]["flavors"]["python_function"]
    assert [h["artifact_path"] for h in history] == ["model", "other"]


@pytest.mark.parametrize(
    ("model_json", "message"),
    [
        ("{not json", "is not a valid JSON"),
        ('{"artifact_path": "m", "flavors": {}}', "missing mandatory fields"),
        ("[1, 2]", "is not a JSON object"),
    ],
)
def test_log_model_refuses_bad_model_json(live_server, run_id: str, model_json: str, message: str) -> None:
    resp = httpx.post(
        f"{live_server.url}/api/2.0/mlflow/runs/log-model", json={"run_id": run_id, "model_json": model_json}
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in resp.json()["message"]


def test_log_model_on_a_deleted_or_unknown_run(client: MlflowClient, live_server, run_id: str) -> None:
    client.delete_run(run_id)
    with pytest.raises(MlflowException, match="active"):
        client._record_logged_model(run_id, _model(run_id, "model"))
    assert HISTORY not in client.get_run(run_id).data.tags
    resp = httpx.post(
        f"{live_server.url}/api/2.0/mlflow/runs/log-model",
        json={"run_id": "0" * 32, "model_json": json.dumps(_model("x", "m").get_tags_dict())},
    )
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_official_client_sees_model_outputs_and_inputs(
    client: MlflowClient, live_server, run_id: str
) -> None:
    exp = client.get_run(run_id).info.experiment_id
    produced = client.create_logged_model(exp, name="produced", source_run_id=run_id)
    used = client.create_logged_model(exp, name="used")
    client.log_outputs(run_id, [LoggedModelOutput(produced.model_id, step=3)])
    client.log_outputs(run_id, [LoggedModelOutput(produced.model_id, step=9)])  # the first record stays
    client.log_inputs(run_id, models=[LoggedModelInput(used.model_id)])
    run = client.get_run(run_id)
    assert [(m.model_id, m.step) for m in run.outputs.model_outputs] == [(produced.model_id, 3)]
    assert [m.model_id for m in run.inputs.model_inputs] == [used.model_id]
    found = client.search_runs([exp])
    assert [m.model_id for m in found[0].outputs.model_outputs] == [produced.model_id]
    # an unknown model or run is refused, and nothing is written
    for call in (
        lambda: client.log_outputs(run_id, [LoggedModelOutput("m-" + "0" * 32, step=0)]),
        lambda: client.log_inputs(run_id, models=[LoggedModelInput("m-" + "0" * 32)]),
        lambda: client.log_outputs("0" * 32, [LoggedModelOutput(produced.model_id, step=0)]),
    ):
        with pytest.raises(MlflowException) as err:
            call()
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert len(client.get_run(run_id).outputs.model_outputs) == 1
    resp = httpx.post(
        f"{live_server.url}/api/2.0/mlflow/runs/log-inputs",
        json={"run_id": run_id, "models": [{"model_id": ""}]},
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.fixture(params=SQL_BACKENDS)
def backend_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'links.db'}"
    return request.getfixturevalue("postgres_uri" if request.param == "postgres" else "mysql_uri")


def test_model_links_on_every_sql_backend(backend_uri: str) -> None:
    from mltrail.entities import LoggedModelInput as In
    from mltrail.entities import LoggedModelOutput as Out
    from mltrail.tracking.client import MlflowClient as MltrailClient

    mc = MltrailClient(backend_uri)
    exp = mc.create_experiment(f"links-{uuid.uuid4().hex[:8]}")
    run_id = mc.create_run(exp).info.run_id
    a = mc.create_logged_model(exp, name="a", source_run_id=run_id).model_id
    b = mc.create_logged_model(exp, name="b").model_id
    mc.log_outputs(run_id, [Out(a, 2), Out(b, 7)])
    mc.log_inputs(run_id, models=[In(b), In(b)])
    run = mc.get_run(run_id)
    assert sorted((m.model_id, m.step) for m in run.outputs.model_outputs) == sorted([(a, 2), (b, 7)])
    assert [m.model_id for m in run.inputs.model_inputs] == [b]
    mc.delete_run(run_id)
    with pytest.raises(Exception, match="active"):
        mc.log_outputs(run_id, [Out(a, 1)])


# ------------------------------------------------------------ get-history-bulk-interval
BULK = "/api/2.0/mlflow/metrics/get-history-bulk-interval"


def _histories() -> list[list[tuple[float, int, int]]]:
    """(value, timestamp, step) per run: many values at step 0, a NaN, ties at one step, gaps in steps."""
    a = [(float(i), 100 + i, 0) for i in range(30)] + [(i * 0.5, 1000 + i, i) for i in range(1, 61)]
    b = [(float("nan") if s == 5 else -3.5 if s == 7 else s * 2.0, 50 + s, s * 3) for s in range(10)]
    return [a, b]


def _sampled(metrics: list[dict[str, Any]], run_ids: list[str]) -> list[list[tuple]]:
    return [
        [(str(float(m["value"])), m["timestamp"], m["step"]) for m in metrics if m["run_id"] == run_id]
        for run_id in run_ids
    ]


def test_bulk_interval_samples_as_the_official_store(client: MlflowClient, live_server, tmp_path) -> None:
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    from support.mlflow_db import mlflow_sqlite_uri

    official = SqlAlchemyStore(mlflow_sqlite_uri(tmp_path / "mlflow.db"), str(tmp_path / "art"))
    exp = client.create_experiment(f"bulk-{uuid.uuid4().hex[:8]}")
    ours, theirs = [], []
    for history in _histories():
        metrics = [MlflowMetric("loss", v, ts, step) for v, ts, step in history]
        run_id = client.create_run(exp).info.run_id
        client.log_batch(run_id, metrics=metrics)
        ours.append(run_id)
        run = official.create_run("0", "u", 0, [], "r")
        official.log_batch(run.info.run_id, metrics=metrics, params=[], tags=[])
        theirs.append(run.info.run_id)
    for max_results, lo, hi in [(7, None, None), (2500, None, None), (1, None, None), (5, 3, 40), (4, 0, 0)]:
        params: list[tuple[str, Any]] = [("run_ids", r) for r in ours] + [("metric_key", "loss")]
        params.append(("max_results", max_results))
        if lo is not None:
            params += [("start_step", lo), ("end_step", hi)]
        resp = httpx.get(live_server.url + BULK, params=params)
        assert resp.status_code == 200, resp.text
        expected = official.get_metric_history_bulk_interval(theirs, "loss", max_results, lo, hi)
        want = [
            [(str(m.value), m.timestamp, m.step) for m in expected if m.run_id == run_id] for run_id in theirs
        ]
        assert _sampled(resp.json()["metrics"], ours) == want, (max_results, lo, hi)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ([("metric_key", "loss"), ("max_results", "0")], 400, "max_results must be between 1 and 2500"),
        ([("metric_key", "loss"), ("max_results", "2501")], 400, "max_results must be between 1 and 2500"),
        ([("metric_key", "loss"), ("start_step", "5")], 400, "both must be specified"),
        ([("metric_key", "loss"), ("start_step", "5"), ("end_step", "2")], 400, "end_step must be greater"),
        ([("metric_key", "loss")] + [("run_ids", f"r{i}") for i in range(101)], 400, "at most 100 run_ids"),
        ([("metric_key", "loss"), ("run_ids", "0" * 32)], 404, "not found"),
    ],
)
def test_bulk_interval_refuses_what_mlflow_refuses(
    live_server, run_id: str, params: list[tuple[str, str]], status: int, message: str
) -> None:
    if not any(k == "run_ids" for k, _ in params):
        params = [*params, ("run_ids", run_id)]
    resp = httpx.get(live_server.url + BULK, params=params)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]


# ------------------------------------------------------------ artifact downloads
_FILES = [
    "MLmodel",
    "conda.yaml",
    "metrics.json",
    "train.py",
    "table.csv",
    "notes.md",
    "plot.png",
    "model.pkl",
]


def _flask_content_type(name: str) -> str:
    """What MLflow's server sends: its guessed type, with Flask's charset on text types."""
    from mlflow.utils.mime_type_utils import _guess_mime_type

    mime = _guess_mime_type(name)
    return f"{mime}; charset=utf-8" if mime.startswith("text/") else mime


def test_artifact_downloads_carry_mlflow_types_and_attachment(
    client: MlflowClient, live_server, run_id
) -> None:
    for name in [*_FILES, "page.html"]:
        client.log_text(run_id, f"content of {name}", name)
    version = client.create_registered_model(f"types-{uuid.uuid4().hex[:8]}").name
    client.create_model_version(version, f"runs:/{run_id}", run_id=run_id)
    proxy_root = client.get_run(run_id).info.artifact_uri.removeprefix("mlflow-artifacts:/").lstrip("/")
    for name in [*_FILES, "page.html"]:
        urls = [
            ("/get-artifact", {"run_uuid": run_id, "path": name}),
            ("/model-versions/get-artifact", {"name": version, "version": "1", "path": name}),
            (f"/api/2.0/mlflow-artifacts/artifacts/{proxy_root}/{name}", {}),
        ]
        for url, params in urls:
            resp = httpx.get(live_server.url + url, params=params)
            assert resp.status_code == 200, (url, resp.text)
            assert resp.content == f"content of {name}".encode()
            assert resp.headers["content-disposition"] == f'attachment; filename="{name}"'
            assert resp.headers["x-content-type-options"] == "nosniff"
            if name == "page.html":  # MLflow says text/html; mltrail never serves markup a browser runs
                assert resp.headers["content-type"] == "text/plain; charset=utf-8"
            else:
                assert resp.headers["content-type"] == _flask_content_type(name), (url, name)


# ------------------------------------------------------------ model-version sources
def test_model_version_sources_mlflow_accepts_and_refuses(client: MlflowClient, live_server, run_id) -> None:
    exp = client.get_run(run_id).info.experiment_id
    root = client.get_run(run_id).info.artifact_uri  # mlflow-artifacts:/<exp>/<run>/artifacts
    model = client.create_logged_model(exp, name="src")
    other = client.create_run(exp).info.run_id
    name = client.create_registered_model(f"sources-{uuid.uuid4().hex[:8]}").name
    accepted = [
        {"source": f"{root}/model", "run_id": run_id},  # inside the run's artifacts
        {"source": model.artifact_location, "model_id": model.model_id},  # the logged model's location
        {"source": f"{model.artifact_location}/sub", "model_id": model.model_id, "run_id": run_id},
        {"source": f"models:/{model.model_id}", "model_id": model.model_id},
        {"source": f"runs:/{run_id}/model", "run_id": run_id},
    ]
    for kw in accepted:
        assert client.create_model_version(name, **kw).source == kw["source"]
    refused = [
        ({"source": f"{root}/model"}, "run_id request parameter must identify"),  # no run named
        ({"source": f"{root}/model", "run_id": other}, "run_id request parameter must identify"),
        ({"source": model.artifact_location, "run_id": run_id}, "run_id request parameter must identify"),
        ({"source": f"{root}/model", "model_id": model.model_id}, "model_id request parameter must identify"),
        ({"source": f"{root}/a/../../{other}/artifacts", "run_id": run_id}, "'..'"),
        (
            {"source": f"{root}/model", "model_id": "m-" + "0" * 32},
            "model_id request parameter must identify",
        ),
    ]
    for kw, message in refused:
        with pytest.raises(MlflowException, match=message) as err:
            client.create_model_version(name, **kw)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(client.search_model_versions(f"name = '{name}'")) == len(accepted)  # nothing partial


def test_local_sources_resolve_inside_the_run(client: MlflowClient, live_server) -> None:
    local = live_server.local_root / f"exp-{uuid.uuid4().hex[:6]}"
    exp = client.create_experiment(f"local-{uuid.uuid4().hex[:8]}", artifact_location=local.as_uri())
    run_id = client.create_run(exp).info.run_id
    art = local / run_id / "artifacts"
    (art / "model").mkdir(parents=True)
    name = client.create_registered_model(f"local-{uuid.uuid4().hex[:8]}").name
    # a path with '..' that stays inside the run is stored resolved, plain or as a file URI
    plain = client.create_model_version(name, f"{art}/sub/../model", run_id=run_id)
    assert plain.source == str((art / "model").resolve())
    uri = client.create_model_version(name, f"{art.as_uri()}/sub/../model", run_id=run_id)
    assert uri.source == (art / "model").resolve().as_uri()
    for source, kw in [
        (f"{art}/../../other", {"run_id": run_id}),  # leaves the run
        (str(art / "model"), {}),  # no run named
    ]:
        with pytest.raises(MlflowException, match="contained within the artifact directory") as err:
            client.create_model_version(name, source, **kw)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_ajax_history_bulk_as_mlflow(client: MlflowClient, live_server) -> None:
    from mlflow.entities import Metric as MlflowMetric

    exp = client.create_experiment(f"hbulk-{uuid.uuid4().hex[:8]}")
    runs = sorted(client.create_run(exp).info.run_id for _ in range(2))
    for i, run_id in enumerate(runs):
        client.log_batch(run_id, metrics=[MlflowMetric("acc", i + s / 10, 500 - s, s) for s in range(5)])
    url = f"{live_server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    params = [("run_id", runs[1]), ("run_id", runs[0]), ("metric_key", "acc")]
    metrics = httpx.get(url, params=params).json()["metrics"]
    # runs in id order, each by timestamp (here the reverse of the steps), run_id on each value
    assert [(m["run_id"], m["step"]) for m in metrics] == [(r, s) for r in runs for s in range(4, -1, -1)]
    assert httpx.get(url, params=[*params, ("max_results", "3")]).json()["metrics"] == metrics[:3]
    unknown = httpx.get(url, params=[*params, ("run_id", "0" * 32)]).json()["metrics"]
    assert unknown == metrics  # MLflow's store leaves unknown runs out
    assert (
        httpx.get(live_server.url + "/api/2.0/mlflow/metrics/get-history-bulk", params=params).status_code
        == 404
    )
    for bad, message in [
        ([("metric_key", "acc")], "at least one run_id"),
        ([("run_id", runs[0])], "must specify a metric_key"),
        ([("metric_key", "acc")] + [("run_id", f"r{i}") for i in range(101)], "cannot specify more than 100"),
    ]:
        resp = httpx.get(url, params=bad)
        assert resp.status_code == 400 and message in resp.json()["message"], resp.text


def test_dataset_search_over_get_answers_as_post(client: MlflowClient, live_server) -> None:
    from mlflow.genai.datasets import create_dataset

    exp = client.create_experiment(f"ds-{uuid.uuid4().hex[:8]}")
    import mlflow

    mlflow.set_tracking_uri(live_server.url)
    try:
        for i in range(3):
            create_dataset(name=f"ds{i}", experiment_id=exp)
    finally:
        mlflow.set_tracking_uri(None)
    url = f"{live_server.url}/api/3.0/mlflow/datasets/search"
    posted = httpx.post(url, json={"experiment_ids": [exp], "max_results": 2}).json()
    got = httpx.get(url, params=[("experiment_ids", exp), ("max_results", "2")]).json()
    assert got == posted and len(got["datasets"]) == 2 and got["next_page_token"]
    ajax = httpx.get(url.replace("/api/", "/ajax-api/"), params=[("experiment_ids", exp)]).json()
    assert sorted(d["name"] for d in ajax["datasets"]) == ["ds0", "ds1", "ds2"]


def test_ajax_logged_model_file_download(client: MlflowClient, live_server, run_id, tmp_path) -> None:
    exp = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(exp, name="files")
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifact(model.model_id, str(tmp_path / "MLmodel"))
    url = f"{live_server.url}/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files"
    resp = httpx.get(url, params={"artifact_file_path": "MLmodel"})
    assert resp.status_code == 200 and resp.text == "flavors: {}\n"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.headers["content-disposition"] == 'attachment; filename="MLmodel"'
    for params, status in [
        ({}, 400),
        ({"artifact_file_path": "../x"}, 400),
        ({"artifact_file_path": "nope"}, 404),
    ]:
        assert httpx.get(url, params=params).status_code == status, params
    unknown = url.replace(model.model_id, "m-" + "0" * 32)
    assert httpx.get(unknown, params={"artifact_file_path": "MLmodel"}).status_code == 404
