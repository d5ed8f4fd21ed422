"""Comparing one script's answers from ``mltrail server`` and a real ``mlflow server`` (the parity modules).

A script runs with the official client against each server (:func:`run_both`); what it returns is
made comparable with :class:`Norm`: entities become their protobuf JSON, ids become ``<id:N>`` in
order of first appearance (so "the same id as before" still compares), wall-clock times become
``<time>``; errors are compared as (HTTP status, ``error_code``) with :func:`client_error` and
:func:`http_error`::

    def _script(url: str) -> dict:
        n, store = Norm(), rest_store(url)
        return {"made": n(store.create_...(...)), "missing": client_error(lambda: store.get_...("nope"))}

    got = run_both(servers, _script)
    assert got["mltrail"] == got["mlflow"]

Times a script writes itself are data, not clock readings: give them from ``T0`` on (within ten
hours) and :class:`Norm` leaves them as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import httpx
from google.protobuf.json_format import MessageToDict
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.rest_store import RestStore
from mlflow.utils.rest_utils import MlflowHostCreds

from support.live_server import LiveServer

#: the first of the fixed times scripts write (ms): data, compared as they are
T0 = 1_700_000_000_000
HOUR = 3_600_000
#: keys whose values are ids (a key ending in one of these)
ID_KEYS = ("id", "Id", "uuid", "Uuid", "token", "Token", "request_id", "item_ids", "schema_ids")
#: keys whose values are wall-clock times (a key ending in one of these)
TIME_KEYS = ("time", "Time", "timestamp", "_at", "At", "time_ms")
DURATION_KEYS = ("execution_time_ms",)  # data, not a clock reading


class Norm:
    """Turns answers into comparable data: ``<id:N>`` for ids, ``<time>`` for wall-clock times.

    One instance per script and server: the numbering of ids is its memory of the ids seen so far.
    """

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def id(self, value: Any) -> Any:
        """``value``'s ``<id:N>`` (a new N for an id not seen before); an empty value stays as it is."""
        if value in (None, "", 0):
            return value
        return self.ids.setdefault(str(value), f"<id:{len(self.ids)}>")

    def __call__(self, obj: Any, key: str = "") -> Any:
        """``obj`` (an entity, a list or JSON data) as plain, comparable data; ``key`` is its name."""
        obj = plain(obj)
        if isinstance(obj, dict):
            return {k: self(v, k) for k, v in sorted(obj.items())}
        if isinstance(obj, (list, tuple)):
            items = [self(v, key) for v in obj]
            if items and all(isinstance(i, dict) and "key" in i for i in items):  # proto maps: no order
                items.sort(key=lambda i: str(i["key"]))
            if key.endswith("_ids"):  # both servers order attached ids by the (random) id itself
                items.sort(key=str)
            return items
        if key.endswith(ID_KEYS):
            return self.id(obj)
        if isinstance(obj, str) and obj.startswith("mlflow-artifacts:/"):
            # where each server keeps artifacts (MLflow with workspaces adds "workspaces/default/"): not data
            return "<artifact location>"
        if (
            key.endswith(TIME_KEYS)
            and key not in DURATION_KEYS
            and obj not in (None, "", 0)
            and not _fixed_time(obj)
        ):
            return "<time>"
        return obj


def plain(obj: Any) -> Any:
    """An entity as plain data: its protobuf JSON, its dataclass fields or its attributes."""
    if isinstance(obj, (str, int, float, bool, type(None), dict, list, tuple)):
        return obj
    if hasattr(obj, "to_proto"):
        proto = obj.to_proto()
        if hasattr(proto, "DESCRIPTOR"):
            return MessageToDict(proto, preserving_proto_field_name=True)
        return str(obj)  # an enum whose proto is a number: its name
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "__dict__"):
        return {k.lstrip("_"): v for k, v in vars(obj).items()}
    return str(obj)


def _fixed_time(value: Any) -> bool:
    try:
        return T0 <= int(value) < T0 + 10 * HOUR
    except (TypeError, ValueError):
        return False


def client_error(call: Callable[[], Any]) -> tuple[int, str] | str:
    """(HTTP status, error_code) of an official-client call that must fail, or "no error"."""
    try:
        call()
    except MlflowException as exc:
        return exc.get_http_status_code(), exc.error_code
    return "no error"


def http_error(resp: httpx.Response) -> tuple[int, str]:
    """(HTTP status, error_code) of a raw HTTP answer; the code is "" on success or a body that is not JSON."""
    try:
        return resp.status_code, resp.json().get("error_code", "")
    except ValueError:
        return resp.status_code, ""


def run_both(servers: dict[str, LiveServer], script: Callable[..., dict], *args: Any) -> dict[str, dict]:
    """``{"mltrail": script(url, *args), "mlflow": ...}``, each with its server's URL."""
    return {name: script(server.url, *args) for name, server in servers.items()}


def rest_store(url: str) -> RestStore:
    """The official client's REST store for ``url``, for calls ``MlflowClient`` has no method for."""
    return RestStore(lambda: MlflowHostCreds(url))
