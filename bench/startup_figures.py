"""Start-up and idle-memory figures that do not move with the machine's load.

Wall-clock start-up times swing with whatever else a shared machine runs; these
figures do not (or barely):

* ``server``: starts ``mltrail server`` on a new SQLite file, waits for the
  first 200 from ``/health`` (stores open, schema at head), lets it sit idle
  for a second and reads its ``VmRSS``; a second start under ``-X importtime``
  counts the modules it imported by then (and lists them with ``--modules``).
* ``embedded``: a fresh interpreter that imports ``mltrail`` and creates one
  experiment on a new SQLite file: modules imported, peak RSS.
* ``import``: a fresh interpreter that imports ``mltrail``: modules imported.
* ``--callgrind`` adds user-space instruction counts (valgrind's callgrind):
  the server's up to its first 200 from ``/health`` (``callgrind_control -d``
  then), the other two up to their exit.

The code measured is whatever ``PYTHONPATH`` this script runs under::

    PYTHONPATH=$PWD/src python bench/startup_figures.py --callgrind
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_EMBEDDED = """
import resource, sys
import mltrail
mltrail.set_tracking_uri(sys.argv[1])
mltrail.create_experiment("first")
print(len(sys.modules), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_IMPORT = "import sys, mltrail; print(len(sys.modules))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(port: int) -> int:
    """The status of ``GET /health``; 0 when nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def _vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _imported(stderr: str) -> list[str]:
    """Module names from ``-X importtime`` lines (the header line excluded)."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def _env() -> dict[str, str]:
    """This environment without MLflow/mltrail settings, with a fixed hash seed.

    The seed makes instruction counts repeat exactly: with random string hashing they
    move by about 1% from run to run (dict and set layouts change).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env["PYTHONHASHSEED"] = "0"
    return env


def _callgrind_total(out_file: Path) -> float:
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return float(line.split()[1])
    raise RuntimeError(f"no totals in {out_file}")


def _server(root: Path, *, importtime: bool = False, callgrind: bool = False) -> dict:
    """Start a server, wait for ready, measure, stop it."""
    port = _free_port()
    db = root / f"server-{port}.db"
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "mltrail.cli.main", "server",
           "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", f"sqlite:///{db}",
           "--artifacts-destination", str(root / f"artifacts-{port}")]  # fmt: skip
    cg_out = root / f"cg-{port}.out"
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}", "--dump-instr=no", *cmd]
    env = _env()
    log_path = root / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 600
            # Polled slowly: under callgrind every probe's instructions count too.
            while _health(port) != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.5 if callgrind else 0.05)
            result: dict = {}
            if callgrind:
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
                dumps = sorted(root.glob(f"cg-{port}.out.*"), key=lambda p: p.stat().st_mtime_ns)
                result["instructions"] = _callgrind_total(dumps[-1])
            else:
                time.sleep(1.0)
                result["rss_kb"] = _vm_rss_kb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(120)
    if importtime:
        result["modules"] = _imported(log_path.read_text(errors="replace"))
    return result


def _script(code: str, args: list[str], root: Path, *, callgrind: bool = False) -> dict:
    # Counted without -X importtime, whose own bookkeeping would count too.
    cmd = [sys.executable, *([] if callgrind else ["-X", "importtime"]), "-c", code, *args]
    cg_out = root / f"cg-script-{time.monotonic_ns()}.out"
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}", "--dump-instr=no", *cmd]
    done = subprocess.run(cmd, cwd=root, env=_env(), capture_output=True, text=True, check=True)
    fields = done.stdout.split()
    result: dict = {"sys_modules": int(fields[0]), "modules": _imported(done.stderr)}
    if len(fields) > 1:
        result["max_rss_kb"] = int(fields[1])
    if callgrind:
        result["instructions"] = _callgrind_total(cg_out)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rss-rounds", type=int, default=3, help="server starts whose idle RSS is read")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions (slow)")
    ap.add_argument("--modules", type=Path, help="write the imported module lists (JSON) here")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    figures: dict = {}
    rss = [_server(root)["rss_kb"] for _ in range(args.rss_rounds)]
    figures["server idle VmRSS, MB (each start)"] = [round(kb / 1024, 1) for kb in rss]
    modules = {"server": _server(root, importtime=True)["modules"]}
    figures["server modules imported by ready"] = len(modules["server"])
    embedded = _script(_EMBEDDED, [f"sqlite:///{root / 'embedded.db'}"], root)
    modules["embedded"] = embedded["modules"]
    figures["embedded create_experiment: modules imported"] = len(embedded["modules"])
    figures["embedded create_experiment: peak RSS, MB"] = round(embedded["max_rss_kb"] / 1024, 1)
    imported = _script(_IMPORT, [], root)
    modules["import"] = imported["modules"]
    figures["import mltrail: modules imported (sys.modules)"] = (
        f"{len(imported['modules'])} ({imported['sys_modules']})"
    )
    if args.callgrind:
        figures["server start to ready, M instructions"] = round(
            _server(root, callgrind=True)["instructions"] / 1e6
        )
        cg = _script(_EMBEDDED, [f"sqlite:///{root / 'embedded-cg.db'}"], root, callgrind=True)
        figures["embedded create_experiment, M instructions (whole process)"] = round(
            cg["instructions"] / 1e6
        )
        cg = _script(_IMPORT, [], root, callgrind=True)
        figures["import mltrail, M instructions (whole process)"] = round(cg["instructions"] / 1e6)
    for name, value in figures.items():
        print(f"{name}: {value}")
    if args.modules:
        args.modules.write_text(json.dumps(modules, indent=1))


if __name__ == "__main__":
    main()
