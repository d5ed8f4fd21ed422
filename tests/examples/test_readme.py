"""The README's code blocks run as written, in order, against a live server (examples/: test_examples_run.py).

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

import httpx
from tour_support import (
    JUDGE_SCORE,
    MAX_SKIPPED,
    README,
    block_env,
    mlflow_client,
    newcomer_folder,
    readme_blocks,
    run_script,
    with_ports,
)

from support.live_server import LiveServer, free_port, running_server


def test_readme_blocks_are_found_and_skips_are_few_and_explained():
    blocks = readme_blocks(README.read_text())
    assert sum(b.lang == "python" for b in blocks) >= 6
    assert sum(b.lang == "bash" for b in blocks) >= 3
    skipped = [b for b in blocks if b.skip]
    assert len(skipped) <= MAX_SKIPPED, [b.line for b in skipped]
    assert all(len(b.skip or "") > 20 for b in skipped)  # a real reason, not a bare marker


def test_readme_tour_runs_in_order_against_the_server(tmp_path, openai_fake, tracking_env, monkeypatch):
    """Each block, in order, with the server's URI (the embedded run is in test_readme_embedded.py)."""
    run_tour("server", tmp_path, openai_fake, monkeypatch)


def run_tour(mode: str, tmp_path, openai_fake, monkeypatch) -> None:
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
    assert version.source.startswith("models:/m-")  # MLflow 3: the version is the run's logged model
    files = {f.path for f in client.list_logged_model_artifacts(version.source.removeprefix("models:/"))}
    assert "MLmodel" in files
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
    # 9. the agent: logged from its file, registered, its call traced as an AGENT span
    assert client.get_registered_model("help-desk-agent").latest_versions
    assert "'AGENT'" in output and "streamed" in output
    # 10. the command line
    assert "Database is at revision" in output


