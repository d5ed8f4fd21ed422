"""Names of the official mlflow 3.17.2 that mltrail does not offer on purpose (or not yet), with the reason.

Read by ``test_public_names_genai.py``. Keys are official module paths; each
entry maps a name or a glob pattern (fnmatch) to why it is missing. An entry
that no longer matches a missing name fails the test, so the list shrinks as
names land.
"""

from __future__ import annotations

DATABRICKS = "Databricks-only (labeling sessions, review apps, Unity Catalog, model serving)"
GATEWAY = "AI Gateway configuration entities: mltrail has no AI Gateway server"
MCP = "MCP server registry (MLflow 3.17 preview): not in mltrail"
SCORER_REGISTRY = "Databricks scheduled scorers; mltrail starts registered scorers with ScorerSamplingConfig"
DSPY = "needs DSPy / GEPA (prompt optimization and judge alignment), not installable without models"
LIVE_SPAN = (
    "lives in mltrail.tracing.span: mltrail.entities is the pure layer below the tracer "
    "(from mltrail.tracing import LiveSpan)"
)
OTEL = "OpenTelemetry SDK plumbing: mltrail's tracer is not an OTel TracerProvider (OTLP export is supported)"

ALLOWED: dict[str, dict[str, str]] = {
    "mlflow.genai": {
        "Agent": DATABRICKS,
        "LabelingSession": DATABRICKS,
        "ReviewApp": DATABRICKS,
        "*labeling_session*": DATABRICKS,
        "get_review_app": DATABRICKS,
        "*mcp_*": MCP,
        "ScorerScheduleConfig": SCORER_REGISTRY,
        "optimize_prompt*": DSPY,
        "ConversationSimulator": "agent conversation simulation (3.17 experimental): not in mltrail",
        "test_agent": "agent conversation simulation (3.17 experimental): not in mltrail",
        "*git_model_versioning": "git-based LoggedModel versioning (3.17 experimental): not in mltrail",
    },
    "mlflow.genai.scorers.builtin_scorers": {
        "*SessionLevelScorer": "the session scorers' base class is private in mltrail (genai.scorers.session)",
        "ExtractedFields": "MLflow's internal field-extraction helpers for built-in scorers",
        "FieldExtractionConfig": "MLflow's internal field-extraction helpers for built-in scorers",
        "resolve_scorer_fields": "MLflow's internal field-extraction helpers for built-in scorers",
    },
    "mlflow.genai.judges": {
        "AlignmentOptimizer": DSPY,
        "custom_prompt_judge": "deprecated since MLflow 3.4 in favour of make_judge",
    },
    "mlflow.genai.judges.base": {"AlignmentOptimizer": DSPY},
    "mlflow.entities": {
        "Budget*": GATEWAY,
        "Gateway*": GATEWAY,
        "Guardrail*": GATEWAY,
        "Fallback*": GATEWAY,
        "RoutingStrategy": GATEWAY,
        "ConnectOptionSettings": GATEWAY,
        "MCP*": MCP,
        "Webhook*": "model-registry webhooks: not in mltrail",
        "Workspace*": "MLflow's workspace entities: mltrail's Workspace is in mltrail.entities.workspace (not re-exported)",
        "Issue*": "issue tracking for traces (3.17 experimental): not in mltrail",
        "_DatasetSummary": "private in MLflow (a summary row of search_datasets)",
        "LiveSpan": LIVE_SPAN,
        "NoOpSpan": LIVE_SPAN,
        "TraceLocation*": "trace locations other than an experiment (Unity Catalog tables): Databricks-only",
        "MlflowExperimentLocation": "trace locations other than an experiment (Unity Catalog tables): "
        "Databricks-only",
        "InferenceTableLocation": DATABRICKS,
        "UCSchemaLocation": DATABRICKS,
        "UnityCatalog": DATABRICKS,
        "TraceArchivalConfig": "trace archival to artifact storage (3.17): not in mltrail",
        "EntityAssociationType": "the SQL store's association table type: mltrail stores links differently",
        "Link": "span links (OpenTelemetry): not recorded by mltrail's tracer",
        "Session": "chat-session entity (search_sessions, 3.17 experimental): not in mltrail",
        "SpanLogLevel": "span log levels (3.17 experimental): not in mltrail",
        "ScorerVersion": SCORER_REGISTRY,
        "LoggedModelParameter": "LoggedModel lineage entities: mltrail keeps them as plain dicts",
        "LoggedModelTag": "LoggedModel lineage entities: mltrail keeps them as plain dicts",
    },
    "mlflow.entities.assessment": {
        "IssueReference*": "issue tracking for traces (3.17 experimental): not in mltrail",
    },
    "mlflow.entities.span": {
        "LiveSpan": LIVE_SPAN,
        "NoOpSpan": LIVE_SPAN,
        "LazySpan": LIVE_SPAN,
        "create_mlflow_span": LIVE_SPAN,
    },
    "mlflow.entities.span_event": {"CustomEncoder": "MLflow's internal JSON encoder for event attributes"},
    "mlflow.entities.run_info": {
        "check_run_is_active": "MLflow's internal helpers for the SQL store",
        "orderable_attribute": "MLflow's internal helpers for the SQL store",
        "searchable_attribute": "MLflow's internal helpers for the SQL store",
    },
    "mlflow.entities.metric": {"MetricWithRunId": "MLflow's internal type for get_metric_history_bulk"},
    "mlflow.entities.trace_info": {},
    "mlflow.entities.trace": {},
    "mlflow.tracing": {
        "configure": OTEL,
        "get_bridged_tracer_provider": OTEL,
        "reset": OTEL,
        "context": "trace-context scope for metadata/tags (3.17): not yet (use update_current_trace)",
        "get_tracing_context_headers_for_http_request": "distributed tracing across services: not yet",
        "set_tracing_context_from_http_request_headers": "distributed tracing across services: not yet",
        "set_databricks_monitoring_sql_warehouse_id": DATABRICKS,
        "set_destination": "trace destinations: mltrail traces go to the active experiment's store",
        "set_experiment_trace_location": DATABRICKS,
        "unset_experiment_trace_location": DATABRICKS,
    },
    "mlflow.tracing.constant": {
        "*Metric*Key": "trace metrics aggregation API (3.17): not in mltrail",
        "GenAiSemconvKey": OTEL,
        "SpansLocation": "spans kept in artifact or archive storage: mltrail keeps spans in the database",
        "TraceArchivalFailureReason": "trace archival to artifact storage (3.17): not in mltrail",
        "TraceExperimentTagKey": "trace archival to artifact storage (3.17): not in mltrail",
        "TraceSizeStatsKey": "trace size statistics metadata: not computed by mltrail",
    },
}
