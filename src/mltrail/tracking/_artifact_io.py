"""Turning in-memory objects (text, dicts, tables, figures, images) into run artifacts.

Each helper writes the object to a file named like the artifact inside a
private temp directory and uploads it with the client's ``log_artifact``, so
every artifact repository (local, S3, HTTP proxy) works and the repository's
one path check guards the destination. pandas, numpy, PIL, matplotlib and
plotly are imported only by the call that needs them.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrail.exceptions import MltrailException, invalid, not_found

if TYPE_CHECKING:
    from mltrail.tracking.client import MlflowClient

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
_IMAGE_KEY = re.compile(r"^[A-Za-z0-9_\-./ ]+$")


def _split_artifact_file(artifact_file: str) -> tuple[str | None, str]:
    """``(artifact_dir or None, file name)``; the repository validates the directory."""
    if not isinstance(artifact_file, str) or not artifact_file.strip():
        raise invalid("artifact_file must be a non-empty relative path such as 'outputs/result.json'")
    if artifact_file.endswith("/"):
        raise invalid(f"Invalid artifact file path {artifact_file!r}: it names a directory, not a file")
    norm = posixpath.normpath(artifact_file)
    name = posixpath.basename(norm)
    if name in ("", ".", ".."):
        raise invalid(f"Invalid artifact file path {artifact_file!r}: it must name a file")
    directory = posixpath.dirname(norm)
    return (directory or None), name


@contextmanager
def artifact_tmp_path(client: MlflowClient, run_id: str, artifact_file: str) -> Iterator[str]:
    """Yield a temp file path; whatever the caller writes there is uploaded as ``artifact_file``."""
    directory, name = _split_artifact_file(artifact_file)
    with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
        path = os.path.join(tmp, name)
        yield path
        client.log_artifact(run_id, path, directory)


def log_bytes(client: MlflowClient, run_id: str, data: bytes, artifact_file: str) -> None:
    """Write bytes as an artifact: straight through the repository when it can, else via a temp file."""
    directory, name = _split_artifact_file(artifact_file)
    try:
        repo = client._artifact_repo(run_id)
        if hasattr(repo, "log_bytes"):
            repo.log_bytes(data, artifact_file)
            return
    except MltrailException as err:  # the server is away: the offline journal keeps a copy
        guard, uri = client._offline_target(run_id, err)
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            guard.journal_artifacts(run_id, uri, path, directory, err)
        return
    with artifact_tmp_path(client, run_id, artifact_file) as path, open(path, "wb") as f:
        f.write(data)


def log_text(client: MlflowClient, run_id: str, text: str, artifact_file: str) -> None:
    if not isinstance(text, str):
        raise invalid(f"log_text expects a str, got {type(text).__name__}")
    log_bytes(client, run_id, text.encode("utf-8"), artifact_file)


def log_dict(client: MlflowClient, run_id: str, dictionary: Any, artifact_file: str) -> None:
    """JSON (indented) for ``.json``, YAML for ``.yaml``/``.yml``, compact JSON otherwise, like MLflow."""
    ext = os.path.splitext(artifact_file)[1].lower() if isinstance(artifact_file, str) else ""
    try:
        if ext in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False)
        elif ext == ".json":
            text = json.dumps(dictionary, indent=2)
        else:
            text = json.dumps(dictionary)
    except (TypeError, ValueError) as err:
        raise invalid(f"Cannot serialize the dictionary for {artifact_file!r}: {err}") from err
    except Exception as err:  # yaml.representer.RepresenterError and friends
        raise invalid(f"Cannot serialize the dictionary for {artifact_file!r}: {err}") from err
    log_text(client, run_id, text, artifact_file)


# ------------------------------------------------------------------ tables
def _to_dataframe(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError as err:
            raise invalid(f"Cannot build a table from the dictionary: {err}") from err
    if isinstance(data, pd.DataFrame):
        return data
    raise invalid(f"data must be a pandas.DataFrame or a dictionary, got {type(data).__name__}")


def _read_table(path: str) -> Any:
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    return pd.DataFrame(payload.get("data", []), columns=payload.get("columns"))


def log_table(client: MlflowClient, run_id: str, data: Any, artifact_file: str) -> None:
    """Write MLflow's table format (pandas ``orient="split"`` JSON), appending to an existing table."""
    import pandas as pd

    if not isinstance(artifact_file, str) or not artifact_file.endswith(".json"):
        raise invalid(f"Invalid artifact file path {artifact_file!r}: a table must end with '.json'")
    frame = _to_dataframe(data)
    directory, _name = _split_artifact_file(artifact_file)
    norm = posixpath.normpath(artifact_file)
    existing = {f.path for f in client.list_artifacts(run_id, directory)}
    if norm in existing:
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            old = _read_table(client.download_artifacts(run_id, norm, tmp))
        frame = pd.concat([old, frame], ignore_index=True)
    with artifact_tmp_path(client, run_id, artifact_file) as path:
        frame.to_json(path, orient="split", index=False, date_format="iso")
    # The tag lets UIs (and load_table) find table artifacts without listing every run's files.
    tags = client.get_run(run_id).data.tags
    try:
        listed = json.loads(tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    except ValueError:
        listed = []
    entry = {"path": artifact_file, "type": "table"}
    if entry not in listed:
        listed.append(entry)
        client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps(listed))


