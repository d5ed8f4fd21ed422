"""The environment live servers start with (``support.live_server.server_env``): absolute ``PYTHONPATH``.

Servers run in a folder of their own. A relative ``PYTHONPATH`` entry, as in ``PYTHONPATH=src``
run from a checkout, would be read against that folder and the server would import another copy
of mltrail; ``server_env`` turns each entry absolute against the test process's directory.
"""

from __future__ import annotations

import os
import subprocess
import sys

from support.live_server import absolute_path_list, server_env

PROBE = "import pythonpath_probe; print(pythonpath_probe.WHERE)"


def test_relative_pythonpath_entries_are_taken_from_the_test_process_directory(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "pythonpath_probe.py").write_text("WHERE = 'checkout'\n")
    elsewhere = tmp_path / "server-root"
    (elsewhere / "src").mkdir(parents=True)  # what the relative entry names from the server's folder
    (elsewhere / "src" / "pythonpath_probe.py").write_text("WHERE = 'server-root'\n")
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["src", "/already/absolute", "", "../up"]))

    env = server_env({"MLTRAIL_SECRET_KEY": "kept"})
    assert env["PYTHONPATH"].split(os.pathsep) == [
        str(checkout / "src"), "/already/absolute", str(checkout), str(tmp_path / "up"),
    ]  # fmt: skip
    assert env["MLTRAIL_SECRET_KEY"] == "kept"

    # A process started in another folder, as a server is, imports the checkout's module ...
    ran = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == "checkout"
    # ... where the inherited relative entry would have found the other folder's.
    ran = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=elsewhere,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "server-root"


def test_an_override_is_made_absolute_too_and_no_pythonpath_stays_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert "PYTHONPATH" not in server_env()
    assert server_env({"PYTHONPATH": "lib"})["PYTHONPATH"] == str(tmp_path / "lib")
    assert absolute_path_list(os.pathsep.join(["a", "/b"])) == os.pathsep.join([str(tmp_path / "a"), "/b"])
