"""The official ``mlflow`` client's ``mlflow.genai.datasets`` against ``mltrail server``, both ways.

Before mltrail served ``/api/3.0/mlflow/datasets/…`` these calls failed with
``ENDPOINT_NOT_FOUND``. Here the official client (mlflow 3.17.2) creates, merges,
searches, reads, tags, links and deletes datasets on one live server; then
records written by mltrail's SDK are read by the official client and the other
way round, with the same ids, digests, schemas and values.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest


@pytest.fixture
def official(live_server):
    """The official client pointed at the module's server; an experiment id to work in."""
    import mlflow

    mlflow.set_tracking_uri(live_server.url)
    try:
        yield mlflow, mlflow.create_experiment(f"official-{uuid.uuid4().hex[:10]}")
    finally:
        mlflow.set_tracking_uri(None)


def test_official_client_full_cycle(official):
    mlflow, exp = official
    from mlflow.exceptions import MlflowException
    from mlflow.genai import datasets

    name = f"qa-{uuid.uuid4().hex[:8]}"
    ds = datasets.create_dataset(name=name, experiment_id=exp, tags={"team": "search", "version": 1})
    assert ds.dataset_id.startswith("d-") and ds.name == name
    assert ds.tags["team"] == "search" and ds.tags["version"] == "1"

    ds.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "A platform"}},
            {"inputs": {"question": "What is mltrail?"}, "outputs": {"text": "a drop-in"}},
        ]
    )
    ds.merge_records(
        pd.DataFrame([{"inputs": {"question": "What is MLflow?"}, "expectations": {"source": "docs"}}])
    )
    got = datasets.get_dataset(dataset_id=ds.dataset_id)
    assert json.loads(got.profile) == {"num_records": 2}
    schema = json.loads(got.schema)
    assert schema["inputs"] == {"question": "string"}
    assert schema["expectations"] == {"answer": "string", "source": "string"}
    assert got.experiment_ids == [exp]
    df = got.to_df()
    assert list(df["inputs"]) == [{"question": "What is MLflow?"}, {"question": "What is mltrail?"}]
    assert df["expectations"][0] == {"answer": "A platform", "source": "docs"}  # merged by inputs
    assert df["outputs"][1] == {"text": "a drop-in"}
    assert list(df["source_type"]) == ["HUMAN", "CODE"]

    assert datasets.get_dataset(name=name).dataset_id == ds.dataset_id
    found = datasets.search_datasets(
        experiment_ids=[exp], filter_string=f"name = '{name}' AND tags.team = 'search'"
    )
    assert [d.dataset_id for d in found] == [ds.dataset_id]
    assert datasets.search_datasets(experiment_ids=[exp], filter_string="tags.team = 'nobody'") == []
    client = mlflow.MlflowClient()
    page = client.search_datasets(experiment_ids=[exp], max_results=1, order_by=["name ASC"])
    assert len(page) == 1 and not page.token

    datasets.set_dataset_tags(dataset_id=ds.dataset_id, tags={"stage": "prod", "team": None})
    datasets.delete_dataset_tag(dataset_id=ds.dataset_id, key="version")
    tags = datasets.get_dataset(dataset_id=ds.dataset_id).tags
    assert tags.get("stage") == "prod" and "team" not in tags and "version" not in tags

    other = mlflow.create_experiment(f"official-{uuid.uuid4().hex[:10]}")
    assert sorted(datasets.add_dataset_to_experiments(ds.dataset_id, [other]).experiment_ids) == sorted(
        [exp, other]
    )
    assert datasets.remove_dataset_from_experiments(ds.dataset_id, [exp]).experiment_ids == [other]

    before = datasets.get_dataset(dataset_id=ds.dataset_id)
    record_id = before.to_df()["dataset_record_id"][1]
    assert before.delete_records([record_id]) == 1
    after = datasets.get_dataset(dataset_id=ds.dataset_id)
    assert len(after.to_df()) == 1 and after.digest != before.digest

    with pytest.raises(MlflowException) as err:
        ds.merge_records([{"inputs": {"q": 1}, "source": {"source_type": "HUMAN", "bogus": 1}}])
    datasets.delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(MlflowException) as err:
        datasets.get_dataset(dataset_id=ds.dataset_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_records_cross_between_mltrail_and_the_official_client(official, live_server):
    mlflow, exp = official
    import mltrail
    from mltrail.genai import datasets

    mltrail.set_tracking_uri(live_server.url)
    ours = datasets.create_dataset(name=f"cross-{uuid.uuid4().hex[:8]}", experiment_id=exp)
    ours.merge_records(
        [
            {"inputs": {"q": "a"}, "expectations": {"score": 0.5}, "tags": {"kind": "seed"}},
            {
                "inputs": {"q": "b"},
                "outputs": [1, 2],
                "source": {"source_type": "DOCUMENT", "source_data": {"source_id": "doc-7"}},
            },
        ]
    )
    theirs = mlflow.MlflowClient().get_dataset(ours.dataset_id)  # the entity: records readable
    assert (theirs.name, theirs.digest, theirs.schema, theirs.profile) == (
        ours.name,
        ours.digest,
        ours.schema,
        ours.profile,
    )
    records = {json.dumps(r.inputs): r for r in theirs.records}
    a, b = records['{"q": "a"}'], records['{"q": "b"}']
    assert a.expectations == {"score": 0.5} and a.tags["kind"] == "seed" and a.source_type == "HUMAN"
    assert b.outputs == [1, 2] and b.source_type == "DOCUMENT" and b.source_id == "doc-7"
    assert b.source.source_data == {"source_id": "doc-7"}

    # The official client merges into mltrail's dataset; mltrail reads what it wrote.
    first_ids = [r.dataset_record_id for r in theirs.records]
    theirs.merge_records([{"inputs": {"q": "a"}, "expectations": {"verdict": "ok"}}, {"inputs": {"q": "c"}}])
    again = datasets.get_dataset(dataset_id=ours.dataset_id)
    assert again.digest != ours.digest and json.loads(again.profile) == {"num_records": 3}
    by_q = {r.inputs["q"]: r for r in again.records}
    assert by_q["a"].expectations == {"score": 0.5, "verdict": "ok"}
    assert by_q["c"].source_type == "CODE"
    assert [r.dataset_record_id for r in again.records] == [*first_ids, by_q["c"].dataset_record_id]
    mltrail.set_tracking_uri(None)
