"""Logged models (MLflow 3) on SQL: SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

import uuid

import pytest

from mltrail.exceptions import MltrailException
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def stores(request, tmp_path):
    uri = request.getfixturevalue(
        {"sqlite": "sqlite_uri", "postgres": "postgres_uri", "mysql": "mysql_uri"}[request.param]
    )
    tracking = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    exp_id = tracking.create_experiment(f"lm-{uuid.uuid4().hex[:8]}")
    return tracking, SqlLoggedModelStore(uri), exp_id


def test_logged_model_lifecycle(stores):
    tracking, store, exp_id = stores
    exp = tracking.get_experiment(exp_id)
    m = store.create_logged_model(
        exp_id, name="llm_model", source_run_id="r1", tags={"t": "1"}, params={"p": "x"}, model_type="agent"
    )
    assert m.model_id.startswith("m-") and m.status == "PENDING"
    assert m.artifact_location == f"{exp.artifact_location}/models/{m.model_id}/artifacts"
    assert (m.name, m.source_run_id, m.tags, m.params, m.model_type) == (
        "llm_model",
        "r1",
        {"t": "1"},
        {"p": "x"},
        "agent",
    )
    assert store.finalize_logged_model(m.model_id, "READY").status == "READY"
    store.set_logged_model_tags(m.model_id, {"t": "2", "u": "3"})
    store.delete_logged_model_tag(m.model_id, "u")
    store.log_logged_model_params(m.model_id, {"q": "y"})
    got = store.get_logged_model(m.model_id)
    assert got.tags == {"t": "2"} and got.params == {"p": "x", "q": "y"}
    assert got.to_dict()["info"]["artifact_uri"] == m.artifact_location
    other = store.create_logged_model(exp_id)  # a generated name
    assert other.name and other.name != "llm_model"
    found = store.search_logged_models([exp_id], "name = 'llm_model' AND tags.t = '2'")
    assert [x.model_id for x in found] == [m.model_id]
    assert {x.model_id for x in store.search_logged_models([exp_id])} == {m.model_id, other.model_id}
    page = store.search_logged_models(
        [exp_id], max_results=1, order_by=[{"field_name": "name", "ascending": True}]
    )
    assert len(page) == 1 and page.token
    store.delete_logged_model(m.model_id)
    with pytest.raises(MltrailException) as err:
        store.get_logged_model(m.model_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert store.get_logged_model(m.model_id, allow_deleted=True).model_id == m.model_id
    for bad in ("name ~ 'x'", "nosuch = 'x'", "name = "):
        with pytest.raises(MltrailException, match="Invalid filter"):
            store.search_logged_models([exp_id], bad)
    with pytest.raises(MltrailException):
        store.create_logged_model("999999")
    with pytest.raises(MltrailException):
        store.finalize_logged_model(other.model_id, "BOGUS")
