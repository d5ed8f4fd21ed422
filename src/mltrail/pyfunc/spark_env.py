"""``spark_udf(env_manager="uv"|"virtualenv"|"conda")``: score in the model's own environment.

The environment is built by :func:`mltrail.models.envs.prepare_environment` (cached
under ``$MLTRAIL_ENV_ROOT``, the same cache ``mltrail models serve --env-manager``
uses): on the driver when the UDF is made, so a broken environment fails there, and
again (a cache hit on the same machine) by each Python worker. Each Python worker then
starts one scoring process in that environment, as MLflow starts its stdin scoring
server, and keeps it for every later task:

* the child loads the model once and answers one JSON line per request on a pipe
  (``{"columns", "data", "params"}`` in, ``{"predictions"}`` or ``{"error"}`` out);
  its own ``stdout`` goes to ``stderr``, so a model's prints cannot corrupt the pipe;
* the child reads its requests from the worker's pipe, so it exits with the worker
  (end of file on ``stdin``), and its ``stderr`` is forwarded to the worker's log.

Values travel as JSON, like MLflow's scoring protocol: numbers, strings, lists and
objects as they are, timestamps as ISO strings and bytes as base64 (turned back for
the signature's ``datetime`` and ``binary`` columns on the child's side).
"""

from __future__ import annotations

import collections
import functools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from mltrail.exceptions import MltrailException, invalid
from mltrail.models.envs import ENV_ROOT_VAR, env_root, prepare_environment
from mltrail.models.signature import ColSpec, Schema
from mltrail.pyfunc._api import load_model
from mltrail.pyfunc._spark_input import model_input

_CHILD = "from mltrail.pyfunc.spark_env import serve_pipe; serve_pipe()"
_TAIL = 40  # lines of the child's stderr kept for error messages


def build_environment(model_dir: Path, manager: str) -> dict[str, str]:
    """Build (or find) the model's environment on the driver; the variables the workers need to find it."""
    try:
        prepare_environment(model_dir, manager)
    except MltrailException:
        raise
    except Exception as err:
        raise MltrailException(f"Could not build the {manager} environment for spark_udf: {err}") from None
    return {ENV_ROOT_VAR: str(env_root())}


def _enc_hook(obj: Any) -> Any:
    """JSON for the values msgspec does not know: numpy, pandas, pydantic."""
    name = type(obj).__name__
    if type(obj).__module__.startswith("pandas"):
        if name == "DataFrame":
            return obj.to_dict(orient="records")
        if name in ("Series", "Index", "Categorical"):
            return obj.tolist()
        if name == "Timestamp":
            return obj.isoformat()
        if name in ("NAType", "NaTType"):
            return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, bytearray | memoryview):
        return bytes(obj)
    raise TypeError(f"Cannot send a {type(obj).__name__} to the model's environment")


@functools.cache
def _encoder() -> Any:
    import msgspec  # lazy: `import mltrail.pyfunc` does not pay for it

    return msgspec.json.Encoder(enc_hook=_enc_hook)


def _decode(line: bytes) -> Any:
    import msgspec

    return msgspec.json.decode(line)


class EnvScorer:
    """The worker's handle on one scoring process running in the model's environment."""

    def __init__(self, python: str, model_dir: Path, model_config: Any) -> None:
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # the environment's own packages, not the Spark worker's
        env.pop("PYTHONHOME", None)
        self._proc = subprocess.Popen(
            [python, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        threading.Thread(target=self._forward_stderr, daemon=True, name="mltrail-env-scorer-log").start()
        self._lock = threading.Lock()
        self._call({"model_dir": str(model_dir), "model_config": model_config}, "load the model")

    def _forward_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode(errors="replace")
            self._tail.append(line)
            sys.stderr.write("[model env] " + line)

    def alive(self) -> bool:
        return self._proc.poll() is None

    def _call(self, message: dict[str, Any], what: str) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(_encoder().encode(message) + b"\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = b""
        if not line:
            self._proc.wait(timeout=10)
            tail = "".join(self._tail).strip()
            raise MltrailException(
                f"The scoring process in the model's environment exited (code {self._proc.returncode}) "
                f"while trying to {what}." + (f" Its last output:\n{tail}" if tail else "")
            )
        answer = _decode(line)
        if "error" in answer:
            raise MltrailException(f"The model failed in its environment: {answer['error']}")
        return answer.get("predictions")

    def predict(self, frame: Any, params: dict[str, Any] | None) -> Any:
        """Predictions for one input DataFrame, as JSON values (lists, dicts, numbers, strings)."""
        request = {
            "columns": [str(c) for c in frame.columns],
            "data": frame.to_numpy(dtype=object).tolist(),
            "params": params,
        }
        with self._lock:
            return self._call(request, "score a batch")

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
                self._proc.wait(timeout=5)
            except Exception:
                self._proc.kill()


# ---------------------------------------------------------------------------------------------- child side
def _restore_types(frame: Any, schema: Schema | None) -> Any:
    """Base64 text back to bytes and ISO text back to timestamps, for the signature's binary/datetime columns."""
    import base64

    import pandas as pd

    if schema is None or schema.is_tensor_spec():
        return frame
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.name not in frame.columns:
            continue
        if spec.type == "binary":
            frame[spec.name] = [base64.b64decode(v) if isinstance(v, str) else v for v in frame[spec.name]]
        elif spec.type == "datetime":
            frame[spec.name] = pd.to_datetime(frame[spec.name])
    return frame


def serve_pipe() -> None:
    """The child's loop: load the model named by the first line, then answer one line per batch."""
    import pandas as pd

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the model prints goes to stderr, not into the answers
    sys.stdout = sys.stderr

    def answer(payload: dict[str, Any]) -> None:
        try:
            out.write(_encoder().encode(payload) + b"\n")
        except TypeError as err:
            out.write(_encoder().encode({"error": f"its predictions cannot be sent back: {err}"}) + b"\n")
        out.flush()

    model = None
    schema = None
    for line in sys.stdin.buffer:
        request = _decode(line)
        try:
            if model is None:
                model = load_model(request["model_dir"], model_config=request.get("model_config"))
                schema = model.metadata.get_input_schema()
                answer({"predictions": None})
                continue
            frame = _restore_types(pd.DataFrame(request["data"], columns=request["columns"]), schema)
            data = model_input(frame, schema)
            params = request.get("params")
            result = model.predict(data, params=params) if params is not None else model.predict(data)
            answer({"predictions": result})
        except Exception as err:
            answer({"error": f"{type(err).__name__}: {err}"})


def scorer_for(manager: str, model_dir: Path, model_config: Any) -> EnvScorer:
    """Start a scoring process in the model's environment (found in the cache the driver filled)."""
    try:
        python = prepare_environment(model_dir, manager)
    except Exception as err:
        raise invalid(f"Could not build the {manager} environment on this Spark worker: {err}") from None
    return EnvScorer(python, model_dir, model_config)
