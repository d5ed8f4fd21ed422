"""Evaluation datasets (``mltrail.genai.datasets``): the store on SQLite, PostgreSQL and MariaDB,
the SDK embedded and through ``mltrail server``, and bad input over HTTP.

Store tests run the SQL store itself on each backend (PostgreSQL/MariaDB: the
session databases, datasets have unique ids). SDK tests run the same script on an
embedded SQLite file and against one live server per module (the REST store).
"""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pandas as pd
import pytest

from mltrail.exceptions import MltrailException
from support.basic_auth import PASSWORD, basic_auth_server
from support.sql_backends import SQL_BACKENDS


def _code(err: pytest.ExceptionInfo) -> str:
    return err.value.error_code


# ------------------------------------------------------------------------- store, per backend


@pytest.fixture(params=SQL_BACKENDS)
def store(request, tmp_path):
    from mltrail.store.sql.tracking import SqlTrackingStore

    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri" if request.param == "postgres" else "mysql_uri")
    return SqlTrackingStore(uri, str(tmp_path / "artifacts"))


def _exp(store) -> str:
    return store.create_experiment(f"ds-{uuid.uuid4().hex[:10]}")


def test_create_get_tags_and_experiments(store):
    exp = _exp(store)
    ds = store.create_dataset(
        "qa", tags={"team": "search", "mlflow.user": "ana", "n": 3}, experiment_ids=[exp]
    )
    assert ds.dataset_id.startswith("d-") and ds.name == "qa"
    assert ds.tags == {"team": "search", "mlflow.user": "ana", "n": "3"}
    assert (ds.created_by, ds.last_updated_by, ds.experiment_ids) == ("ana", "ana", [exp])
    assert ds.schema is None and ds.profile is None and len(ds.digest) == 8
    got = store.get_dataset(ds.dataset_id)
    assert got == ds

    store.set_dataset_tags(ds.dataset_id, {"team": "ranking", "stage": "dev", "n": None})
    store.delete_dataset_tag(ds.dataset_id, "mlflow.user")
    store.delete_dataset_tag(ds.dataset_id, "never-set")  # idempotent, as in MLflow
    assert store.get_dataset(ds.dataset_id).tags == {"team": "ranking", "stage": "dev"}

    other = _exp(store)
    assert store.add_dataset_to_experiments(ds.dataset_id, [other, exp]).experiment_ids == sorted(
        [exp, other], key=int
    )
    assert store.remove_dataset_from_experiments(ds.dataset_id, [exp, "999999"]).experiment_ids == [other]
    assert store.get_dataset_experiment_ids(ds.dataset_id) == [other]
    store.delete_experiment(other)
    store.hard_delete_experiment(other)  # mltrail gc: the link goes with the experiment, the dataset stays
    assert store.get_dataset_experiment_ids(ds.dataset_id) == []

    with pytest.raises(MltrailException) as err:
        store.create_dataset("qa", experiment_ids=["987654"])
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        store.create_dataset("", experiment_ids=[exp])
    assert _code(err) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException) as err:
        store.get_dataset("d-missing")
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        store.add_dataset_to_experiments(ds.dataset_id, ["not-a-number"])
    assert _code(err) == "INVALID_PARAMETER_VALUE"


