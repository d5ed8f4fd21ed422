"""MLflow's model helpers under ``mltrail.models``: info, signature and requirements of a logged model.

Example::

    info = mltrail.models.get_model_info("models:/m-…")
    mltrail.models.set_signature("runs:/<run_id>/model", infer_signature(df, preds))
    mltrail.models.update_model_requirements("models:/m-…", "add", ["scikit-learn==1.5.0"])
    body = mltrail.models.convert_input_example_to_serving_input({"prompt": ["hi"]})
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal, Union

import mltrail
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.models.download import download_model
from mltrail.models.input_example import SERVING_FILE, save_input_example
from mltrail.models.model import MLMODEL_FILE_NAME, Model
from mltrail.models.model_info import ModelInfo
from mltrail.models.requirements import read_requirements
from mltrail.models.signature import ModelSignature, Schema
from mltrail.pyfunc import load_model
from mltrail.pyfunc.enforce import enforce_schema

# The input example types MLflow names ``ModelInputExample`` (a typing alias, for annotations).
ModelInputExample = Union["pd.DataFrame", "np.ndarray", dict, list, str, bytes, tuple]  # noqa: F821


def _writable_location(model_uri: str, what: str) -> str:
    """The artifact URI of a model's files, for a path, ``runs:/`` or ``models:/<model_id>`` URI."""
    from mltrail.models.uri import resolve_model_uri

    if model_uri.startswith("models:/") and not model_uri[len("models:/") :].startswith("m-"):
        raise invalid(
            f"Failed to set {what} on {model_uri!r}. Model URIs with the `models:/<name>/<version>` scheme "
            "are not supported."
        )
    return resolve_model_uri(model_uri)


def _download(uri: str, name: str, dst: str) -> Path:
    from mltrail.artifacts import download_artifacts

    try:
        return Path(download_artifacts(artifact_uri=f"{uri.rstrip('/')}/{name}", dst_path=dst))
    except MltrailException as err:
        raise MltrailException(
            f'Failed to download an "{name}" model file from "{uri}"', error_code=RESOURCE_DOES_NOT_EXIST
        ) from err


def _upload(local: Path, uri: str) -> None:
    from mltrail.artifacts import get_artifact_repository

    get_artifact_repository(uri).log_artifact(str(local))


def get_model_info(model_uri: str) -> ModelInfo:
    """The :class:`ModelInfo` of any model URI (path, ``runs:/``, ``models:/``), LoggedModel fields included.

    Example::

        mltrail.models.get_model_info("models:/MyLLMApp/1").signature
    """
    from mltrail.models.uri import resolve_model_uri

    with tempfile.TemporaryDirectory(prefix="mltrail-info-") as tmp:
        meta = Model.load(_download(resolve_model_uri(model_uri), MLMODEL_FILE_NAME, tmp))
    logged = None
    if meta.model_id:
        try:
            logged = mltrail.get_logged_model(meta.model_id)
        except MltrailException:  # a model copied from another server: its MLmodel still answers
            logged = None
    return meta.get_model_info(logged)


def set_signature(model_uri: str, signature: ModelSignature) -> None:
    """Replace the signature in a logged model's MLmodel file (not for registry ``models:/Name/1`` URIs)."""
    if not isinstance(signature, ModelSignature):
        raise invalid("The signature argument must be a ModelSignature object")
    location = _writable_location(model_uri, "signature")
    with tempfile.TemporaryDirectory(prefix="mltrail-sig-") as tmp:
        path = _download(location, MLMODEL_FILE_NAME, tmp)
        meta = Model.load(path)
        meta.signature = signature
        meta.save(path)
        _upload(path, location)


def update_model_requirements(
    model_uri: str, operation: Literal["add", "remove"], requirement_list: list[str]
) -> None:
    """Add or remove pip requirements in a logged model's ``requirements.txt`` and ``conda.yaml``."""
    from packaging.requirements import InvalidRequirement, Requirement

    if operation not in ("add", "remove"):
        raise invalid(f"Invalid operation {operation!r}: use 'add' or 'remove'")
    parsed: dict[str, Requirement] = {}
    bad = []
    for text in requirement_list:
        try:
            parsed[Requirement(text).name.lower()] = Requirement(text)
        except InvalidRequirement:
            bad.append(text)
    if bad:
        raise invalid(f"Invalid requirements: {bad}")
    location = _writable_location(model_uri, "requirements")
    with tempfile.TemporaryDirectory(prefix="mltrail-reqs-") as tmp:
        req_path = _download(location, "requirements.txt", tmp)
        lines = [ln.strip() for ln in req_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        kept = []
        for line in lines:
            try:
                name = Requirement(line).name.lower()
            except InvalidRequirement:
                kept.append(line)
                continue
            if name not in parsed:
                kept.append(line)
        if operation == "add":
            kept += [str(r) for r in parsed.values()]
        req_path.write_text("\n".join(kept) + "\n", encoding="utf-8")
        _upload(req_path, location)
        try:
            conda_path = _download(location, "conda.yaml", tmp)
        except MltrailException:
            return
        _update_conda(conda_path, kept)
        _upload(conda_path, location)


def _update_conda(path: Path, requirements: list[str]) -> None:
    import yaml

    env = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict) and "pip" in dep:
            dep["pip"] = list(requirements)
            break
    else:
        env.setdefault("dependencies", []).append({"pip": list(requirements)})
    path.write_text(yaml.safe_dump(env, default_flow_style=False, sort_keys=False), encoding="utf-8")


def infer_pip_requirements(model_uri: str, flavor: str, fallback: list[str] | None = None) -> list[str]:
    """The pip requirements of a saved model: its ``requirements.txt``, else ``fallback``."""
    try:
        return read_requirements(download_model(model_uri))
    except MltrailException:
        if fallback is not None:
            return list(fallback)
        raise


def convert_input_example_to_serving_input(input_example: Any) -> str | None:
    """The JSON body ``/invocations`` accepts for ``input_example`` (what ``serving_input_example.json`` holds)."""
    if input_example is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mltrail-example-") as tmp:
        save_input_example(Path(tmp), input_example)
        return (Path(tmp) / SERVING_FILE).read_text(encoding="utf-8")


def validate_schema(data: Any, expected_schema: Schema) -> None:
    """Raise ``INVALID_PARAMETER_VALUE`` if ``data`` does not match ``expected_schema``."""
    enforce_schema(data, expected_schema)


def validate_serving_input(model_uri: str, serving_input: str | dict[str, Any]) -> Any:
    """Score a serving body with the model exactly as ``/invocations`` would; return the predictions.

    Example::

        validate_serving_input(info.model_uri, '{"inputs": ["hello"]}')
    """
    import importlib

    # The scoring server's body parser sits in the serving layer above this one; like the
    # evaluation names in ``mltrail.models.__init__``, it is looked up by name on use.
    parse = importlib.import_module("mltrail.serving.parse")
    body = json.loads(serving_input) if isinstance(serving_input, str) else serving_input
    model = load_model(model_uri)
    schema = model.metadata.get_input_schema()
    column_schema = schema is None or not schema.is_tensor_spec()
    try:
        data, params = parse.parse_json_body(body, column_schema)
    except parse.ServingError as err:
        raise invalid(str(err)) from None
    return model.predict(data, params=params) if params else model.predict(data)
