"""The ``MLmodel`` file: a model directory's manifest, in MLflow's exact layout.

A model is a directory holding ``MLmodel`` (YAML: flavors, signature, input
example info, run id, model id, creation time, versions), the flavor's files,
``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``. mlflow reads what
mltrail writes and the other way round, so field names and formats follow
MLflow's ``mlflow.models.Model`` to the letter.

Example::

    m = Model.load("path/to/model")
    m.flavors["python_function"]["loader_module"]
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from pathlib import Path
from typing import Any

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.models.input_example import read_input_example
from mltrail.models.model_info import ModelInfo
from mltrail.models.signature import ModelSignature

MLMODEL_FILE_NAME = "MLmodel"

# The MLflow release whose layout we write; mlflow reads ``mlflow_version`` to
# pick code paths, so it must name a real mlflow version, not ours.
COMPAT_MLFLOW_VERSION = "3.17.2"


def _yaml():
    import yaml

    return yaml


class Model:
    """An MLmodel manifest. Attribute names follow ``mlflow.models.Model``."""

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        mlflow_version: str | None = COMPAT_MLFLOW_VERSION,
        metadata: dict[str, Any] | None = None,
        model_size_bytes: int | None = None,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or str(_dt.datetime.now(_dt.UTC).replace(tzinfo=None))
        self.flavors = flavors if flavors is not None else {}
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.mlflow_version = mlflow_version
        self.metadata = metadata
        self.model_size_bytes = model_size_bytes
        self.model_id = model_id
        # Unknown fields (newer mlflow) are kept and written back unchanged.
        self._extra = dict(kwargs)

    def add_flavor(self, name: str, **params: Any) -> Model:
        """Add (or replace) a flavor's configuration."""
        self.flavors[name] = params
        return self

    def get_input_schema(self):
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self):
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self):
        return self.signature.params if self.signature is not None else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "artifact_path": self.artifact_path,
            "flavors": self.flavors,
            "is_signature_from_type_hint": bool(
                getattr(self.signature, "_is_signature_from_type_hint", False)
            ),
            "mlflow_version": self.mlflow_version,
            "model_id": self.model_id,
            "model_size_bytes": self.model_size_bytes,
            "model_uuid": self.model_uuid,
            "prompts": None,
            "run_id": self.run_id,
            "type_hint_from_example": bool(getattr(self.signature, "_is_type_hint_from_example", False)),
            "utc_time_created": self.utc_time_created,
        }
        d.update(self._extra)
        if self.artifact_path is None:
            del d["artifact_path"]
        if self.run_id is None:
            del d["run_id"]
        if self.signature is not None:
            d["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            d["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata is not None:
            d["metadata"] = self.metadata
        return d

    def to_yaml(self) -> str:
        return _yaml().safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True)

    def save(self, path: str | os.PathLike) -> None:
        """Write the manifest to ``path`` (the MLmodel file itself)."""
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        d = dict(d)
        sig = d.pop("signature", None)
        signature = ModelSignature.from_dict(sig) if sig else None
        from_hint = bool(d.pop("is_signature_from_type_hint", False))
        from_example = bool(d.pop("type_hint_from_example", False))
        if signature is not None:
            signature._is_signature_from_type_hint = from_hint
            signature._is_type_hint_from_example = from_example
        return cls(signature=signature, **d)

    def _is_signature_from_type_hint(self) -> bool:
        return bool(getattr(self.signature, "_is_signature_from_type_hint", False))

    def _is_type_hint_from_example(self) -> bool:
        return bool(getattr(self.signature, "_is_type_hint_from_example", False))

    def get_model_info(self, logged_model: Any = None) -> Any:
        """The :class:`~mltrail.models.ModelInfo` of this model (``logged_model`` fills params, metrics, tags)."""
        return ModelInfo.from_model(self, logged_model)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Model:
        """Read an MLmodel file, or the MLmodel inside a model directory (local path)."""
        p = Path(path)
        if p.is_dir():
            p = p / MLMODEL_FILE_NAME
        if not p.is_file():
            raise MltrailException(
                f"Could not find an '{MLMODEL_FILE_NAME}' file in '{path}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        data = _yaml().safe_load(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise invalid(f"'{p}' is not a valid MLmodel file")
        return cls.from_dict(data)

    def load_input_example(self, path: str | os.PathLike) -> Any:
        """The saved input example of the model in directory ``path`` (or ``None``)."""
        return read_input_example(Path(path), self.saved_input_example_info)


def get_flavor_configuration(model_path: str | os.PathLike, flavor_name: str) -> dict[str, Any]:
    """The configuration of one flavor, with a clear error if the model lacks it."""
    model = Model.load(model_path)
    if flavor_name not in model.flavors:
        raise MltrailException(
            f"Model does not have the '{flavor_name}' flavor (it has: {', '.join(model.flavors) or 'none'})",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return model.flavors[flavor_name]


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