def load_table(
    client: MlflowClient,
    experiment_id: str,
    artifact_file: str,
    run_ids: list[str] | None = None,
    extra_columns: list[str] | None = None,
) -> Any:
    """Concatenate the table ``artifact_file`` of every matching run of an experiment."""
    import pandas as pd

    pattern = f'"path": "{artifact_file}", "type": "table"'.replace("'", "''")
    filter_string = f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '%{pattern}%'"
    if run_ids:
        quoted = ", ".join("'" + r.replace("'", "''") + "'" for r in run_ids)
        filter_string += f" AND attributes.run_id IN ({quoted})"
    runs = client.search_runs([experiment_id], filter_string, max_results=50000)
    if not runs:
        raise not_found(f"No runs of experiment {experiment_id!r} have the table artifact {artifact_file!r}")
    frames = []
    for run in runs:
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            frame = _read_table(client.download_artifacts(run.info.run_id, artifact_file, tmp))
        row = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "status": run.info.status}
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        for column in extra_columns or []:
            name = f"{column}_" if column in frame.columns else column
            frame[name] = row.get(column)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------- figures
def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def log_figure(
    client: MlflowClient,
    run_id: str,
    figure: Any,
    artifact_file: str,
    save_kwargs: dict[str, Any] | None = None,
) -> None:
    """matplotlib figures go through ``savefig``; plotly ones to HTML or (with kaleido) images."""
    kwargs = dict(save_kwargs or {})
    # Checking the module first avoids importing matplotlib/plotly just to reject a figure.
    kind = _module_of(figure)
    if kind == "matplotlib" and "matplotlib" in sys.modules:
        import matplotlib.figure

        if isinstance(figure, matplotlib.figure.Figure):
            with artifact_tmp_path(client, run_id, artifact_file) as path:
                figure.savefig(path, **kwargs)
            return
    if kind == "plotly" and "plotly" in sys.modules:
        ext = os.path.splitext(artifact_file)[1].lower()
        with artifact_tmp_path(client, run_id, artifact_file) as path:
            if ext == ".html":
                kwargs.setdefault("include_plotlyjs", "cdn")
                kwargs.setdefault("auto_open", False)
                figure.write_html(path, **kwargs)
            elif ext in (".png", ".jpeg", ".jpg", ".webp", ".svg", ".pdf"):
                figure.write_image(path, **kwargs)
            else:
                raise invalid(f"Unsupported file extension for a plotly figure: {ext!r}")
        return
    raise invalid(f"Unsupported figure object type: {type(figure).__module__}.{type(figure).__name__}")


# ------------------------------------------------------------------ images
def _numpy_to_pil(image: Any) -> Any:
    import numpy as np
    from PIL import Image

    kinds = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating"}
    if image.dtype.kind not in kinds:
        raise invalid(f"Invalid image array data type {image.dtype}: must be one of {list(kinds.values())}")
    if image.ndim not in (2, 3):
        raise invalid(f"An image must be a 2D or 3D array, got shape {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise invalid(f"Invalid channel count {image.shape[2]}: must be 1, 3 or 4")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    is_int = np.issubdtype(image.dtype, np.integer)
    high = 255 if is_int else 1
    if image.size and (image.min() < 0 or image.max() > high):
        span = "[0, 255] for integers" if is_int else "[0.0, 1.0] for floats"
        raise invalid(
            f"Pixel values out of range {span}: found minimum {image.min()} and maximum {image.max()}"
        )
    if not is_int:
        image = image * 255
    return Image.fromarray(image.astype(np.uint8))


def _to_pil(image: Any) -> Any:
    kind = _module_of(image)
    if kind == "numpy":
        return _numpy_to_pil(image)
    if kind == "PIL":
        return image
    raise invalid(f"Unsupported image object type {type(image).__name__}: use a numpy array or a PIL image")


def log_image(
    client: MlflowClient,
    run_id: str,
    image: Any,
    artifact_file: str | None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
) -> None:
    """Save an image as ``artifact_file``, or (MLflow 2.x step style) under ``images/`` by ``key``."""
    if artifact_file is not None and any(a is not None for a in (key, step, timestamp)):
        raise invalid("artifact_file cannot be combined with key, step or timestamp")
    pil = _to_pil(image)
    if artifact_file is not None:
        with artifact_tmp_path(client, run_id, artifact_file) as path:
            pil.save(path)
        return
    if key is None:
        raise invalid("log_image needs either artifact_file or key")
    if not _IMAGE_KEY.match(key):
        raise invalid(f"Invalid image key {key!r}: use letters, digits, '_', '-', '.', '/' and spaces")
    # One flat file name per image; '%' and '#' (MLflow's separators) fail the artifact path check.
    safe_key = key.replace("/", "~")
    step = step or 0
    timestamp = timestamp or int(time.time() * 1000)
    name = f"images/{safe_key}+step+{step}+timestamp+{timestamp}+{uuid.uuid4().hex}.png"
    with artifact_tmp_path(client, run_id, name) as path:
        pil.save(path)
