"""mltrail's offline-journal replay endpoint (not part of MLflow's API).

An SDK that could not reach its tracking server wrote its writes to a local
journal (:mod:`mltrail.offline`); when the server is back it sends them here,
in order, in batches. Each record is one write with the body the matching
MLflow endpoint takes (``runs/log-batch``'s ``LogBatch`` for ``log_batch``…),
plus what only a replay needs: ``create_run`` carries the run id the SDK chose
offline, so the run keeps it. The server applies every record so that applying
it twice changes nothing (see ``docs/offline.md``): an interrupted replay is
simply sent again.

Example::

    session.send(OFFLINE.replay, Replay(journal="3f2a…", records=[
        ReplayRecord(1, "create_run", {"run_id": "…", "experiment_id": "0", "tags": []}),
        ReplayRecord(2, "log_batch", {"run_id": "…", "metrics": [...]}),
    ]))
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol import tracking as w
from mltrail.protocol.routes import MLTRAIL, Message, Route, RouteSet

#: The most records one replay request may carry.
MAX_REPLAY_RECORDS = 500


class ReplayRecord(msgspec.Struct):
    """One journaled write: its sequence number in the journal, the operation and its body."""

    seq: int
    op: str
    body: dict[str, Any] = {}
    #: The SDK may have sent this record before (an interrupted replay, a timed-out call):
    #: the server then leaves out what it already holds.
    check: bool = False


class Replay(Message):
    """Records of one journal (``journal`` is its id), applied in the order given."""

    journal: str
    records: list[ReplayRecord] = []


class ReplayOutcome(msgspec.Struct, omit_defaults=True):
    """What applying one record gave: ``experiment_id`` for ``create_experiment``, ``run`` for ``create_run``."""

    seq: int
    duplicate: bool = False
    experiment_id: str | None = None
    run: dict[str, Any] | None = None
    #: Set when the server refused the record (the replay goes on with the next one).
    error_code: str | None = None
    message: str | None = None


class ReplayResponse(msgspec.Struct):
    """One outcome per record, in order."""

    results: list[ReplayOutcome] = []


class ReplayCreateRun(w.CreateRun):
    """``runs/create``'s body plus the run id chosen offline (32 lowercase hex characters)."""

    run_id: str = ""


class ReplayTrace(msgspec.Struct):
    """A finished trace: its experiment, its info as MLflow 3's ``TraceInfo`` JSON, its spans as OTLP JSON."""

    experiment_id: str
    trace_info: dict[str, Any]
    spans: list[dict[str, Any]] = []


#: op -> the Struct its body is checked against.
RECORD_BODIES: dict[str, type] = {
    "create_experiment": w.CreateExperiment,
    "set_experiment_tag": w.SetExperimentTag,
    "create_run": ReplayCreateRun,
    "update_run": w.UpdateRun,
    "log_batch": w.LogBatch,
    "delete_tag": w.DeleteTag,
    "log_inputs": w.LogInputs,
    "log_trace": ReplayTrace,
}

OFFLINE = RouteSet(
    Route(
        "replay",
        "POST",
        "/offline/replay",
        Replay,
        ReplayResponse,
        service=MLTRAIL,
        summary="Apply an SDK's offline journal records (idempotent)",
        tags=("mltrail",),
    ),
)
