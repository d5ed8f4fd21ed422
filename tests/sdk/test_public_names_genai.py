"""MLflow 3's public names in ``mlflow.genai``, ``mlflow.entities`` and ``mlflow.tracing`` exist in mltrail.

For each module path code imports, the official mlflow 3.17.2's public names
(``__all__``, or the classes and functions the module defines) must exist under
the same path in mltrail, or be in ``public_names_allowlist.py`` with a reason.
An allow-list entry that matches nothing missing fails too, so the list only
shrinks.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect

import pytest
from public_names_allowlist import ALLOWED

MODULES = [
    "mlflow.genai",
    "mlflow.genai.scorers",
    "mlflow.genai.scorers.builtin_scorers",
    "mlflow.genai.judges",
    "mlflow.genai.judges.base",
    "mlflow.genai.datasets",
    "mlflow.genai.evaluation",
    "mlflow.genai.label_schemas",
    "mlflow.genai.review_queues",
    "mlflow.entities",
    "mlflow.entities.assessment",
    "mlflow.entities.assessment_source",
    "mlflow.entities.assessment_error",
    "mlflow.entities.document",
    "mlflow.entities.span",
    "mlflow.entities.span_event",
    "mlflow.entities.span_status",
    "mlflow.entities.trace",
    "mlflow.entities.trace_info",
    "mlflow.entities.trace_data",
    "mlflow.entities.trace_state",
    "mlflow.entities.logged_model",
    "mlflow.entities.logged_model_status",
    "mlflow.entities.logged_model_output",
    "mlflow.entities.run",
    "mlflow.entities.run_info",
    "mlflow.entities.run_data",
    "mlflow.entities.run_tag",
    "mlflow.entities.run_inputs",
    "mlflow.entities.run_status",
    "mlflow.entities.experiment",
    "mlflow.entities.experiment_tag",
    "mlflow.entities.metric",
    "mlflow.entities.param",
    "mlflow.entities.dataset",
    "mlflow.entities.dataset_input",
    "mlflow.entities.input_tag",
    "mlflow.entities.file_info",
    "mlflow.entities.view_type",
    "mlflow.entities.lifecycle_stage",
    "mlflow.entities.source_type",
    "mlflow.tracing",
    "mlflow.tracing.constant",
]


def public_names(module_name: str) -> set[str]:
    """``__all__``, else the public classes and functions the module itself defines."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is not None:
        return set(names)
    return {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module_name
    }


def missing_in_mltrail(module_name: str) -> list[str]:
    ours = "mltrail" + module_name[len("mlflow") :]
    try:
        module = importlib.import_module(ours)
    except ModuleNotFoundError:
        return sorted(public_names(module_name))  # every name is missing with the path
    return sorted(n for n in public_names(module_name) if not hasattr(module, n))


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_exists_or_is_allowed_with_a_reason(module_name):
    allowed = ALLOWED.get(module_name, {})
    missing = missing_in_mltrail(module_name)
    unexplained = [n for n in missing if not any(fnmatch.fnmatchcase(n, p) for p in allowed)]
    assert not unexplained, (
        f"{module_name}: mltrail lacks {unexplained} (add them or allow-list with a reason)"
    )
    stale = [p for p in allowed if not any(fnmatch.fnmatchcase(n, p) for n in missing)]
    assert not stale, f"{module_name}: allow-list entries {stale} match nothing missing any more: remove them"
    assert all(reason.strip() for reason in allowed.values())


def test_allow_list_names_only_modules_under_test():
    assert set(ALLOWED) <= set(MODULES)


def test_the_module_paths_users_import_resolve_to_the_same_objects():
    """``from mlflow.entities.assessment_source import AssessmentSource`` style imports give mltrail's classes."""
    from mltrail.entities import AssessmentSource, Document, Span, TraceInfo
    from mltrail.entities.assessment_source import AssessmentSource as via_path
    from mltrail.entities.span import Span as span_via_path
    from mltrail.entities.trace_info import TraceInfo as info_via_path
    from mltrail.tracing.constant import AssessmentMetadataKey, SpanAttributeKey, TraceMetadataKey

    assert via_path is AssessmentSource and span_via_path is Span and info_via_path is TraceInfo
    assert (
        TraceMetadataKey.SOURCE_RUN == "mlflow.sourceRun" and SpanAttributeKey.INPUTS == "mlflow.spanInputs"
    )
    from mlflow.tracing.constant import AssessmentMetadataKey as Official

    for key in ("SOURCE_RUN_ID", "SCORER_TRACE_ID", "JUDGE_COST"):
        assert getattr(AssessmentMetadataKey, key) == getattr(Official, key)
    doc = Document(page_content="Paris", metadata={"doc_uri": "wiki/paris"})
    assert doc.to_dict() == {"page_content": "Paris", "metadata": {"doc_uri": "wiki/paris"}, "id": None}


def test_document_and_chat_tools_land_in_the_trace_as_mlflow_writes_them(tmp_path):
    """A RETRIEVER span returning Documents and set_span_chat_tools, read back through the official entities."""
    import mlflow.entities as official_entities

    import mltrail as mlflow
    from mltrail.entities import Document
    from mltrail.exceptions import MltrailException

    uri = f"sqlite:///{tmp_path / 'names.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("names")
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]

        @mlflow.trace(span_type="RETRIEVER")
        def retrieve(query: str) -> list[Document]:
            return [
                Document(page_content="Paris is the capital.", metadata={"doc_uri": "wiki/paris"}, id="d1")
            ]

        with mlflow.start_span("llm", span_type="CHAT_MODEL") as span:
            mlflow.tracing.set_span_chat_tools(span, tools)
            retrieve("capital")
            with pytest.raises(MltrailException, match="chat tool"):
                mlflow.tracing.set_span_chat_tools(span, [{"type": "function", "function": {}}])
        trace_id = mlflow.get_last_active_trace_id()
        mlflow.flush_trace_async_logging()
        mlflow.tracing.disable_notebook_display()
        ours = mlflow.get_trace(trace_id)
    finally:
        mlflow.set_tracking_uri(None)
    theirs = official_entities.Trace.from_dict(ours.to_dict())  # the official entities read mltrail's trace
    spans = {s.name: s for s in theirs.data.spans}
    assert spans["llm"].get_attribute("mlflow.chat.tools") == tools
    assert spans["retrieve"].outputs == [
        {"page_content": "Paris is the capital.", "metadata": {"doc_uri": "wiki/paris"}, "id": "d1"}
    ]
