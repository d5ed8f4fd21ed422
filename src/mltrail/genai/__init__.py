"""``mltrail.genai``: MLflow 3's GenAI namespace; here the Prompt Registry.

Example::

    import mltrail as mlflow

    mlflow.genai.register_prompt("qa", "Answer {{question}}")
    prompt = mlflow.genai.load_prompt("prompts:/qa@latest")
    prompt.format(question="Why?")

See :mod:`mltrail.genai.prompts` and ``docs/prompts.md``.
"""

from mltrail.genai import prompts as _prompts
from mltrail.genai.compare import compare_evaluations
from mltrail.genai.evaluation import EvaluationResult, evaluate, to_predict_fn
from mltrail.genai.prompts import *  # noqa: F403  (the names listed in prompts.__all__)

__all__ = list(_prompts.__all__)
__all__ += ["EvaluationResult", "evaluate", "to_predict_fn"]
__all__ += ["compare_evaluations"]  # mltrail only: regressions between two evaluations

# Scorers and judges (G1): loaded on first use, so `import mltrail.genai` stays cheap.
_SCORER_NAMES = ("Scorer", "scorer", "make_scorer_ensemble", "list_scorers", "get_scorer", "delete_scorer")
__all__ += ["judges", "scorers", "make_judge", *_SCORER_NAMES]  # noqa: F405  (served by __getattr__)


# Evaluation datasets (H2): loaded on first use as well (they load the tracking client).
_DATASET_NAMES = (
    "create_dataset",
    "get_dataset",
    "search_datasets",
    "delete_dataset",
    "set_dataset_tags",
    "delete_dataset_tag",
    "EvaluationDatasetVersion",
)
__all__ += ["datasets", *_DATASET_NAMES]  # noqa: F405  (served by __getattr__)


def __getattr__(name: str):
    import importlib

    if name == "datasets" or name in _DATASET_NAMES:
        module = importlib.import_module("mltrail.genai.datasets")
        return module if name == "datasets" else getattr(module, name)

    if name in ("judges", "scorers", "label_schemas", "review_queues"):
        return importlib.import_module(f"mltrail.genai.{name}")
    if name in _SCORER_NAMES:
        return getattr(importlib.import_module("mltrail.genai.scorers"), name)
    if name == "make_judge":
        return importlib.import_module("mltrail.genai.judges").make_judge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
