"""``RestTraceStore``: the trace store interface over MLflow 3's trace REST API.

Spans go to ``POST /v1/traces`` as OTLP/HTTP JSON (experiment in the
``x-mlflow-experiment-id`` header), then the trace info to
``POST /api/3.0/mlflow/traces`` - the same two calls the official mlflow
client makes, so traces land the same way from either SDK.

Example::

    store = RestTraceStore("http://127.0.0.1:5000")
    trace = store.get_trace("tr-…")
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.entities.assessment import Assessment, ExpectationValue, FeedbackValue
from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo
from mltrail.entities.trace_otlp import spans_from_otlp, spans_to_otlp_json
from mltrail.exceptions import MltrailException
from mltrail.offline.guard import guard_for
from mltrail.protocol import traces as w
from mltrail.protocol.meta import META, SERVER_HEADER
from mltrail.protocol.traces import EXPERIMENT_HEADER
from mltrail.protocol.traces import TRACES as T
from mltrail.protocol.ui import UI, TraceTotalsQuery
from mltrail.store._http import HttpSession, error_from, unreachable
from mltrail.store.traces import SEARCH_TRACES_DEFAULT_MAX_RESULTS, TraceStore


def _info(d: dict[str, Any]) -> TraceInfo:
    """A trace info from JSON, its assessments as :class:`~mltrail.entities.assessment.Assessment` entities."""
    info = TraceInfo.from_proto_json(d)
    info.assessments = [Assessment.from_proto_json(a) for a in info.assessments]
    return info


def trace_from_json(d: dict[str, Any]) -> Trace:
    """MLflow's ``Trace`` message JSON (info + OTLP spans) as a :class:`Trace`."""
    spans = spans_from_otlp({"resource_spans": [{"scope_spans": [{"spans": d.get("spans") or []}]}]})
    roots = [s for s in spans if s.parent_id is None]
    return Trace(_info(d.get("trace_info") or {}),
                 TraceData(roots + [s for s in spans if s.parent_id is not None]))


