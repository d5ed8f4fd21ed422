"""An official-MLflow SQLite database for parity tests, without paying for MLflow's migrations each time.

The official client creates a new ``sqlite:///`` store by running its whole
Alembic history, which takes 5 to 15 seconds on this machine; the parity
tests need a fresh MLflow store each. :func:`mlflow_sqlite_uri` builds one
migrated database per installed MLflow version (once per machine, whichever
xdist worker gets there first, under a file lock) and gives every caller its
own copy of it. MLflow opens the copy as it would any store at its head
revision: it checks the revision and, since the template holds no experiment,
creates the Default one under the test's working directory as on a database it
made itself.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_CACHE = Path(tempfile.gettempdir()) / "mltrail-test-cache"

# Run in a child process so that the official client's global state (tracking URI, engines) in the
# test's own process is never touched by building the template.
_BUILD = """
import sys
import mlflow
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
mlflow.MlflowClient().search_experiments()
# The Default experiment's artifact location is the builder's working directory: drop it, and MLflow
# creates it again, under the test's own directory, when it opens the copy.
import sqlite3
with sqlite3.connect(sys.argv[1]) as db:
    db.execute("DELETE FROM experiment_tags")
    db.execute("DELETE FROM experiments")
"""


def _template() -> Path:
    from importlib.metadata import version

    _CACHE.mkdir(parents=True, exist_ok=True)
    template = _CACHE / f"mlflow-{version('mlflow-skinny')}.db"
    if template.exists():
        return template
    with open(_CACHE / "mlflow-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            partial = template.with_suffix(f".{os.getpid()}.partial")
            partial.unlink(missing_ok=True)
            subprocess.run([sys.executable, "-c", _BUILD, str(partial)], check=True, capture_output=True)
            partial.rename(template)
    return template


def mlflow_sqlite_uri(path: Path) -> str:
    """A ``sqlite:///`` URI for the official client at ``path``: a copy of the migrated template,
    unless ``path`` is already a database (a test that opens the same store twice keeps its data)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(), path)
    return f"sqlite:///{path}"
