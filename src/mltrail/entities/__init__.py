"""Plain typed records shared by every layer (no I/O, no framework imports)."""

from mltrail.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
)
from mltrail.entities.dataset_record import DatasetRecord, DatasetRecordSource, DatasetRecordSourceType
from mltrail.entities.document import Document
from mltrail.entities.enums import LifecycleStage, RunStatus, SourceType, ViewType
from mltrail.entities.evaluation_dataset import EvaluationDataset
from mltrail.entities.files import FileInfo
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.entities.model_registry import (
    ModelVersion,
    ModelVersionStages,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mltrail.entities.prompt import Prompt, PromptModelConfig, PromptVersion
from mltrail.entities.run_io import LoggedModelInput, RunOutputs
from mltrail.entities.trace import (
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from mltrail.entities.tracking import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Dataset",
    "DatasetInput",
    "DatasetRecord",
    "DatasetRecordSource",
    "DatasetRecordSourceType",
    "Document",
    "EvaluationDataset",
    "Expectation",
    "Experiment",
    "ExperimentTag",
    "Feedback",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "ModelVersion",
    "ModelVersionStages",
    "ModelVersionStatus",
    "ModelVersionTag",
    "PagedList",
    "Param",
    "Prompt",
    "PromptModelConfig",
    "PromptVersion",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "SourceType",
    "Span",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceState",
    "ViewType",
]
