"""``ModelInfo``: what ``log_model`` returns, with every field MLflow 3 has.

The MLmodel fields (``flavors``, ``signature``, ``utc_time_created`` …) come from
the saved model; ``model_id``, ``name``, ``params``, ``metrics``, ``tags`` and
``creation_timestamp`` from its LoggedModel, as in ``mlflow.models.model.ModelInfo``.

Example::

    info = mltrail.pyfunc.log_model(name="agent", python_model=Agent())
    info.model_uri        # "models:/m-…"
    info.params           # the run's params, copied onto the model
    info.metrics          # the run's metrics at the model's step
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mltrail.entities import Metric
    from mltrail.entities.logged_model import LoggedModel


class ModelInfo:
    """The metadata of a logged model (MLflow's ``ModelInfo``)."""

    def __init__(
        self,
        artifact_path: str,
        flavors: dict[str, Any],
        model_uri: str,
        model_uuid: str,
        run_id: str | None,
        saved_input_example_info: dict[str, Any] | None,
        signature: Any,
        utc_time_created: str,
        mlflow_version: str | None,
        metadata: dict[str, Any] | None = None,
        registered_model_version: int | None = None,
        env_vars: list[str] | None = None,
        prompts: list[str] | None = None,
        logged_model: LoggedModel | None = None,
    ) -> None:
        self._artifact_path = artifact_path
        self._flavors = flavors
        self._model_uri = model_uri
        self._model_uuid = model_uuid
        self._run_id = run_id
        self._saved_input_example_info = saved_input_example_info
        self._signature = signature
        self._utc_time_created = utc_time_created
        self._mlflow_version = mlflow_version
        self._metadata = metadata
        self._registered_model_version = registered_model_version
        self._env_vars = env_vars
        self._prompts = prompts
        self._logged_model = logged_model

    @classmethod
    def from_model(cls, model: Any, logged_model: LoggedModel | None = None) -> ModelInfo:
        """The info of an MLmodel manifest (``mltrail.models.Model``) and its LoggedModel."""
        model_id = logged_model.model_id if logged_model is not None else model.model_id
        return cls(
            artifact_path=model.artifact_path,
            flavors=model.flavors,
            model_uri=f"models:/{model_id}" if model_id else f"runs:/{model.run_id}/{model.artifact_path}",
            model_uuid=model.model_uuid,
            run_id=model.run_id,
            saved_input_example_info=model.saved_input_example_info,
            signature=model.signature,
            utc_time_created=model.utc_time_created,
            mlflow_version=model.mlflow_version,
            metadata=model.metadata,
            env_vars=getattr(model, "env_vars", None),
            prompts=model._extra.get("prompts") if hasattr(model, "_extra") else None,
            logged_model=logged_model,
        )

    @property
    def artifact_path(self) -> str:
        """Where the model's files are (the LoggedModel's artifact location in MLflow 3)."""
        return self._artifact_path

    @property
    def flavors(self) -> dict[str, Any]:
        """Flavor name -> its configuration in the MLmodel file."""
        return self._flavors

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``: loads the model with any ``load_model``."""
        return self._model_uri

    @property
    def model_uuid(self) -> str:
        return self._model_uuid

    @property
    def run_id(self) -> str | None:
        """The run the model was logged in (``None`` when logged outside a run)."""
        return self._run_id

    @property
    def saved_input_example_info(self) -> dict[str, Any] | None:
        return self._saved_input_example_info

    @property
    def signature(self) -> Any:
        """The :class:`~mltrail.models.ModelSignature`, or ``None``."""
        return self._signature

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self._signature.to_dict() if self._signature is not None else None

    @property
    def utc_time_created(self) -> str:
        return self._utc_time_created

    @property
    def mlflow_version(self) -> str | None:
        return self._mlflow_version

    @property
    def env_vars(self) -> list[str] | None:
        return self._env_vars

    @env_vars.setter
    def env_vars(self, value: list[str] | None) -> None:
        if value and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise TypeError(f"env_vars must be a list of strings. Got: {value}")
        self._env_vars = value

    @property
    def metadata(self) -> dict[str, Any] | None:
        """User metadata saved with the model."""
        return self._metadata

    @property
    def prompts(self) -> list[str] | None:
        return self._prompts

    @property
    def registered_model_version(self) -> int | None:
        """The version created by ``registered_model_name``, if any."""
        return self._registered_model_version

    @registered_model_version.setter
    def registered_model_version(self, value: int | None) -> None:
        self._registered_model_version = value

    @property
    def model_id(self) -> str | None:
        """The LoggedModel's id."""
        return self._logged_model.model_id if self._logged_model is not None else None

    @property
    def metrics(self) -> list[Metric] | None:
        """The LoggedModel's metrics (the run's metrics at the model's step are copied onto it)."""
        return self._logged_model.metrics if self._logged_model is not None else None

    @property
    def params(self) -> dict[str, str] | None:
        """The LoggedModel's params (the run's params when logged inside a run)."""
        return self._logged_model.params if self._logged_model is not None else None

    @property
    def tags(self) -> dict[str, str] | None:
        return self._logged_model.tags if self._logged_model is not None else None

    @property
    def creation_timestamp(self) -> int | None:
        return self._logged_model.creation_timestamp if self._logged_model is not None else None

    @property
    def name(self) -> str | None:
        """The LoggedModel's name (``log_model(name=...)``)."""
        return self._logged_model.name if self._logged_model is not None else None

    def __repr__(self) -> str:
        return f"ModelInfo(model_uri={self._model_uri!r}, name={self.name!r}, run_id={self._run_id!r})"
