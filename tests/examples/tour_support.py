"""Running the README's blocks and the examples as a newcomer would: shared by the tests in this folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from support.live_server import LiveServer, server_env
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


