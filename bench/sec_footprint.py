"""Section "footprint": disk size of a fresh virtual environment per install.

Each figure is the size of a new venv (pip included) after one ``pip install``:
the client install (``pip install .`` vs ``mlflow-skinny``) and the server
install (``pip install '.[server]'`` vs ``mlflow`` vs ``fasttrackml``, whose
wheel is the Go server binary; installed ``--no-deps`` as its Python helper
pins ``mlflow<3``). Results are cached in ``.bench-venv/footprint.json`` (the peers' by
version, mltrail's by its pyproject.toml) because a fresh ``mlflow`` install
costs minutes of pip; ``--quick`` only reads the cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import BENCH_VENV, NA, ROOT, dir_size
from env import FASTTRACKML_VERSION, MLFLOW_VERSION
from report import Section

CACHE = BENCH_VENV / "footprint.json"

INSTALLS = {
    ("client", "mltrail"): [str(ROOT)],
    ("client", "mlflow"): [f"mlflow-skinny=={MLFLOW_VERSION}"],
    ("server", "mltrail"): [f"{ROOT}[server]"],
    ("server", "mlflow"): [f"mlflow=={MLFLOW_VERSION}"],
    ("server", "fasttrackml"): ["--no-deps", f"fasttrackml=={FASTTRACKML_VERSION}"],
}


def _key(name: str) -> str:
    """Cache key of one install: the peers' by version, mltrail's by its pyproject.toml."""
    h = hashlib.sha256(f"{MLFLOW_VERSION} {FASTTRACKML_VERSION} {sys.version_info[:2]}".encode())
    if name == "mltrail":
        h.update((ROOT / "pyproject.toml").read_bytes())
    return h.hexdigest()[:16]


def venv_size(pip_args: list[str] | None) -> int | NA:
    """Bytes of a fresh venv after ``pip install pip_args`` (None: the empty venv)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    try:
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        if pip_args:
            res = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    *pip_args,
                ],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if res.returncode != 0:
                return NA(f"pip install failed: {res.stderr.strip()[-160:]}")
        return dir_size(venv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(todo: list[tuple[str, str]], cache: dict) -> dict:
    """Measure the ``todo`` installs (two at a time) into ``cache``; returns it."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(venv_size, INSTALLS[k]) for k in todo}
        if "empty" not in cache:
            cache["empty"] = venv_size(None)
        for (kind, name), f in futures.items():
            cache.setdefault("sizes", {})[f"{kind}/{name}"] = {"key": _key(name), "bytes": _enc(f.result())}
    return cache


def _enc(v: int | NA) -> int | dict:
    return v.to_json() if isinstance(v, NA) else v


def run(quick: bool) -> Section:
    sec = Section("footprint", "Install footprint (size of a fresh venv, pip included)")
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    sizes = cache.get("sizes", {})
    todo = [k for k in INSTALLS if sizes.get(f"{k[0]}/{k[1]}", {}).get("key") != _key(k[1])]
    if todo and quick:
        if not sizes:
            sec.na_all("not measured in --quick mode (a full run measures and caches it)")
            return sec
        stale = ", ".join(f"{k}/{n}" for k, n in todo)
        sec.notes.append(
            f"--quick: cached sizes shown; stale or missing (re-measured by a full run): {stale}"
        )
        todo = []
    elif todo:
        cache = measure(todo, cache)
        CACHE.write_text(json.dumps(cache))
    if len(todo) < len(INSTALLS):
        sec.notes.append("sizes of unchanged installs come from the cache in .bench-venv/footprint.json")
    data = {"empty": cache.get("empty", 0), "sizes": {k: v["bytes"] for k, v in cache["sizes"].items()}}
    for kind, label in (("client", "client install"), ("server", "server install")):
        row = sec.row(label, "bytes")
        for name in ("mltrail", "mlflow", "fasttrackml"):
            v = data["sizes"].get(f"{kind}/{name}")
            if (kind, name) not in INSTALLS:
                row.set(name, NA("no client of its own: users install mlflow-skinny"))
            elif v is None:
                row.set(name, NA("not measured yet: run the full bench once"))
            elif isinstance(v, dict):
                row.set(name, NA(v.get("na", "failed")))
            else:
                row.set(name, float(v))
    sec.notes.append(
        f"an empty venv is {data['empty'] / 1e6:.0f} MB of that; client: `pip install .` vs "
        f"`mlflow-skinny=={MLFLOW_VERSION}`; server: `pip install '.[server]'` vs `mlflow=={MLFLOW_VERSION}` "
        f"vs `fasttrackml=={FASTTRACKML_VERSION}` (--no-deps: the wheel is the Go server binary)"
    )
    return sec
