"""mltrail's public names in ``models``, ``pyfunc``, ``types``, ``langchain`` and ``openai`` against the official mlflow.

MLflow code imports these names (``from mlflow.models import MetricThreshold``); every name
the installed mlflow (3.17.2) offers must exist in mltrail, unless it is in the allow-list
below with its reason. An allow-list entry that mltrail has meanwhile added fails the test
too (so the list stays true), except entries marked as being added in parallel.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

mlflow = pytest.importorskip("mlflow")

PARALLEL = "being added in parallel"

ALLOWED: dict[str, dict[str, str]] = {
    "models": {
        "FlavorBackend": "mlflow's pluggable serving backends; mltrail serves through `mltrail models serve` "
        "and its env managers (mltrail.serving)",
        "Resource": "Databricks Model Serving resource declarations (no Databricks here)",
        "ResourceType": "Databricks Model Serving resource declarations (no Databricks here)",
        "add_libraries_to_model": "Databricks: bundles a registered model's private wheels",
        "build_docker": "`mltrail models build-docker` (the CLI) builds the image; no Python-level wrapper",
        "predict": "`mltrail models predict` (the CLI) runs a model in its environment; no Python-level wrapper",
        "set_retriever_schema": "Databricks Agent Framework retriever schema for its review app",
        "list_evaluators": "mlflow's evaluator plugin registry; mltrail has one built-in evaluator",
    },
    "pyfunc": {
        "ChatAgent": PARALLEL,
        "ChatModel": PARALLEL,
        "ResponsesAgent": PARALLEL,
        "spark_udf": PARALLEL,
        "DBConnectArtifactCache": "Databricks Connect artifact cache",
        "Context": "Databricks serving's per-request prediction context",
        "set_prediction_context": "Databricks serving's per-request prediction context",
        "archive_directory": "spark_udf's environment shipping internals",
        "extract_archive_to_dir": "spark_udf's environment shipping internals",
        "build_model_env": "Databricks serverless environment archives",
        "update_signature_for_type_hint_from_example": "an internal step of save_model (done in mltrail.pyfunc.signature)",
    },
    "types": {},
    "langchain": {
        "FLAVOR_NAME": PARALLEL,
        "load_model": PARALLEL,
        "log_model": PARALLEL,
        "save_model": PARALLEL,
    },
    "openai": {
        "FLAVOR_NAME": PARALLEL,
        "load_model": PARALLEL,
        "log_model": PARALLEL,
        "save_model": PARALLEL,
    },
}


def _official_names(package: str) -> set[str]:
    """What mlflow.<package> offers: its ``__all__``, else the classes/functions it defines (plus FLAVOR_NAME)."""
    module = importlib.import_module(f"mlflow.{package}")
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return {n for n in declared if not n.startswith("_")}
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and getattr(
            value, "__module__", ""
        ).startswith(f"mlflow.{package}"):
            names.add(name)
    if hasattr(module, "FLAVOR_NAME"):
        names.add("FLAVOR_NAME")
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_public_names_match_mlflow(package):
    ours = importlib.import_module(f"mltrail.{package}")
    official = _official_names(package)
    assert official, f"mlflow.{package} offers no names: the comparison would be empty"
    allowed = ALLOWED[package]
    missing = sorted(n for n in official if not hasattr(ours, n) and n not in allowed)
    assert not missing, (
        f"mltrail.{package} lacks MLflow's public names {missing} (add them or allow-list with a reason)"
    )
    stale = sorted(n for n, why in allowed.items() if why != PARALLEL and hasattr(ours, n))
    assert not stale, f"allow-listed names that mltrail.{package} now has: {stale} (remove them from ALLOWED)"
    unknown = sorted(n for n in allowed if n not in official)
    assert not unknown, f"allow-listed names mlflow.{package} does not offer: {unknown}"


def test_model_validation_names_are_mlflows():
    import mltrail
    from mltrail.models import MetricThreshold, validate_evaluation_results

    assert mltrail.validate_evaluation_results is validate_evaluation_results
    assert mltrail.models.MetricThreshold is MetricThreshold
    ours = inspect.signature(MetricThreshold.__init__).parameters
    theirs = inspect.signature(mlflow.models.MetricThreshold.__init__).parameters
    assert list(ours) == list(theirs)
    ours = inspect.signature(validate_evaluation_results).parameters
    theirs = inspect.signature(mlflow.validate_evaluation_results).parameters
    assert list(ours) == list(theirs)


class _Result:
    """What validate_evaluation_results reads from an EvaluationResult (both tools read only ``metrics``)."""

    def __init__(self, metrics: dict[str, float]) -> None:
        self.metrics = metrics


SCENARIOS = [
    ({"acc": {"threshold": 0.8, "greater_is_better": True}}, {"acc": 0.85}, None),
    ({"acc": {"threshold": 0.8, "greater_is_better": True}}, {"acc": 0.75}, None),
    ({"loss": {"threshold": 0.3, "greater_is_better": False}}, {"loss": 0.5}, None),
    ({"acc": {"min_absolute_change": 0.05, "greater_is_better": True}}, {"acc": 0.85}, {"acc": 0.8}),
    ({"acc": {"min_absolute_change": 0.05, "greater_is_better": True}}, {"acc": 0.84}, {"acc": 0.8}),
    ({"r2": {"min_relative_change": 0.1, "greater_is_better": True}}, {"r2": -0.5}, {"r2": -0.6}),
    ({"r2": {"min_relative_change": 0.5, "greater_is_better": True}}, {"r2": 0.1}, {"r2": 0.0}),
    ({"acc": {"threshold": 0.5, "min_absolute_change": 0.1, "greater_is_better": True}}, {"acc": 0.4}, {}),
    ({"f1": {"threshold": 0.5, "greater_is_better": True}}, {"acc": 0.9}, None),
]


@pytest.mark.parametrize(("thresholds", "candidate", "baseline"), SCENARIOS)
def test_validate_evaluation_results_as_mlflow(thresholds, candidate, baseline):
    from mltrail.exceptions import MltrailException
    from mltrail.models import MetricThreshold, validate_evaluation_results

    def outcome(threshold_cls, validate, error):
        try:
            validate(
                {k: threshold_cls(**v) for k, v in thresholds.items()},
                _Result(candidate),
                _Result(baseline) if baseline is not None else None,
            )
        except error as err:
            return getattr(err, "error_code", None), err.message
        return None

    ours = outcome(MetricThreshold, validate_evaluation_results, MltrailException)
    theirs = outcome(
        mlflow.models.MetricThreshold, mlflow.validate_evaluation_results, mlflow.MlflowException
    )
    if candidate == {"acc": 0.85} and baseline == {"acc": 0.8}:
        # The one deliberate difference: mlflow adds 0.8 + 0.05 in floats (0.8500000000000001) and
        # fails a candidate that meets the change exactly; mltrail adds the decimals as written.
        assert ours is None and theirs is not None
        return
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert ours == ("BAD_REQUEST", theirs[1])


def test_metric_threshold_refuses_bad_arguments():
    from mltrail.exceptions import MltrailException
    from mltrail.models import MetricThreshold

    for kwargs in (
        {"threshold": 1},
        {"greater_is_better": True},
        {"min_relative_change": 2.0, "greater_is_better": True},
        {"min_absolute_change": -1, "greater_is_better": True},
        {"threshold": "1", "greater_is_better": True},
    ):
        with pytest.raises(MltrailException) as err:
            MetricThreshold(**kwargs)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(mlflow.MlflowException) as official:
            mlflow.models.MetricThreshold(**kwargs)
        assert err.value.message == official.value.message
