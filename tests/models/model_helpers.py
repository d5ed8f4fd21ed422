"""Helpers for model tests: `mltrail models serve` subprocesses and the brief's LLMWrapper script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import httpx

from support.live_server import free_port, stop_process

_LLM_WRAPPER_BRIEF = textwrap.dedent("""
    {imports}

    # Register a model after training/evaluation
    with mlflow.start_run() as run:
        # Log your fine-tuned model
        mlflow.log_params({"base_model": "gpt-4o-mini", "ft_steps": 1000})
        mlflow.log_metrics({"eval_score": 8.3})

        # Create a simple wrapper for your LLM endpoint
        class LLMWrapper(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input):
                import openai
                client = openai.OpenAI()
                prompts = model_input["prompt"].tolist()
                return [client.chat.completions.create(
                    model="ft:gpt-4o-mini:...",
                    messages=[{"role": "user", "content": p}],
                    max_tokens=256
                ).choices[0].message.content for p in prompts]

        mlflow.pyfunc.log_model("llm_model", python_model=LLMWrapper())

        # Register in model registry
        model_uri = f"runs:/{run.info.run_id}/llm_model"
        mlflow.register_model(model_uri, "MyLLMApp")
    print(run.info.run_id)
""")


def llm_wrapper_brief(imports: str) -> str:
    """The brief's LLMWrapper example as a script that binds ``mlflow`` with ``imports``.

    It logs and registers ``MyLLMApp`` version 1 and prints the run id last.
    """
    return _LLM_WRAPPER_BRIEF.replace("{imports}", imports)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail with the process output if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"server exited with {proc.returncode}:\n{out}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout}s")


class Served:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url

    def stop(self) -> None:
        stop_process(self.proc)


def serve_model(model_uri: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Served:
    """``mltrail models serve -m URI`` as a subprocess on a free loopback port, ready to score."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrail", "models", "serve", "-m", model_uri, "-p", str(port), *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", proc)
    except BaseException:
        Served(proc, url).stop()
        raise
    return Served(proc, url)
