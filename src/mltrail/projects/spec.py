"""The ``MLproject`` file: entry points, their typed parameters and command templates.

Format (MLflow's)::

    name: tutorial
    python_env: python_env.yaml        # or conda_env: conda.yaml, or docker_env: {image: ...}
    entry_points:
      main:
        parameters:
          alpha: {type: float, default: 0.5}
          data: path
        command: "python train.py --alpha {alpha} --data {data}"

Parameter types: ``string`` (default), ``float``, ``path`` and ``uri``.
Values substituted into a command are shell-quoted, so a value can never
inject shell syntax. A project without an ``MLproject`` file can still run a
``.py`` or ``.sh`` file as its entry point, with parameters passed as
``--key value``.
"""

from __future__ import annotations

import math
import os
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

PARAM_TYPES = ("string", "float", "path", "uri")
ENV_KEYS = ("python_env", "conda_env", "docker_env")
_SCHEME_CHARS = set(string.ascii_letters + string.digits + "+-.")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: ``type`` is one of ``PARAM_TYPES``; ``default`` ``None`` means required."""

    name: str
    type: str = "string"
    default: Any = None

    def convert(self, value: Any) -> str:
        """The value as substituted into the command, checked against the type."""
        text = str(value)
        if self.type == "float":
            try:
                number = float(text)
            except ValueError:
                raise invalid(f"Parameter {self.name!r} of type float got {text!r}, which is not a number.") from None
            if math.isnan(number):
                raise invalid(f"Parameter {self.name!r} of type float got NaN.")
            return text
        if self.type == "path":
            if _is_uri(text):  # a URI (s3://, http://) is left for the program to fetch
                return text
            # MLflow makes relative paths absolute against the directory `run` was invoked from.
            return os.path.abspath(os.path.expanduser(text))
        if self.type == "uri":
            return text if _is_uri(text) else os.path.abspath(os.path.expanduser(text))
        return text


def _is_uri(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep) and len(scheme) > 1 and set(scheme) <= _SCHEME_CHARS


@dataclass(frozen=True)
class EntryPoint:
    """An entry point: its parameters and a ``command`` template with ``{param}`` placeholders."""

    name: str
    parameters: dict[str, Parameter]
    command: str

    def resolve(self, user_params: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """``(declared, extra)`` parameter values: defaults filled in, types checked, required ones present."""
        missing = [
            name for name, p in self.parameters.items() if p.default is None and user_params.get(name) is None
        ]
        if missing:
            raise invalid(
                f"No value given for missing parameters: {', '.join(repr(m) for m in missing)} "
                f"(entry point {self.name!r}); pass them with -P name=value."
            )
        declared = {
            name: p.convert(user_params[name] if user_params.get(name) is not None else p.default)
            for name, p in self.parameters.items()
        }
        extra = {str(k): str(v) for k, v in user_params.items() if k not in self.parameters}
        return declared, extra

    def command_line(self, declared: dict[str, str], extra: dict[str, str]) -> str:
        """The shell command: placeholders replaced by quoted values, extra parameters appended as ``--key value``."""
        quoted = {k: shlex.quote(v) for k, v in declared.items()}
        try:
            command = string.Formatter().vformat(self.command, (), _Strict(quoted, self.name))
        except (ValueError, IndexError) as err:
            raise invalid(f"Malformed command template of entry point {self.name!r}: {err}") from None
        tail = " ".join(f"--{shlex.quote(k)} {shlex.quote(v)}" for k, v in extra.items())
        return f"{command} {tail}".rstrip()


class _Strict(dict):
    def __init__(self, values: dict[str, str], entry: str) -> None:
        super().__init__(values)
        self._entry = entry

    def __missing__(self, key: str) -> str:
        raise invalid(
            f"The command of entry point {self._entry!r} uses {{{key}}}, which is not a declared parameter."
        )


@dataclass
class Project:
    """A loaded project: its folder, name, entry points and environment spec."""

    directory: Path
    name: str | None = None
    entry_points: dict[str, EntryPoint] = field(default_factory=dict)
    env_type: str | None = None  # "python_env", "conda_env", "docker_env" or None
    env_value: Any = None

    def entry_point(self, name: str) -> EntryPoint:
        """The named entry point, or a ``.py``/``.sh`` file of the project run directly."""
        if name in self.entry_points:
            return self.entry_points[name]
        script = self.directory / name
        if name.endswith((".py", ".sh")) and script.is_file():
            runner = "python" if name.endswith(".py") else os.environ.get("SHELL", "bash")
            return EntryPoint(name, {}, f"{runner} {shlex.quote(name)}")
        known = ", ".join(sorted(self.entry_points)) or "none"
        raise invalid(
            f"Could not find entry point {name!r} in project {self.name or self.directory}: declared entry points "
            f"are {known}, and it is not a .py or .sh file of the project."
        )


def _parameter(entry: str, name: str, spec: Any) -> Parameter:
    if isinstance(spec, str):
        spec = {"type": spec}
    elif spec is None:
        spec = {}
    elif not isinstance(spec, dict):
        raise invalid(f"Parameter {name!r} of entry point {entry!r} must be a type name or a mapping.")
    ptype = str(spec.get("type", "string"))
    if ptype not in PARAM_TYPES:
        raise invalid(
            f"Parameter {name!r} of entry point {entry!r} has unknown type {ptype!r}: use one of {list(PARAM_TYPES)}."
        )
    unknown_keys = set(spec) - {"type", "default"}
    if unknown_keys:
        raise invalid(f"Parameter {name!r} of entry point {entry!r} has unknown keys {sorted(unknown_keys)}.")
    default = spec.get("default")
    param = Parameter(str(name), ptype, None if default is None else str(default))
    if param.default is not None and ptype == "float":
        param.convert(param.default)  # a bad default is an error in the file, reported when it is read
    return param


def load_project(directory: str | os.PathLike[str]) -> Project:
    """Read ``MLproject`` (any capitalisation MLflow accepts) from ``directory``; none means a bare project."""
    import yaml

    folder = Path(directory)
    if not folder.is_dir():
        raise invalid(f"Project directory {str(folder)!r} does not exist or is not a directory.")
    files = [p for p in folder.iterdir() if p.name.lower() == "mlproject" and p.is_file()]
    if not files:
        return Project(folder)
    try:
        spec = yaml.safe_load(files[0].read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise invalid(f"Could not parse {files[0]}: {err}") from None
    if not isinstance(spec, dict):
        raise invalid(f"{files[0]} must be a YAML mapping.")
    envs = [k for k in ENV_KEYS if k in spec]
    if len(envs) > 1:
        raise invalid(f"{files[0]} declares {envs}: a project can have only one of {list(ENV_KEYS)}.")
    entries: dict[str, EntryPoint] = {}
    raw_entries = spec.get("entry_points") or {}
    if not isinstance(raw_entries, dict):
        raise invalid(f"entry_points in {files[0]} must be a mapping of name -> entry point.")
    for name, raw in raw_entries.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("command"), str):
            raise invalid(f"Entry point {name!r} in {files[0]} needs a 'command' string.")
        params = raw.get("parameters") or {}
        if not isinstance(params, dict):
            raise invalid(f"parameters of entry point {name!r} must be a mapping.")
        entries[str(name)] = EntryPoint(
            str(name), {str(k): _parameter(str(name), str(k), v) for k, v in params.items()}, raw["command"]
        )
    env_type = envs[0] if envs else None
    return Project(folder, spec.get("name"), entries, env_type, spec.get(env_type) if env_type else None)
