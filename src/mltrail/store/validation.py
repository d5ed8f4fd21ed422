"""MLflow's limits and key rules, in one place (values follow MLflow 3.17).

Every check raises ``INVALID_PARAMETER_VALUE`` with a message that names the
offending field, its length and the limit, so a user knows what to fix. The
stores call these before touching the database (the server only calls the
stores), so a rejected request writes nothing. No limit here is smaller than
MLflow's: the columns in :mod:`mltrail.store.sql.schema` are sized to hold them
on SQLite, PostgreSQL and MySQL/MariaDB alike.

Example::

    validate_param("lr", "0.01")            # fine
    validate_param("a" * 300, "x")          # MltrailException: Param key ... maximum length of 250
"""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Sequence

from mltrail.entities import DatasetInput, Metric, Param, RunTag
from mltrail.entities.prompt import PROMPT_TEXT_TAG_KEY
from mltrail.exceptions import MltrailException, invalid

# Runs (a run's description is its ``mlflow.note.content`` tag).
MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_TRACE_TAG_KEY_LENGTH = 250
MAX_TRACE_TAG_VAL_LENGTH = 8000
MAX_RUN_NAME_LENGTH = 250
MAX_USER_ID_LENGTH = 256
# Experiments (an experiment's description is its ``mlflow.note.content`` tag).
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
# MLflow's default for MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH.
MAX_ARTIFACT_LOCATION_LENGTH = 2048
# Model registry: registered-model, model-version (a prompt's template is the
# ``mlflow.prompt.text`` model-version tag) and logged-model tags.
MAX_REGISTERED_MODEL_NAME_LENGTH = 256
MAX_MODEL_REGISTRY_TAG_KEY_LENGTH = 250
MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_REGISTERED_MODEL_ALIAS_LENGTH = 255
# Batches and datasets.
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASETS_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_TYPE_SIZE = 36
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_INT64 = 2**63 - 1

# MLflow's rule on Linux/macOS, where its servers run: colons allowed (not on Windows clients).
_VALID_KEY = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) "
    "and slashes (/)."
)


