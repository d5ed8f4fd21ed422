"""MLflow's limits and key rules, in one place (values follow MLflow 3.x).

Every check raises ``INVALID_PARAMETER_VALUE`` with a message that names the
offending key and the limit, so a user knows what to fix. The stores call
these before touching the database, so a rejected request writes nothing.

Example::

    validate_param("lr", "0.01")            # fine
    validate_param("a" * 300, "x")          # MltrailException: Param key ... limit of 250
"""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Sequence

from mltrail.entities import DatasetInput, Metric, Param, RunTag
from mltrail.exceptions import invalid

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
# MLflow says 500, but its (and our) ``experiments.name`` column holds 256: reject cleanly
# instead of letting PostgreSQL/MySQL fail on the insert.
MAX_EXPERIMENT_NAME_LENGTH = 256
MAX_USER_ID_LENGTH = 256
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 5000
MAX_RUN_NAME_LENGTH = 250
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASETS_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_ARTIFACT_LOCATION_LENGTH = 1000
MAX_INT64 = 2**63 - 1

_VALID_KEY = re.compile(r"^[/\w.\- ]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_BAD_CHARACTERS = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/)."


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
        raise invalid(
            f"{kind} key '{key[:250]}...' had length {len(key)}, which exceeded length limit of "
            f"{MAX_ENTITY_KEY_LENGTH}"
        )
    if not _VALID_KEY.match(key):
        raise invalid(f"Invalid {kind.lower()} name: '{key}'. {_BAD_CHARACTERS}")
    if _path_not_unique(key):
        raise invalid(
            f"Invalid {kind.lower()} name: '{key}'. Names may be treated as files in certain cases, and must "
            f"not resolve to other names when treated as such. This name would resolve to "
            f"'{posixpath.normpath(key)}'"
        )


def validate_length(what: str, key: str, value: str | None, limit: int) -> None:
    """Reject ``value`` longer than ``limit`` characters, naming ``key`` and the limit."""
    if value is not None and len(value) > limit:
        raise invalid(
            f"{what} for key '{key}' had length {len(value)}, which exceeded length limit of {limit}"
        )


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
    """Key rules and a value of at most 5,000 characters."""
    validate_key("Tag", key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Tag '{key}' must have a string value, got {type(value).__name__}")
    validate_length("Tag value", key, value, MAX_EXPERIMENT_TAG_VAL_LENGTH)


def validate_experiment_name(name: object) -> str:
    """A non-empty string of at most 500 characters."""
    if name is None or name == "":
        raise invalid(f"Invalid experiment name: '{name if name is not None else ''}'")
    if not isinstance(name, str):
        raise invalid(f"Invalid experiment name: {name!r}. Expects a string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise invalid(
            f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )
    return name


def validate_artifact_location(location: str | None) -> None:
    """``runs:/`` URIs cannot be an experiment's home; long URIs do not fit the column."""
    if location is None:
        return
    if location.startswith("runs:"):
        raise invalid(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")
    if len(location) > MAX_ARTIFACT_LOCATION_LENGTH:
        raise invalid(
            f"Artifact location had length {len(location)}, which exceeded length limit of "
            f"{MAX_ARTIFACT_LOCATION_LENGTH}"
        )


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
    for metric in metrics:
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
        validate_length("Dataset source type", ds.name, ds.source_type, 36)
        validate_length("Dataset source", ds.name, ds.source, MAX_DATASET_SOURCE_SIZE)
        validate_length("Dataset schema", ds.name, ds.schema, MAX_DATASET_SCHEMA_SIZE)
        validate_length("Dataset profile", ds.name, ds.profile, MAX_DATASET_PROFILE_SIZE)
        for tag in item.tags:
            if not tag.key:
                raise invalid(f"Input tags of dataset '{ds.name}' must have a key")
            validate_length("Input tag key", tag.key, tag.key, MAX_INPUT_TAG_KEY_SIZE)
            validate_length("Input tag value", tag.key, tag.value, MAX_INPUT_TAG_VALUE_SIZE)
