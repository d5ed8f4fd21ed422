"""Every file in examples/ runs as written, in order, against a live server and the OpenAI fake.

The data each leaves (runs, a served model's answer, traces, prompts, judge
scores, the official client's run, the project run) is read back through the
server with the official ``mlflow`` client.
"""

from __future__ import annotations

from pathlib import Path

from tour_support import (
    EXAMPLE_ORDER,
    EXAMPLES,
    JUDGE_SCORE,
    block_env,
    mlflow_client,
    newcomer_folder,
    run_script,
)

from support.live_server import LiveServer, running_server


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
