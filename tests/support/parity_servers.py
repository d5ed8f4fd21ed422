"""A pair of live servers for parity tests: a real ``mlflow server`` 3.17.2 and an ``mltrail server``.

The parity modules run one script with the official client against both and compare the answers.
Both servers have workspaces on and a key for gateway secrets; both may call loopback addresses
(mltrail: ``support.live_server.LOOPBACK_HTTP``; MLflow: the gateway's ``api_base`` settings), as
the loopback fakes the scripts talk to need. A module adds what only it needs::

    @pytest.fixture(scope="module")
    def servers(tmp_path_factory):
        with parity_servers(tmp_path_factory, "parity", mltrail_args=("--no-scorer-worker",)) as both:
            yield both  # {"mltrail": LiveServer, "mlflow": LiveServer}

MLflow's server takes the longest to answer (minutes on a loaded machine), so it boots in a thread
while mltrail's starts; however start-up or the tests end, both servers stop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from support.gateway_kit import SERVER_KEY
from support.live_server import LOOPBACK_HTTP, LiveServer, free_port, start_server, stop_server
from support.mlflow_server import start_mlflow_server, stop_mlflow_server

#: MLflow's passphrase for the key that seals gateway secrets.
MLFLOW_KEK_PASSPHRASE = "a-parity-test-kek-passphrase"

_MLFLOW_ENV = {
    "MLFLOW_CRYPTO_KEK_PASSPHRASE": MLFLOW_KEK_PASSPHRASE,
    # the gateway proxy's loopback fakes over plain http (mltrail: LOOPBACK_HTTP)
    "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true",
}
_MLTRAIL_ARGS = ("--enable-workspaces", *LOOPBACK_HTTP)


@contextmanager
def parity_servers(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *,
    mltrail_args: Sequence[str] = (),
    mlflow_env: Mapping[str, str] | None = None,
) -> Iterator[dict[str, LiveServer]]:
    """``{"mltrail": ..., "mlflow": ...}`` for the ``with`` block, in folders ``mltrail-<name>`` and
    ``mlflow-<name>``.

    ``mltrail_args`` go on ``mltrail server``'s command line after the shared ones; ``mlflow_env``
    is merged over the real server's shared settings. A start-up failure of either server is
    raised here, after the other one has stopped.
    """
    holder: dict[str, Any] = {}
    # Both folders are made here, not in the boot thread: the first mktemp of a session creates
    # pytest's basetemp, and two threads doing so at once delete each other's folders.
    mlflow_root = tmp_path_factory.mktemp(f"mlflow-{name}")
    mltrail_root = tmp_path_factory.mktemp(f"mltrail-{name}")

    port = free_port()
    # A guardrail's gateway:/ judge runs in MLflow's server, which finds its own gateway here or
    # from the tracking URI (there, the backend store: "requires an HTTP(S) tracking URI").
    own_gateway = {"MLFLOW_GATEWAY_URI": f"http://127.0.0.1:{port}"}

    def boot_mlflow() -> None:
        try:
            holder["mlflow"] = start_mlflow_server(
                mlflow_root,
                "--enable-workspaces",
                env={**_MLFLOW_ENV, **own_gateway, **(mlflow_env or {})},
                port=port,
            )
        except BaseException as exc:  # re-raised in the caller's thread
            holder["error"] = exc

    thread = threading.Thread(target=boot_mlflow)
    thread.start()
    ours = None
    try:
        ours = start_server(
            mltrail_root,
            None,
            *_MLTRAIL_ARGS,
            *mltrail_args,
            env={"MLTRAIL_SECRET_KEY": SERVER_KEY},
        )
        thread.join()
        if "error" in holder:
            raise holder["error"]
        yield {"mltrail": ours, "mlflow": holder["mlflow"]}
    finally:
        thread.join()
        if ours is not None:
            stop_server(ours)
        if "mlflow" in holder:
            stop_mlflow_server(holder["mlflow"])
