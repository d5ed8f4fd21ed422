"""``mltrail artifacts``: upload, list and download through the CLI against a real SQLite store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mltrail.cli.main import cli


def _run_with_store(tmp_path):
    from mltrail.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run("0")
    return uri, run.info.run_id


def test_log_list_download_roundtrip(tmp_path):
    uri, run_id = _run_with_store(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_text("bee")
    runner = CliRunner()
    base = ["--tracking-uri", uri, "--run-id", run_id]

    res = runner.invoke(cli, ["artifacts", "log-artifact", "-l", str(tmp_path / "notes.txt"), "-a", "docs", *base])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["artifacts", "log-artifacts", "-l", str(folder), *base])
    assert res.exit_code == 0, res.output

    res = runner.invoke(cli, ["artifacts", "list", *base])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any(line.split()[:2] == ["docs", "dir"] for line in lines)
    assert any(line.split()[:2] == ["sub", "dir"] for line in lines)

    res = runner.invoke(cli, ["artifacts", "list", "-a", "docs", "--json", *base])
    assert json.loads(res.output) == [{"path": "docs/notes.txt", "is_dir": False, "file_size": 5}]

    dst = tmp_path / "out"
    res = runner.invoke(cli, ["artifacts", "download", "-a", "sub", "-d", str(dst), *base])
    assert res.exit_code == 0, res.output
    assert (dst / "sub" / "b.txt").read_text() == "bee"

    res = runner.invoke(
        cli, ["artifacts", "download", "-u", f"runs:/{run_id}/docs/notes.txt", "-d", str(dst), "--tracking-uri", uri]
    )
    assert res.exit_code == 0, res.output
    assert (dst / "notes.txt").read_text() == "hello"


def test_bad_input_gives_clear_errors(tmp_path):
    uri, run_id = _run_with_store(tmp_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["artifacts", "list", "-r", run_id, "-a", "../etc", "--tracking-uri", uri])
    assert res.exit_code == 1
    assert "INVALID_PARAMETER_VALUE" in res.output and ".." in res.output
    assert "Traceback" not in res.output

    res = runner.invoke(cli, ["artifacts", "list", "-r", "f" * 32, "--tracking-uri", uri])
    assert res.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in res.output

    res = runner.invoke(cli, ["artifacts", "download", "--tracking-uri", uri])
    assert res.exit_code == 2 and "exactly one of --run-id or --artifact-uri" in res.output


def test_help_lists_every_subcommand():
    res = CliRunner().invoke(cli, ["artifacts", "--help"])
    assert res.exit_code == 0
    for name in ("log-artifact", "log-artifacts", "list", "download"):
        assert name in res.output
