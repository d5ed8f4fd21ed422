"""Several processes writing one SQLite file at once lose nothing and never see "database is locked"."""

from __future__ import annotations

import multiprocessing

import pytest

WORKERS = 4
RUNS_PER_WORKER = 6
BATCHES_PER_RUN = 5


def _worker(uri: str, root: str, worker: int, exp_name: str) -> None:
    from mltrail.entities import Metric, Param, RunTag
    from mltrail.exceptions import MltrailException
    from mltrail.store.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(uri, root)  # every worker races the schema creation too
    try:
        exp_id = store.create_experiment(exp_name)
    except MltrailException:
        exp_id = store.get_experiment_by_name(exp_name).experiment_id
    for r in range(RUNS_PER_WORKER):
        run_id = store.create_run(
            exp_id, f"w{worker}", None, [RunTag("worker", str(worker))], None
        ).info.run_id
        for b in range(BATCHES_PER_RUN):
            store.log_batch(
                run_id,
                metrics=[Metric("loss", float(step), step, step) for step in range(b * 50, b * 50 + 50)],
                params=[Param(f"p{b}", str(r))],
            )
            store.log_metric(run_id, Metric("single", float(b), b, b))
            store.set_tag(run_id, RunTag(f"t{b}", "x"))
        store.update_run_info(run_id, "FINISHED", 1, None)


def test_four_processes_one_sqlite_file(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared' / 'mltrail.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(uri, str(tmp_path / "art"), i, "shared-exp"))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * WORKERS, "a worker failed (see its traceback above)"

    from mltrail.store.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(uri, str(tmp_path / "art"))
    exp = store.get_experiment_by_name("shared-exp")
    runs = store.search_runs([exp.experiment_id], max_results=1000)
    assert len(runs) == WORKERS * RUNS_PER_WORKER
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(run.data.params) == BATCHES_PER_RUN
        assert run.data.metrics == {
            "loss": float(BATCHES_PER_RUN * 50 - 1),
            "single": float(BATCHES_PER_RUN - 1),
        }
        assert len(store.get_metric_history(run.info.run_id, "loss")) == BATCHES_PER_RUN * 50
        assert sum(k.startswith("t") for k in run.data.tags) == BATCHES_PER_RUN


@pytest.mark.parametrize("backend", ["sqlite"])
def test_wal_and_pragmas(tmp_path, backend):
    import sqlalchemy as sa

    from mltrail.store.sql.engine import create_sql_engine

    engine = create_sql_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}")
    assert (tmp_path / "deep" / "er").is_dir()
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() >= 30000
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    assert create_sql_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}") is engine
