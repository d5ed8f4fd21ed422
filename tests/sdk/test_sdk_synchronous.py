"""``synchronous`` is part of the TrackingStore interface: the client passes it to any store as is.

Over HTTP the REST store buffers metrics unless told ``synchronous=True`` (then the
call waits and raises the server's error); the SQL store always writes at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mltrail import MlflowClient
from mltrail.entities import Metric
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException
from support.live_server import running_server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("sync-server")) as server:
        yield server.url


def test_rest_store_honours_synchronous_from_the_client(server_url, monkeypatch):
    monkeypatch.setenv("MLTRAIL_ASYNC_LOGGING", "true")
    client = MlflowClient(server_url)
    exp = client.create_experiment(f"sync-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp).info.run_id
    missing = "f" * 32
    client.log_metric(missing, "x", 1.0, synchronous=False)  # queued: no error yet
    with pytest.raises(MltrailException) as info:
        client._store.flush()  # the queued write fails when it is sent
    assert info.value.error_code == RESOURCE_DOES_NOT_EXIST
    with pytest.raises(MltrailException) as info:
        client.log_metric(missing, "x", 1.0, synchronous=True)  # sent now, the error raised here
    assert info.value.error_code == RESOURCE_DOES_NOT_EXIST
    with pytest.raises(MltrailException) as info:
        client.log_batch(missing, metrics=[Metric("x", 1.0, 1, 0)], synchronous=True)
    assert info.value.error_code == RESOURCE_DOES_NOT_EXIST
    client.log_metric(run_id, "loss", 0.5, step=1, synchronous=True)
    assert client.get_run(run_id).data.metrics == {"loss": 0.5}


def test_sql_store_writes_at_once_whatever_synchronous_says(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'sync.db'}")
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 0.25, synchronous=False)
    client.log_batch(run_id, metrics=[Metric("acc", 0.75, 1, 0)], synchronous=True)
    assert client.get_run(run_id).data.metrics == {"loss": 0.25, "acc": 0.75}
    with pytest.raises(MltrailException):
        client.log_metric("f" * 32, "x", 1.0, synchronous=False)
