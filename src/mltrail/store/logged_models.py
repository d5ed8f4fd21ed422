"""The logged-model store interface (MLflow 3's ``LoggedModel`` operations of the tracking store).

Implemented on SQL (:class:`mltrail.store.sql.logged_models.SqlLoggedModelStore`) and
over HTTP (:class:`mltrail.store.rest_logged_models.RestLoggedModelStore`), so the
client does not care where models live.

Filter strings (``search_logged_models``) are clauses joined by ``AND``, each
``<field> <op> <value>``; string values in single quotes:

=========================================================  ==============================
field                                                      ops
=========================================================  ==============================
``name``, ``model_id``, ``model_type``, ``source_run_id``  ``= != LIKE ILIKE IN NOT IN``
``status`` (``READY``, ``PENDING``, ``FAILED``)            ``= != IN NOT IN``
``creation_time`` (``creation_timestamp``),                ``= != < <= > >=``
``last_updated_timestamp``
``tags.<key>``, ``params.<key>``                           ``= != LIKE ILIKE IN NOT IN``
``metrics.<name>`` (any of the model's metric rows)        ``= != < <= > >=``
=========================================================  ==============================

``datasets`` (``[{"dataset_name": ..., "dataset_digest": ...}]``) narrows the
metric rows to those datasets. ``order_by`` is a list of ``{"field_name": ...,
"ascending": bool}`` over the attributes above and ``metrics.<name>`` (the newest
value, optionally per ``dataset_name``/``dataset_digest``); ties (and no
``order_by``) fall back to newest first.

Example::

    store.search_logged_models(["1"], "name = 'agent' AND tags.stage IN ('prod', 'canary')")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mltrail.entities import PagedList
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput
from mltrail.exceptions import invalid
from mltrail.search import ATTRIBUTE, METRIC, PARAM, TAG, Grammar

SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT = 100
SEARCH_LOGGED_MODELS_MAX_RESULTS_THRESHOLD = 1000

# MLflow's attribute names are the table's columns; ``creation_time`` & co. are its aliases.
LOGGED_MODELS = Grammar(
    name="logged models",
    entities=frozenset({METRIC, PARAM, TAG, ATTRIBUTE}),
    string_attributes=frozenset(
        {"name", "model_id", "model_type", "source_run_id", "status", "artifact_location", "status_message"}
    ),
    numeric_attributes=frozenset({"creation_timestamp_ms", "last_updated_timestamp_ms"}),
    order_attributes=frozenset(
        {"name", "model_id", "model_type", "source_run_id", "status"}
        | {"creation_timestamp_ms", "last_updated_timestamp_ms"}
    ),
    attribute_aliases={
        "creation_time": "creation_timestamp_ms",
        "creation_timestamp": "creation_timestamp_ms",
        "last_updated_timestamp": "last_updated_timestamp_ms",
    },
    order_entities=frozenset({ATTRIBUTE}),
)


#: Characters MLflow refuses in a LoggedModel name.
BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")


def validate_logged_model_name(name: Any) -> None:
    """MLflow's rule: ``None`` (a random name) or a non-empty string without ``/ : . % " '``."""
    if name is None:
        return
    if not isinstance(name, str) or not name or any(c in name for c in BAD_NAME_CHARS):
        raise invalid(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"and cannot contain the following characters: {BAD_NAME_CHARS}"
        )


def check_max_results(max_results: Any) -> int:
    """``max_results`` or the default, between 1 and 1,000 (``INVALID_PARAMETER_VALUE`` otherwise)."""
    if max_results is None:
        return SEARCH_LOGGED_MODELS_MAX_RESULTS_DEFAULT
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not (1 <= max_results <= SEARCH_LOGGED_MODELS_MAX_RESULTS_THRESHOLD)
    ):
        raise invalid(
            f"Invalid value {max_results!r} for max_results: it must be an integer between 1 and "
            f"{SEARCH_LOGGED_MODELS_MAX_RESULTS_THRESHOLD}"
        )
    return max_results


def check_datasets(datasets: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """MLflow's ``datasets`` argument: dicts with a ``dataset_name`` and optionally a ``dataset_digest``."""
    out = []
    for d in datasets or []:
        if not isinstance(d, dict) or not d.get("dataset_name"):
            raise invalid(
                f"Invalid dataset {d!r}: each dataset needs a 'dataset_name' (and may have 'dataset_digest')"
            )
        out.append({"dataset_name": d["dataset_name"], "dataset_digest": d.get("dataset_digest")})
    return out


class LoggedModelStore(ABC):
    """What the client needs from wherever logged models live."""

    @abstractmethod
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A new PENDING model in the experiment (a random name when ``name`` is empty)."""

    @abstractmethod
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The model (``RESOURCE_DOES_NOT_EXIST`` if unknown or deleted)."""

    @abstractmethod
    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Set the model's status (READY or FAILED) and return it."""

    @abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        """Set (or overwrite) tags."""

    @abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag (``RESOURCE_DOES_NOT_EXIST`` if the model has no such tag)."""

    @abstractmethod
    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Log params (a re-logged key takes the new value)."""

    @abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """Move the model to the trash (``get`` with ``allow_deleted`` still finds it)."""

    @abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any]] | None = None,
        page_token: str | None = None,
        datasets: Sequence[dict[str, Any]] | None = None,
    ) -> PagedList:
        """A page of live models in the experiments (next page in ``.token``)."""

    @abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models as outputs of a run (both must exist)."""