def _path_not_unique(name: str) -> bool:
    # Keys may become file names (e.g. in artifact exports): "a/../b" or "/a" must not alias another key.
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def validate_key(kind: str, key: object) -> str:
    """Check a metric, param or tag key: non-empty string, allowed characters, ≤ 250 chars, no path tricks."""
    if type(key) is str and key in _good_keys:  # hot path: batches repeat the same few keys
        return key
    _check_key(kind, key)
    if len(_good_keys) < 65536:
        _good_keys.add(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


_good_keys: set[str] = set()


def _check_key(kind: str, key: object) -> None:
    if key is None or key == "":
        raise invalid(f"{kind} name cannot be empty. A key name must be provided.")
    if not isinstance(key, str):
        raise invalid(f"Invalid {kind.lower()} name: {key!r}. Expected a string.")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise too_long(f"{kind} key '{key[:40]}...'", len(key), MAX_ENTITY_KEY_LENGTH)
    if not _VALID_KEY.match(key):
        raise invalid(f"Invalid {kind.lower()} name: '{key}'. {_BAD_CHARACTERS}")
    if _path_not_unique(key):
        raise invalid(
            f"Invalid {kind.lower()} name: '{key}'. Names may be treated as files in certain cases, and must "
            f"not resolve to other names when treated as such. This name would resolve to "
            f"'{posixpath.normpath(key)}'"
        )


def too_long(what: str, length: int, limit: int) -> MltrailException:
    """The ``INVALID_PARAMETER_VALUE`` error for a ``what`` of ``length`` characters over ``limit``.

    Example::

        raise too_long("Tag value for key 'k'", 8001, 8000)
        # Tag value for key 'k' had length 8001, which exceeds the maximum length of 8000 characters
    """
    return invalid(f"{what} had length {length}, which exceeds the maximum length of {limit} characters")


def validate_length(what: str, key: str, value: str | None, limit: int) -> None:
    """Reject ``value`` longer than ``limit`` characters, naming ``key``, the length and the limit."""
    if value is not None and len(value) > limit:
        raise too_long(f"{what} for key '{key}'", len(value), limit)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def validate_metric(metric: Metric) -> None:
    """Key rules, a numeric value (NaN and ±inf allowed), integer timestamp ≥ 0 and integer step."""
    validate_key("Metric", metric.key)
    value = metric.value
    # Exact-type checks first: isinstance against the numbers ABCs is slow on 1,000-metric batches.
    ts, step = metric.timestamp, metric.step
    if (
        type(value) is float
        and type(ts) is int
        and type(step) is int
        and 0 <= ts <= MAX_INT64
        and -MAX_INT64 <= step <= MAX_INT64
    ):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(
            f"Got invalid value {value!r} for metric '{metric.key}' (timestamp={metric.timestamp}). "
            "Please specify value as a valid double (64-bit floating point)"
        )
    if not _is_int(metric.timestamp) or not 0 <= metric.timestamp <= MAX_INT64:
        raise invalid(
            f"Got invalid timestamp {metric.timestamp!r} for metric '{metric.key}' (value={value}). "
            "Timestamp must be a nonnegative long (64-bit integer)"
        )
    if not _is_int(metric.step) or not -MAX_INT64 <= metric.step <= MAX_INT64:
        raise invalid(
            f"Got invalid step {metric.step!r} for metric '{metric.key}' (value={value}). "
            "Step must be a valid long (64-bit integer)."
        )


def validate_param(key: str, value: object) -> None:
    """Key rules and a string value of at most 6,000 characters."""
    validate_key("Param", key)
    if not isinstance(value, str):
        raise invalid(f"Param '{key}' must have a string value, got {type(value).__name__}")
    validate_length("Param value", key, value, MAX_PARAM_VAL_LENGTH)


def validate_tag(key: str, value: object) -> None:
    """Key rules and a string value of at most 8,000 characters (MLflow 3's run tag limit)."""
    validate_key("Tag", key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Tag '{key}' must have a string value, got {type(value).__name__}")
    validate_length("Tag value", key, value, MAX_TAG_VAL_LENGTH)


def validate_experiment_tag(key: str, value: object) -> None:
    """Key rules and a value of at most 20,000 characters (MLflow 3's experiment tag limit)."""
    validate_key("Tag", key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Tag '{key}' must have a string value, got {type(value).__name__}")
    validate_length("Tag value", key, value, MAX_EXPERIMENT_TAG_VAL_LENGTH)


def validate_registry_tag(key: object, value: object) -> None:
    """A registered-model, model-version or logged-model tag: key ≤ 250, value ≤ 100,000 characters.

    A ``value`` of ``None`` checks the key alone (as deleting a tag does). A prompt's
    template is the ``mlflow.prompt.text`` model-version tag, so it has the same limit.

    Example::

        validate_registry_tag("mlflow.prompt.text", "x" * 100_000)   # fine
        validate_registry_tag("note", "x" * 100_001)                 # INVALID_PARAMETER_VALUE
    """
    if not isinstance(key, str) or not key:
        raise invalid("Missing value for required parameter 'key'.")
    if len(key) > MAX_MODEL_REGISTRY_TAG_KEY_LENGTH:
        raise too_long(f"Tag key '{key[:40]}...'", len(key), MAX_MODEL_REGISTRY_TAG_KEY_LENGTH)
    validate_key("Tag", key)  # MLflow's character and path rules apply to registry tag keys too
    if value is None:
        return
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH:
        what = f"Prompt text (tag '{key}')" if key == PROMPT_TEXT_TAG_KEY else f"Tag value for key '{key}'"
        raise too_long(what, len(text), MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)


def validate_registered_model_name_length(name: str) -> None:
    """A registered model's name has at most 256 characters (the width of MLflow's column)."""
    if len(name) > MAX_REGISTERED_MODEL_NAME_LENGTH:
        raise too_long(f"Model name '{name[:40]}...'", len(name), MAX_REGISTERED_MODEL_NAME_LENGTH)


def validate_alias_length(alias: str) -> None:
    """A registered model alias has at most 255 characters."""
    if len(alias) > MAX_REGISTERED_MODEL_ALIAS_LENGTH:
        raise too_long(
            f"Registered model alias name '{alias[:40]}...'", len(alias), MAX_REGISTERED_MODEL_ALIAS_LENGTH
        )


def validate_experiment_name(name: object) -> str:
    """A non-empty string of at most 500 characters."""
    if name is None or name == "":
        raise invalid(f"Invalid experiment name: '{name if name is not None else ''}'")
    if not isinstance(name, str):
        raise invalid(f"Invalid experiment name: {name!r}. Expects a string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise too_long("Experiment name", len(name), MAX_EXPERIMENT_NAME_LENGTH)
    return name


def validate_artifact_location(location: str | None) -> None:
    """``runs:/`` URIs cannot be an experiment's home; at most 2,048 characters (MLflow's default)."""
    if location is None:
        return
    if location.startswith("runs:"):
        raise invalid(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")
    if len(location) > MAX_ARTIFACT_LOCATION_LENGTH:
        raise too_long("Artifact location", len(location), MAX_ARTIFACT_LOCATION_LENGTH)


def validate_run_name(name: str | None) -> None:
    """A run name is a string of at most 250 characters."""
    if name is None:
        return
    if not isinstance(name, str):
        raise invalid(f"Invalid run name: {name!r}. Expects a string.")
    validate_length("Run name", "mlflow.runName", name, MAX_RUN_NAME_LENGTH)


def validate_run_id(run_id: object) -> str:
    """Alphanumerics, ``_`` and ``-``, starting with an alphanumeric, ≤ 256 chars."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise invalid(f"Invalid run ID: '{run_id}'")
    return run_id


def validate_experiment_id(experiment_id: object) -> str:
    """Experiment ids are strings of digits (ints are accepted and turned into strings)."""
    text = str(experiment_id) if _is_int(experiment_id) else experiment_id
    if not isinstance(text, str) or not text.isdigit() or len(text) > 18:
        raise invalid(f"Invalid experiment ID: '{experiment_id}'")
    return text


def _batch_limit(kind: str, limit: int, count: int) -> None:
    if count > limit:
        raise invalid(
            f"A batch logging request can contain at most {limit} {kind}. Got {count} {kind}. "
            f"Please split up {kind} across multiple requests and try again."
        )


def validate_batch(metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
    """Counts (≤ 1000 metrics, ≤ 100 params, ≤ 100 tags, ≤ 1000 in all), then every item."""
    _batch_limit("metrics", MAX_METRICS_PER_BATCH, len(metrics))
    _batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(params))
    _batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(tags))
    _batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, len(metrics) + len(params) + len(tags))
    good = _good_keys
    for metric in metrics:
        # validate_metric's own fast path, inline: a batch holds up to 1,000 metrics.
        ts, step = metric.timestamp, metric.step
        if (
            type(metric.value) is float
            and type(ts) is int
            and type(step) is int
            and 0 <= ts <= MAX_INT64
            and -MAX_INT64 <= step <= MAX_INT64
            and type(metric.key) is str
            and metric.key in good
        ):
            continue
        validate_metric(metric)
    seen: set[str] = set()
    dupes: list[str] = []
    for param in params:
        validate_param(param.key, param.value)
        if param.key in seen:
            dupes.append(param.key)
        seen.add(param.key)
    if dupes:
        raise invalid(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request contains "
            "only one param value per param key."
        )
    for tag in tags:
        validate_tag(tag.key, tag.value)


def validate_dataset_inputs(datasets: Sequence[DatasetInput]) -> None:
    """Dataset name, digest, source, schema and profile sizes, and input tag sizes."""
    _batch_limit("datasets", MAX_DATASETS_PER_BATCH, len(datasets))
    for item in datasets:
        ds = item.dataset
        if not ds.name:
            raise invalid("A dataset must have a name")
        if not ds.digest:
            raise invalid(f"Dataset '{ds.name}' must have a digest")
        validate_length("Dataset name", ds.name, ds.name, MAX_DATASET_NAME_SIZE)
        validate_length("Dataset digest", ds.name, ds.digest, MAX_DATASET_DIGEST_SIZE)
        validate_length("Dataset source type", ds.name, ds.source_type, MAX_DATASET_SOURCE_TYPE_SIZE)
        validate_length("Dataset source", ds.name, ds.source, MAX_DATASET_SOURCE_SIZE)
        validate_length("Dataset schema", ds.name, ds.schema, MAX_DATASET_SCHEMA_SIZE)
        validate_length("Dataset profile", ds.name, ds.profile, MAX_DATASET_PROFILE_SIZE)
        for tag in item.tags:
            if not tag.key:
                raise invalid(f"Input tags of dataset '{ds.name}' must have a key")
            validate_length("Input tag key", tag.key, tag.key, MAX_INPUT_TAG_KEY_SIZE)
            validate_length("Input tag value", tag.key, tag.value, MAX_INPUT_TAG_VALUE_SIZE)
