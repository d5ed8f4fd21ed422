"""``--read-replica-backend-store-uri``: requests that only read are served from the replica, writes
(and the reads a write makes) from the primary.

The replica holds data the primary lacks (an experiment created there alone), so where a read was
served is visible in its answer. One live server per backend (SQLite files, two real PostgreSQL
databases), driven by the official ``mlflow`` client.
"""

from __future__ import annotations

import pytest

from mltrail.server.app import collect_endpoints
from mltrail.server.dispatch import reads_only
from mltrail.store.sql.tracking import SqlTrackingStore
from support.databases import PG_ADMIN_URI, PG_BASE_URI, fresh_database
from support.live_server import start_server, stop_server

ONLY_IN_REPLICA = "only-in-replica"


def _schema_with(uri: str, root: str, experiment: str | None = None) -> None:
    """Bring ``uri`` to the head schema (and the Default experiment), plus ``experiment`` if given."""
    store = SqlTrackingStore(uri, root)
    if experiment:
        store.create_experiment(experiment)
    store.db.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicated(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"replica-{request.param}")
    dbs = []
    if request.param == "sqlite":
        primary, replica = f"sqlite:///{root / 'primary.db'}", f"sqlite:///{root / 'replica.db'}"
    else:
        dbs = [fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI) for _ in range(2)]
        primary, replica = (next(g) for g in dbs)
    _schema_with(primary, str(root / "artifacts"))
    _schema_with(replica, str(root / "artifacts"), ONLY_IN_REPLICA)
    server = start_server(root, primary, "--read-replica-backend-store-uri", replica)
    yield server, primary
    stop_server(server)
    for g in dbs:
        next(g, None)


@pytest.fixture
def mlflow(replicated):
    import mlflow

    mlflow.set_tracking_uri(replicated[0].url)
    yield mlflow
    mlflow.set_tracking_uri(None)


def test_reads_come_from_the_replica_and_writes_go_to_the_primary(replicated, mlflow):
    server, primary = replicated
    client = mlflow.MlflowClient()
    # Reads: a get and a search (GET and POST) see what only the replica holds.
    assert client.get_experiment_by_name(ONLY_IN_REPLICA) is not None
    assert ONLY_IN_REPLICA in {e.name for e in client.search_experiments()}
    # Writes go to the primary: the replica (never replicated to here) does not see them.
    exp_id = client.create_experiment("written-on-primary")
    assert client.get_experiment_by_name("written-on-primary") is None
    # A write that reads first (is the run there, is it active) reads the primary, so it succeeds
    # although the replica has never heard of the run.
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    client.log_batch(run.info.run_id, params=[mlflow.entities.Param("lr", "0.1")])
    assert client.search_runs(["0"]) == []
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"RESOURCE_DOES_NOT_EXIST|not found"):
        client.get_run(run.info.run_id)
    # The primary holds every write, and nothing of the replica's own data.
    store = SqlTrackingStore(primary, str(server.root / "artifacts"))
    try:
        assert store.get_experiment(exp_id).name == "written-on-primary"
        assert store.get_experiment_by_name(ONLY_IN_REPLICA) is None
        got = store.get_run(run.info.run_id)
        assert got.data.metrics == {"loss": 0.5} and got.data.params == {"lr": "0.1"}
    finally:
        store.db.engine.dispose()


def test_only_reading_endpoints_are_routed():
    by_name = {ep.name: ep for ep in collect_endpoints() if ep.name}
    for name in (
        "get_run",
        "search_runs",
        "search_experiments",
        "get_metric_history",
        "search_traces",
        "search_logged_models",
        "get_latest_versions",
        "batch_get_trace_infos",
    ):
        assert reads_only(by_name[name]), name
    for name in (
        "create_run",
        "log_batch",
        "log_metric",
        "create_experiment",
        "set_tag",
        "delete_run",
        "create_registered_model",
        "start_trace",
        "otlp_ingest",
    ):
        assert not reads_only(by_name[name]), name
    # No endpoint that writes is taken for a reader.
    assert not [ep.name for ep in collect_endpoints() if ep.write and reads_only(ep)]


@pytest.mark.postgres
def test_a_replica_that_cannot_be_reached_is_a_clear_503_without_its_password(tmp_path):
    from mltrail.exceptions import MltrailException
    from mltrail.store.replica import replica_reads, use_read_replica

    made = fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)
    primary = next(made)  # a database of its own: the replica setting is per URI and process-wide
    use_read_replica(primary, "postgresql+psycopg://reader:s3cret@127.0.0.1:1/replica")
    store = SqlTrackingStore(primary, str(tmp_path / "artifacts"))
    try:
        assert store.get_experiment("0").name == "Default"  # not marked as a read: the primary answers
        with replica_reads(), pytest.raises(MltrailException) as caught:
            store.get_experiment("0")
        assert caught.value.error_code == "TEMPORARILY_UNAVAILABLE"
        assert caught.value.get_http_status_code() == 503
        assert "read replica" in caught.value.message and "s3cret" not in caught.value.message
    finally:
        store.db.engine.dispose()
        next(made, None)