def test_records_merge_by_inputs_digest_schema_and_pages(store):
    exp = _exp(store)
    ds = store.create_dataset("merge", experiment_ids=[exp])
    empty_digest = ds.digest
    counts = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "2+2"}, "expectations": {"a": "4"}, "tags": {"mlflow.user": "bo"}},
            {
                "inputs": {"q": "3+3"},
                "outputs": "6",
                "source": {"source_type": "trace", "source_data": {"trace_id": "tr-1"}},
            },
            {"inputs": {"q": "2+2"}, "expectations": {"why": "sum"}},  # same inputs: merged into the first
            {"inputs": {"q": "4+4", "n": 2}},
        ],
    )
    assert counts == {"inserted": 3, "updated": 1}
    got = store.get_dataset(ds.dataset_id)
    assert json.loads(got.profile) == {"num_records": 3}
    assert json.loads(got.schema) == {
        "inputs": {"q": "string", "n": "integer"},
        "outputs": "string",
        "expectations": {"a": "string", "why": "string"},
        "version": "1.0",
    }
    assert got.last_updated_by == "bo" and got.digest != empty_digest

    records, token = store.load_dataset_records(ds.dataset_id)
    assert token is None
    assert [r.inputs for r in records] == [{"q": "2+2"}, {"q": "3+3"}, {"q": "4+4", "n": 2}]  # order given
    first, second = records[0], records[1]
    assert first.expectations == {"a": "4", "why": "sum"} and first.created_by == "bo"
    assert second.outputs == "6" and second.source_type == "TRACE" and second.source_id == "tr-1"
    assert second.source.source_data == {"trace_id": "tr-1"}

    page, token = store.load_dataset_records(ds.dataset_id, max_results=2)
    assert [r.dataset_record_id for r in page] == [r.dataset_record_id for r in records[:2]] and token
    rest, token2 = store.load_dataset_records(ds.dataset_id, max_results=2, page_token=token)
    assert [r.dataset_record_id for r in rest] == [records[2].dataset_record_id] and token2 is None

    # The digest is the content: same records elsewhere, same digest; any change moves it.
    twin = store.create_dataset("twin")
    store.upsert_dataset_records(
        twin.dataset_id,
        [
            {"inputs": {"q": "4+4", "n": 2}},
            {"inputs": {"q": "3+3"}, "outputs": "6"},
            {"inputs": {"q": "2+2"}, "expectations": {"why": "sum", "a": "4"}},
        ],
    )
    assert store.get_dataset(twin.dataset_id).digest == got.digest
    store.upsert_dataset_records(twin.dataset_id, [{"inputs": {"q": "3+3"}, "outputs": "six"}])
    changed = store.get_dataset(twin.dataset_id).digest
    assert changed != got.digest
    store.upsert_dataset_records(twin.dataset_id, [{"inputs": {"q": "3+3"}, "outputs": "6"}])
    assert store.get_dataset(twin.dataset_id).digest == got.digest

    assert store.delete_dataset_records(ds.dataset_id, [first.dataset_record_id, "dr-unknown"]) == 1
    after = store.get_dataset(ds.dataset_id)
    assert json.loads(after.profile) == {"num_records": 2} and after.digest != got.digest

    store.delete_dataset(ds.dataset_id)
    store.delete_dataset(ds.dataset_id)  # unknown ids are a no-op, as in MLflow
    with pytest.raises(MltrailException) as err:
        store.load_dataset_records(ds.dataset_id)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"


def test_bad_records_write_nothing(store):
    ds = store.create_dataset("atomic")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}])
    before = store.get_dataset(ds.dataset_id)
    for bad in (
        [{"inputs": {"q": 2}}, {"expectations": {"a": 1}}],  # no inputs
        [{"inputs": {"q": 2}}, {"inputs": "text"}],  # inputs not an object
        [{"inputs": {"q": 2}, "expectations": [1]}],
        [{"inputs": {"q": 2}, "source": {"source_type": "robot"}}],
        [{"inputs": {"q": 2}, "colour": "red"}],
        [{"inputs": {"q": float("nan")}}],
        "not a list",
    ):
        with pytest.raises(MltrailException) as err:
            store.upsert_dataset_records(ds.dataset_id, bad)
        assert _code(err) == "INVALID_PARAMETER_VALUE", bad
    assert store.get_dataset(ds.dataset_id) == before
    assert len(store.load_dataset_records(ds.dataset_id)[0]) == 1
    with pytest.raises(MltrailException) as err:
        store.upsert_dataset_records("d-missing", [{"inputs": {}}])
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        store.load_dataset_records(ds.dataset_id, max_results=1, page_token="%%%")
    assert _code(err) == "INVALID_PARAMETER_VALUE"


