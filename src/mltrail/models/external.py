"""External models: LoggedModels whose code and weights live outside mltrail, and the active model by name.

``create_external_model`` creates a READY LoggedModel with an ``MLmodel`` file that
marks it external (so it can be registered like any model); ``set_active_model(name=…)``
creates one when no model of that name exists yet. Both write that file with
:class:`~mltrail.models.model.Model`, which is why they live in the models layer and
the rest of MLflow 3's fluent LoggedModel functions (:mod:`mltrail.tracking._fluent_models`)
stay in ``tracking``.

Example::

    import mltrail as mlflow

    with mlflow.set_active_model(name="agent-v2") as model:
        answer("hi")  # its trace has metadata mlflow.modelId = model.model_id
    external = mlflow.create_external_model(name="agent", model_type="agent")
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from mltrail import _exported_by
from mltrail.entities.logged_model import LoggedModel, LoggedModelStatus
from mltrail.exceptions import invalid
from mltrail.models.model import MLMODEL_FILE_NAME, Model
from mltrail.models.signature import infer_signature
from mltrail.store.logged_models import validate_logged_model_name
from mltrail.tracking._fluent_models import (
    ActiveModel,
    create_pending_model,
    get_logged_model,
    note_logged_model,
    search_logged_models,
)

#: The tag MLflow puts on models whose files live outside MLflow (``create_external_model``).
MLFLOW_MODEL_IS_EXTERNAL = "mlflow.model.isExternal"

# The public names are listed once, in mltrail/__init__.py's lazy table.
__all__ = _exported_by(__name__)

_log = logging.getLogger(__name__)


def set_active_model(*, name: str | None = None, model_id: str | None = None) -> ActiveModel:
    """Make a LoggedModel the active model of this thread: new traces link to it.

    ``name`` finds the newest model of that name in the current experiment, or
    creates one (``create_external_model``); ``model_id`` must name an existing
    model (and match ``name`` when both are given). Usable as a context manager.

    Example::

        with mlflow.set_active_model(name="agent-v2"):
            answer("hi")  # its trace has metadata mlflow.modelId
    """
    if name is None and model_id is None:
        raise invalid("Either name or model_id must be provided")
    if model_id is not None:
        model = get_logged_model(model_id)
        if name is not None and model.name != name:
            raise invalid(
                f"LoggedModel with model_id {model_id!r} has name {model.name!r}, which does not match "
                f"the provided name {name!r}."
            )
    else:
        validate_logged_model_name(name)  # also keeps the name safe inside the filter below
        found = search_logged_models(filter_string=f"name = '{name}'", max_results=2, output_format="list")
        if len(found) > 1:
            _log.warning(
                "Multiple LoggedModels found with name %r, setting the latest one as active model.", name
            )
        if found:
            model = found[0]
        else:
            _log.info("LoggedModel with name %r does not exist, creating one...", name)
            model = create_external_model(name=name)
    return ActiveModel(model, set_by_user=True)


def create_external_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A READY LoggedModel whose code and weights live outside mltrail (an agent, an app, an API model).

    It is tagged ``mlflow.model.isExternal`` and gets an ``MLmodel`` file
    marking it external, so it can be registered like any model.

    Example::

        model = mlflow.create_external_model(name="agent", model_type="agent")
    """
    client, model = create_pending_model(
        name,
        source_run_id,
        {**(tags or {}), MLFLOW_MODEL_IS_EXTERNAL: "true"},
        params,
        model_type,
        experiment_id,
    )
    spec = Model(
        artifact_path=model.artifact_location,
        model_uuid=model.model_id,
        model_id=model.model_id,
        run_id=model.source_run_id,
        # A placeholder signature, as MLflow writes, so registries that need one accept the model.
        signature=infer_signature(True, True),
        metadata={MLFLOW_MODEL_IS_EXTERNAL: True},
    )
    with tempfile.TemporaryDirectory(prefix="mltrail-external-") as tmp:
        spec.save(Path(tmp) / MLMODEL_FILE_NAME)
        client.log_model_artifacts(model.model_id, tmp)
    model = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    note_logged_model(model.model_id)
    return model