class RestTraceStore(TraceStore):
    """Traces on a ``mltrail server`` (or an MLflow 3 server)."""

    def __init__(self, base_url: str, session: HttpSession | None = None) -> None:
        self.session = session or HttpSession(base_url)
        self._is_mltrail: bool | None = None

    def accepts_live_traces(self) -> bool:
        """Whether the server is ``mltrail server``: its ``/version`` answer carries ``X-Mltrail-Version``.

        Asked once per store (one per tracking URI). MLflow's server stores an early
        ``IN_PROGRESS`` trace as finished (OK, 0 s) until the trace ends, so it gets whole
        traces only; so does a server that cannot be asked.
        """
        if self._is_mltrail is None:
            try:
                resp = self.session.request(META.version.method, META.version.client_path)
                self._is_mltrail = resp.status_code == 200 and SERVER_HEADER in resp.headers
            except Exception:
                self._is_mltrail = False
        return self._is_mltrail

    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        resp = self.session.send(T.start_trace, w.StartTraceV3({"trace_info": trace_info.to_proto_json()}))
        return _info(resp["trace"]["trace_info"])

    def log_spans(self, experiment_id: str, spans: list[Span]) -> None:
        if not spans:
            return
        # A raw endpoint (OTLP/HTTP JSON, not an MLflow message): its declared path, our own body.
        route = T.otlp_ingest
        body = msgspec.json.encode(spans_to_otlp_json(spans))
        resp = self.session.request(route.method, route.client_path, content=body, headers={
            "Content-Type": "application/json", EXPERIMENT_HEADER: str(experiment_id)})
        if resp.status_code != 200:
            raise error_from(resp, self.session.base_url + route.client_path)

    def log_traces(self, traces: list[Trace]) -> None:
        """Store finished traces; journaled while the server is unreachable (docs/offline.md)."""
        guard = guard_for(self.session, unreachable)
        for trace in traces:
            info = trace.info

            def online(info: TraceInfo = info, spans: list[Span] = trace.data.spans) -> None:
                self.log_spans(info.experiment_id, spans)
                self.start_trace(info)

            if guard is None:
                online()
                continue
            otlp = spans_to_otlp_json(trace.data.spans)["resourceSpans"]
            spans = [s for rs in otlp for ss in rs["scopeSpans"] for s in ss["spans"]]
            record = {"experiment_id": str(info.experiment_id), "trace_info": info.to_proto_json(), "spans": spans}
            guard.write("log_trace", record, online)

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        resp = self.session.send(T.get_trace_info, trace_id=trace_id)
        return _info(resp["trace"]["trace_info"])

    def get_trace(self, trace_id: str) -> Trace:
        resp = self.session.send(T.get_trace, w.GetTrace(trace_id))
        return trace_from_json(resp["trace"])

    def batch_get_traces(self, trace_ids: list[str]) -> list[Trace]:
        if not trace_ids:
            return []
        resp = self.session.send(T.batch_get_traces, w.BatchGet(list(trace_ids)))
        return [trace_from_json(t) for t in resp.get("traces") or []]

    def search_traces(self, experiment_ids: list[str], filter_string: str | None = None,
                      max_results: int = SEARCH_TRACES_DEFAULT_MAX_RESULTS, order_by: list[str] | None = None,
                      page_token: str | None = None) -> tuple[list[TraceInfo], str | None]:
        body = w.SearchTracesV3(
            locations=[w.Location("MLFLOW_EXPERIMENT", {"experiment_id": str(e)}) for e in experiment_ids],
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by or ()),
            page_token=page_token or None,
        )
        resp = self.session.send(T.search_traces, body)
        return [_info(t) for t in resp.get("traces") or []], resp.get("next_page_token") or None

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None, trace_ids: list[str] | None = None) -> int:
        body = w.DeleteTraces(str(experiment_id), max_timestamp_millis, max_traces, list(trace_ids or ()))
        return int(self.session.send(T.delete_traces, body).get("traces_deleted", 0))

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self.session.send(T.set_trace_tag, w.SetTag(key, value), trace_id=trace_id)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self.session.send(T.delete_trace_tag, w.DeleteTag(key), trace_id=trace_id)

    # ------------------------------------------------------------ assessments
    def create_assessment(self, assessment: Assessment) -> Assessment:
        trace_id = assessment.trace_id or ""
        resp = self.session.send(T.create_assessment, w.CreateAssessment(assessment.to_proto_json()),
                                 trace_id=trace_id)
        return Assessment.from_proto_json(resp["assessment"])

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        resp = self.session.send(T.get_assessment, trace_id=trace_id, assessment_id=assessment_id)
        return Assessment.from_proto_json(resp["assessment"])

    def update_assessment(self, trace_id: str, assessment_id: str, name: str | None = None,
                          expectation: ExpectationValue | None = None, feedback: FeedbackValue | None = None,
                          rationale: str | None = None, metadata: dict[str, str] | None = None) -> Assessment:
        # MLflow's UpdateAssessment: the changed fields plus a FieldMask (camelCase paths, comma-joined).
        body: dict[str, Any] = {"assessment_id": assessment_id, "trace_id": trace_id}
        paths: list[str] = []
        for field, mask, value in (("assessment_name", "assessmentName", name),
                                   ("expectation", "expectation", expectation and expectation.to_proto_json()),
                                   ("feedback", "feedback", feedback and feedback.to_proto_json()),
                                   ("rationale", "rationale", rationale), ("metadata", "metadata", metadata)):
            if value is not None:
                body[field] = value
                paths.append(mask)
        resp = self.session.send(T.update_assessment, w.UpdateAssessment(body, ",".join(paths)),
                                 trace_id=trace_id, assessment_id=assessment_id)
        return Assessment.from_proto_json(resp["assessment"])

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.session.send(T.delete_assessment, w.AssessmentIds(trace_id, assessment_id),
                          trace_id=trace_id, assessment_id=assessment_id)

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        """``POST /api/2.0/mlflow/traces/link-to-run`` (the path the official client calls)."""
        if trace_ids:
            self.session.send(T.link_traces_to_run, w.LinkTracesToRun(list(trace_ids), run_id))

    # -- usage totals and sessions: the server's one SQL query, or the generic paging on an MLflow server
    def trace_totals(self, experiment_ids: list[str], filter_string: str | None = None) -> dict[str, Any]:
        """Trace count, tokens and cost of matching traces (``GET /ajax-api/mltrail/experiments/traces/totals``)."""
        query = TraceTotalsQuery([str(e) for e in experiment_ids], filter_string)
        try:
            return self.session.send(UI.ui_experiment_trace_totals, query)["totals"]
        except MltrailException as err:
            if err.error_code != "ENDPOINT_NOT_FOUND":  # only an MLflow server lacks the route
                raise
        return super().trace_totals(experiment_ids, filter_string)

    def session_summaries(self, experiment_ids: list[str], filter_string: str | None = None,
                          max_results: int = 100, page_token: str | None = None) -> tuple[list[dict[str, Any]],
                                                                                         str | None]:
        """Sessions with their totals (``GET /ajax-api/mltrail/experiments/traces/sessions``)."""
        query = TraceTotalsQuery([str(e) for e in experiment_ids], filter_string, max_results, page_token)
        try:
            resp = self.session.send(UI.ui_experiment_sessions, query)
        except MltrailException as err:
            if err.error_code != "ENDPOINT_NOT_FOUND":
                raise
            return super().session_summaries(experiment_ids, filter_string, max_results, page_token)
        return resp.get("sessions") or [], resp.get("next_page_token")