def test_search_filter_order_and_pages(store):
    exp, other = _exp(store), _exp(store)
    tag = uuid.uuid4().hex[:8]
    made = [
        store.create_dataset(name, tags={"run": tag, "stage": stage}, experiment_ids=[e])
        for name, stage, e in (("alpha", "dev", exp), ("beta", "prod", exp), ("gamma", "prod", other))
    ]
    run = f"tags.run = '{tag}'"
    names = lambda page: [d.name for d in page]  # noqa: E731
    assert names(store.search_datasets(filter_string=run)) == ["gamma", "beta", "alpha"]  # newest first
    assert names(store.search_datasets(filter_string=run, order_by=["name ASC"])) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert names(store.search_datasets([exp], filter_string=run, order_by=["name DESC"])) == ["beta", "alpha"]
    prod = store.search_datasets(filter_string=f"{run} AND tags.stage = 'prod' AND name LIKE 'g%'")
    assert names(prod) == ["gamma"]
    either = store.search_datasets(
        filter_string=f"{run} AND (name = 'alpha' OR name = 'gamma')", order_by=["name"]
    )
    assert names(either) == ["alpha", "gamma"]
    since = store.search_datasets(filter_string=f"{run} AND created_time >= {made[0].created_time}")
    assert len(since) == 3
    assert names(store.search_datasets(filter_string=f"{run} AND name IN ('beta', 'zeta')")) == ["beta"]

    page = store.search_datasets(filter_string=run, order_by=["name"], max_results=2)
    assert names(page) == ["alpha", "beta"] and page.token
    rest = store.search_datasets(filter_string=run, order_by=["name"], max_results=2, page_token=page.token)
    assert names(rest) == ["gamma"] and rest.token is None
    assert page[0].experiment_ids == [exp] and page[0].tags["stage"] == "dev"

    for bad in (
        {"filter_string": "colour = 'red'"},
        {"filter_string": "name > 'a' AND"},
        {"filter_string": "created_time LIKE '1%'"},
        {"order_by": ["digest"]},
        {"max_results": -1},
        {"max_results": 50001},
        {"page_token": "not-a-token"},
        {"experiment_ids": ["x"]},
    ):
        with pytest.raises(MltrailException) as err:
            store.search_datasets(**bad)
        assert _code(err) == "INVALID_PARAMETER_VALUE", bad


# ------------------------------------------------------------------------- SDK, embedded and server


@pytest.fixture(params=["embedded", "server"])
def sdk(request, tmp_path, monkeypatch):
    """The SDK pointed at an embedded SQLite file, or at the module's live server; returns an experiment id."""
    import mltrail

    if request.param == "embedded":
        mltrail.set_tracking_uri(f"sqlite:///{tmp_path / 'sdk.db'}")
    else:
        mltrail.set_tracking_uri(request.getfixturevalue("live_server").url)
    exp = mltrail.create_experiment(f"sdk-{uuid.uuid4().hex[:10]}")
    mltrail.set_experiment(experiment_id=exp)
    return exp


