"""The README's code blocks and the files in examples/ run as written, against a live server.

Every fenced ``python`` and ``bash`` block of README.md runs in order, each as
its own script (as a newcomer would paste it), in a fresh folder where a real
``mltrail server`` runs on ``./mltrail.db``: once with ``MLFLOW_TRACKING_URI``
pointing at the server and once with no tracking URI at all (the embedded
SDK on the server's own database and artifact folder). The OpenAI judge and
chat calls go to the loopback OpenAI fake through ``OPENAI_BASE_URL``.

A block is skipped only when the line above its fence says so with a reason:
``<!-- readme-test: skip, <reason> -->``. The only edits made to a block are
the ports: ``5000`` becomes the live server's and ``5001`` a free one, so
tests can run side by side. After the blocks, the data they should have left
(runs, metrics, artifacts, a registered model, traces, prompts, evaluation
metrics, a project run) is read back through the server with the official
``mlflow`` client.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.live_server import LiveServer, free_port, running_server, server_env
from support.openai_server import OpenAIServer, default_responder

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXAMPLES = REPO / "examples"
VENV = Path(sys.prefix)
SKIP_MARK = re.compile(r"^<!--\s*readme-test:\s*skip,\s*(?P<reason>\S.*?)\s*-->$")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
MAX_SKIPPED = 2
BLOCK_TIMEOUT = 120
# The examples in the order they build on each other (serve_model serves what register_model registered).
EXAMPLE_ORDER = [
    "track_experiment.py",
    "search_runs.py",
    "register_model.py",
    "serve_model.py",
    "trace_pipeline.py",
    "openai_autolog.py",
    "prompts.py",
    "evaluate_judges.py",
    "mlflow_client.py",
]
JUDGE_SCORE = 4


@dataclass
class Block:
    """One fenced code block of the README: its language, code, first line number and skip reason."""

    lang: str
    code: str
    line: int
    skip: str | None


def readme_blocks(text: str) -> list[Block]:
    """The ``python`` and ``bash`` blocks of ``text`` in order (other fences are prose, e.g. yaml)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if m.group("lang") in ("python", "bash"):
            above = SKIP_MARK.match(lines[start - 1].strip()) if start else None
            code = "\n".join(lines[start + 1 : end]) + "\n"
            blocks.append(Block(m.group("lang"), code, start + 1, above.group("reason") if above else None))
        i = end + 1
    return blocks


def judge_responder(request: dict) -> str:
    """A verdict for grading prompts (they ask for a score), the fake's usual answer otherwise."""
    prompt = json.dumps(request.get("messages", []))
    if "score" in prompt and "justification" in prompt:
        return json.dumps({"score": JUDGE_SCORE, "justification": "It states the facts of the targets."})
    return default_responder(request)


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[OpenAIServer]:
    with OpenAIServer(judge_responder) as server:
        yield server


def newcomer_folder(root: Path) -> None:
    """A fresh folder that looks like the repository to the blocks: ``.venv`` and ``examples``."""
    (root / ".venv").symlink_to(VENV, target_is_directory=True)
    (root / "examples").symlink_to(EXAMPLES, target_is_directory=True)


def block_env(openai: OpenAIServer, tracking_uri: str | None) -> dict[str, str]:
    env = server_env(
        {
            "OPENAI_BASE_URL": openai.base_url,
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def run_script(path: Path, lang: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one script as a newcomer would; fail the test with its output unless it exits 0."""
    cmd = [sys.executable, str(path)] if lang == "python" else ["bash", "-e", str(path)]
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{path.name} exited with {proc.returncode}:\n{path.read_text()}\n---\n{output}"
    return output


def with_ports(code: str, server: LiveServer, serve_port: int) -> str:
    """The block with the README's ports replaced by this test's (5000: the server, 5001: models serve)."""
    port = server.url.rsplit(":", 1)[1]
    code = re.sub(r"(?<=[:\s])5000\b", port, code)
    return re.sub(r"(?<=[:\s])5001\b", str(serve_port), code)


def mlflow_client(server: LiveServer):
    """The official mlflow client on the live server."""
    import mlflow

    return mlflow.MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_readme_blocks_are_found_and_skips_are_few_and_explained():
    blocks = readme_blocks(README.read_text())
    assert sum(b.lang == "python" for b in blocks) >= 6
    assert sum(b.lang == "bash" for b in blocks) >= 3
    skipped = [b for b in blocks if b.skip]
    assert len(skipped) <= MAX_SKIPPED, [b.line for b in skipped]
    assert all(len(b.skip or "") > 20 for b in skipped)  # a real reason, not a bare marker


@pytest.mark.parametrize("mode", ["server", "embedded"])
def test_readme_tour_runs_in_order(mode, tmp_path, openai_fake, tracking_env, monkeypatch):
    """Each block, in order, with the server's URI (``server``) or none (``embedded``, same ./mltrail.db)."""
    root = tmp_path / "newcomer"
    with running_server(root) as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)  # for the official client's checks
        newcomer_folder(root)
        env = block_env(openai_fake, server.url if mode == "server" else None)
        serve_port = free_port()
        outputs = []
        for n, block in enumerate(readme_blocks(README.read_text())):
            if block.skip:
                continue
            script = root / f"readme_block_{n:02d}.{'py' if block.lang == 'python' else 'sh'}"
            script.write_text(with_ports(block.code, server, serve_port))
            outputs.append(run_script(script, block.lang, root, env))
        check_tour_data(server, "\n".join(outputs))


def check_tour_data(server: LiveServer, output: str) -> None:
    """What the tour's steps leave behind, read through the server with the official client."""
    import mlflow

    client = mlflow_client(server)
    # 1. the experiment, its run and nested run, the metric curve, an artifact
    exp = client.get_experiment_by_name("llm-prompt-experiments")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert {"prompt-v3", "judge"} <= set(runs)
    parent = runs["prompt-v3"]
    assert runs["judge"].data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert len(client.get_metric_history(parent.info.run_id, "loss")) == 10
    assert parent.data.params == {"model": "gpt-4o-mini", "temperature": "0.7"}
    # through the server, whichever side wrote it (the UI's artifact route reads any run's root)
    got = httpx.get(f"{server.url}/get-artifact", params={"run_id": parent.info.run_id, "path": "system_prompt.txt"})
    assert got.status_code == 200 and got.text == "You are a concise technical writer."
    # 2. the search printed the run
    assert parent.info.run_id in output
    # 4. the registered model: its files come back through the server, and the model answered
    version = client.get_model_version("MyLLMApp", "1")
    files = {f.path for f in client.list_artifacts(version.run_id, "model")}
    assert "model/MLmodel" in files
    assert "HELLO" in output
    # 5. the trace with its retriever span
    traces = client.search_traces(locations=["0"])
    spans = [s for t in traces for s in t.data.spans]
    assert {"answer", "retrieve"} <= {s.name for s in spans}
    # 6. the prompt and its alias
    prompt = mlflow.genai.load_prompt("prompts:/qa@production")
    assert prompt.version == 1 and "{{question}}" in prompt.template
    assert "Answer in one line: What does tracking log?" in output
    # 7. the evaluation's judge scores
    (rag,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "attributes.run_name = 'rag-v1'"
    )
    assert rag.data.metrics["answer_correctness/v1/mean"] == JUDGE_SCORE
    assert rag.data.metrics["faithfulness/v1/mean"] == JUDGE_SCORE
    # 8. the project run
    demo = client.get_experiment_by_name("demo")
    (train,) = client.search_runs([demo.experiment_id])
    assert train.info.status == "FINISHED"
    assert train.data.params["alpha"] == "0.2" and "mse" in train.data.metrics
    # 9. the command line
    assert "Database is at revision" in output


@pytest.fixture
def tracking_env(monkeypatch):
    """The official client in this process talks to the server of the test (nothing leaks out)."""
    for var in [v for v in os.environ if v.startswith(("MLFLOW_", "MLTRAIL_"))]:
        monkeypatch.delenv(var)


def test_every_example_runs_against_a_live_server(tmp_path, openai_fake, tracking_env, monkeypatch):
    on_disk = {p.name for p in EXAMPLES.glob("*.py")}
    assert on_disk == set(EXAMPLE_ORDER), "add new examples to EXAMPLE_ORDER so they are run"
    root = tmp_path / "examples-run"
    with running_server(root) as server:
        newcomer_folder(root)
        env = block_env(openai_fake, server.url)
        out = {name: run_script(EXAMPLES / name, "python", root, env) for name in EXAMPLE_ORDER}
        out["train"] = run_script(
            _write(root / "train.sh", ".venv/bin/mltrail run examples/train -P alpha=0.2 --experiment-name demo\n"),
            "bash",
            root,
            env,
        )
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        check_example_data(server, out)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def check_example_data(server: LiveServer, out: dict[str, str]) -> None:
    import mlflow

    client = mlflow_client(server)
    exp = client.get_experiment_by_name("llm-prompt-experiments")
    assert {r.info.run_name for r in client.search_runs([exp.experiment_id])} >= {"prompt-v3", "judge"}
    assert "metrics.loss" in out["search_runs.py"]
    assert client.get_model_version("MyLLMApp", "1").status == "READY"
    assert "{'predictions': ['HELLO']}" in out["serve_model.py"]
    assert "OK" in out["trace_pipeline.py"]
    assert "Answer to: What does experiment tracking log?" in out["openai_autolog.py"]
    assert "CHAT_MODEL" in out["openai_autolog.py"]
    assert "Answer in one line: What does tracking log?" in out["prompts.py"]
    rag = client.get_experiment_by_name("rag-evaluation")
    (run,) = client.search_runs([rag.experiment_id])
    assert run.data.metrics["answer_correctness/v1/mean"] == JUDGE_SCORE
    from_mlflow = client.get_experiment_by_name("from-mlflow")
    (run,) = client.search_runs([from_mlflow.experiment_id])
    assert run.data.metrics == {"accuracy": 0.91}
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt") == "hello from the official client"
    demo = client.get_experiment_by_name("demo")
    (train,) = client.search_runs([demo.experiment_id])
    assert train.info.status == "FINISHED" and train.data.params["alpha"] == "0.2"
    assert client.list_artifacts(train.info.run_id)[0].path == "weights.json"