def test_sdk_create_merge_read_search_evaluate(sdk):
    import mltrail
    from mltrail.genai import datasets
    from mltrail.genai.scorers import scorer

    name = f"qa-{uuid.uuid4().hex[:8]}"
    ds = mltrail.genai.create_dataset(name=name, tags={"team": "search"})
    assert ds.experiment_ids == [sdk] and ds.created_by and ds.tags["team"] == "search"
    assert ds.to_df().empty and list(ds.to_df().columns)[:3] == ["inputs", "outputs", "expectations"]

    ds.merge_records(
        [
            {"inputs": {"question": "2+2"}, "expectations": {"answer": "4"}},
            {"inputs": {"question": "3+3"}},
        ]
    )
    first_digest = ds.digest
    ds.merge_records(pd.DataFrame([{"inputs": {"question": "2+2"}, "expectations": {"answer": "four"}}]))
    assert ds.digest != first_digest
    df = ds.to_df()
    assert list(df["inputs"]) == [{"question": "2+2"}, {"question": "3+3"}]
    assert list(df["expectations"]) == [{"answer": "four"}, None]
    assert list(df["source_type"]) == ["HUMAN", "CODE"]  # MLflow's inference
    assert all("mlflow.user" in t for t in df["tags"])

    # Traces become records: root span inputs/outputs, expectation assessments, a TRACE source.
    @mltrail.trace
    def answer(question: str) -> str:
        return str(eval(question))

    answer("5+5")
    trace = mltrail.get_trace(mltrail.get_last_active_trace_id())
    ds.merge_records([trace])
    row = ds.to_df().iloc[-1]
    assert row["inputs"] == {"question": "5+5"} and row["outputs"] == "10"
    assert row["source_type"] == "TRACE" and row["source_id"] == trace.info.trace_id
    ds.merge_records(
        mltrail.search_traces(experiment_ids=[sdk])
    )  # a search_traces DataFrame: same trace, merged
    assert len(ds.to_df()) == 3

    same = datasets.get_dataset(name=name)
    assert same.dataset_id == ds.dataset_id and same.digest == ds.digest
    assert [d.dataset_id for d in datasets.search_datasets(experiment_ids=sdk)] == [ds.dataset_id]
    assert datasets.search_datasets(filter_string=f"name = '{name}' AND tags.team = 'nobody'") == []

    datasets.set_dataset_tags(ds.dataset_id, {"stage": "prod"})
    datasets.delete_dataset_tag(ds.dataset_id, "team")
    assert {"stage": "prod"}.items() <= datasets.get_dataset(dataset_id=ds.dataset_id).tags.items()
    assert "team" not in datasets.get_dataset(dataset_id=ds.dataset_id).tags

    ds.merge_records([{"inputs": {"question": "3+3"}, "expectations": {"answer": "6"}}])

    @scorer
    def exact(outputs, expectations):
        return outputs == expectations.get("answer")

    result = mltrail.genai.evaluate(
        data=same,
        predict_fn=lambda question: str(eval(question)),
        scorers=[exact],
    )
    assert result.metrics["exact/mean"] == pytest.approx(1 / 3)  # "four" != "4", "6" == "6", "10" != None
    inputs = mltrail.get_run(result.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [
        (name, same.digest)
    ]  # the run's input: the dataset

    deleted = ds.delete_records([ds.records[0].dataset_record_id])
    assert deleted == 1 and len(ds.to_df()) == 2
    datasets.delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(MltrailException) as err:
        datasets.get_dataset(dataset_id=ds.dataset_id)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        datasets.get_dataset(name=name)
    assert _code(err) == "RESOURCE_DOES_NOT_EXIST"


# ------------------------------------------------------------------------- HTTP


def test_http_bad_input_is_400_and_unknown_is_404(live_server):
    base = f"{live_server.url}/api/3.0/mlflow/datasets"
    with httpx.Client(timeout=30) as http:
        created = http.post(
            f"{base}/create", json={"name": "http", "experiment_ids": ["0"], "tags": '{"a": "1"}'}
        )
        assert created.status_code == 200, created.text
        ds = created.json()["dataset"]
        assert json.loads(ds["tags"]) == {"a": "1"} and ds["experiment_ids"] == ["0"]
        one = f"{base}/{ds['dataset_id']}"

        bad = [
            http.post(f"{base}/create", json={"experiment_ids": ["0"]}),
            http.post(f"{base}/create", json={"name": "x", "tags": "{not json"}),
            http.post(f"{base}/create", json={"name": "x", "tags": "[1]"}),
            http.post(f"{base}/create", json={"name": "x", "experiment_ids": "0"}),
            http.post(f"{base}/search", json={"filter_string": "nope = 1"}),
            http.post(f"{base}/search", json={"max_results": "many"}),
            http.post(f"{one}/records", json={"records": '{"inputs": {}}'}),
            http.post(f"{one}/records", json={"records": '[{"outputs": 1}]'}),
            http.post(f"{one}/records", json={}),
            http.get(f"{one}/records", params={"page_token": "garbage"}),
            http.patch(f"{one}/tags", json={"tags": "[]"}),
            http.request("DELETE", f"{one}/records", json={}),
            http.post(f"{one}/add-experiments", json={"experiment_ids": ["zero"]}),
            http.post(f"{one}/add-experiments", json={"experiment_ids": ["99999999999999999999"]}),
            http.post(f"{one}/records", json={"records": "[" * 5000 + "]" * 5000}),
            http.post(
                f"{one}/records",
                json={
                    "records": json.dumps(
                        [
                            {
                                "inputs": {},
                                "source": {"source_type": "TRACE", "source_data": {"trace_id": "t" * 300}},
                            }
                        ]
                    )
                },
            ),
        ]
        for resp in bad:
            assert resp.status_code == 400, (resp.request.url, resp.text)
            assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert http.get(f"{one}/records").json()["records"] == "[]"  # nothing written by the bad calls

        for resp in (
            http.get(f"{base}/d-unknown"),
            http.get(f"{base}/d-unknown/records"),
            http.post(f"{base}/d-unknown/records", json={"records": "[]"}),
            http.patch(f"{base}/d-unknown/tags", json={"tags": "{}"}),
            http.post(f"{base}/create", json={"name": "x", "experiment_ids": ["424242"]}),
        ):
            assert resp.status_code == 404, (resp.request.url, resp.text)
            assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

        long_user = http.post(
            f"{one}/records",
            json={"records": json.dumps([{"inputs": {"q": -1}, "tags": {"mlflow.user": "u" * 4000}}])},
        )
        assert (
            long_user.status_code == 200 and http.get(one).json()["dataset"]["last_updated_by"] == "u" * 255
        )
        http.request(
            "DELETE",
            f"{one}/records",
            json={
                "dataset_record_ids": [
                    json.loads(http.get(f"{one}/records").json()["records"])[0]["dataset_record_id"]
                ]
            },
        )
        merged = http.post(
            f"{one}/records", json={"records": json.dumps([{"inputs": {"q": i}} for i in range(3)])}
        )
        assert merged.json() == {"inserted_count": 3, "updated_count": 0}
        page = http.get(f"{one}/records", params={"max_results": 2}).json()
        assert len(json.loads(page["records"])) == 2
        created_time, _, record_id = base64.b64decode(page["next_page_token"]).decode().partition(":")
        assert int(created_time) > 0 and record_id.startswith("dr-")
        assert http.get(f"{one}/experiment-ids").json() == {"experiment_ids": ["0"]}
        assert http.delete(one).status_code == 200


# ------------------------------------------------------------------------- permissions (basic-auth)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """Logins (``support.basic_auth``), nothing readable by default, users alice and bob."""
    with basic_auth_server(
        tmp_path_factory.mktemp("datasets-auth"), default_permission="NO_PERMISSIONS"
    ) as server:
        yield server


def test_datasets_follow_their_experiments_permissions(auth_server):
    ds_api = "/api/3.0/mlflow/datasets"

    def client(user: str) -> httpx.Client:
        return httpx.Client(base_url=auth_server.url, auth=(user, PASSWORD), timeout=30)

    def ok(r: httpx.Response) -> dict:
        assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.text}"
        return r.json()

    def denied(r: httpx.Response) -> None:
        assert r.status_code == 403, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
        assert r.json()["error_code"] == "PERMISSION_DENIED"

    with client("alice") as alice, client("bob") as bob:
        exp = ok(alice.post("/api/2.0/mlflow/experiments/create", json={"name": f"a-{uuid.uuid4().hex[:8]}"}))
        exp_id = exp["experiment_id"]
        ds = ok(alice.post(f"{ds_api}/create", json={"name": "private", "experiment_ids": [exp_id]}))[
            "dataset"
        ]
        one = f"{ds_api}/{ds['dataset_id']}"
        ok(alice.post(f"{one}/records", json={"records": json.dumps([{"inputs": {"q": 1}}])}))

        denied(bob.post(f"{ds_api}/create", json={"name": "intruder", "experiment_ids": [exp_id]}))
        denied(bob.get(one))
        denied(bob.get(f"{one}/records"))
        denied(bob.post(f"{one}/records", json={"records": "[]"}))
        denied(bob.patch(f"{one}/tags", json={"tags": "{}"}))
        denied(bob.delete(one))
        assert ok(bob.post(f"{ds_api}/search", json={"experiment_ids": [exp_id]})).get("datasets", []) == []
        assert ok(bob.post(f"{ds_api}/search", json={})).get("datasets", []) == []
        assert [d["dataset_id"] for d in ok(alice.post(f"{ds_api}/search", json={}))["datasets"]] == [
            ds["dataset_id"]
        ]

        grant = {"experiment_id": exp_id, "username": "bob", "permission": "READ"}
        ok(alice.post("/api/2.0/mlflow/experiments/permissions/create", json=grant))
        assert ok(bob.get(one))["dataset"]["name"] == "private"
        assert len(json.loads(ok(bob.get(f"{one}/records"))["records"])) == 1
        assert [d["dataset_id"] for d in ok(bob.post(f"{ds_api}/search", json={}))["datasets"]] == [
            ds["dataset_id"]
        ]
        denied(bob.post(f"{one}/records", json={"records": "[]"}))

        ok(
            alice.patch(
                "/api/2.0/mlflow/experiments/permissions/update", json={**grant, "permission": "EDIT"}
            )
        )
        ok(bob.post(f"{one}/records", json={"records": json.dumps([{"inputs": {"q": 2}}])}))
        denied(bob.delete(one))  # EDIT is not DELETE
        ok(alice.delete(one))
        assert bob.get(one).status_code == 404  # gone: the handler answers, not the rule
