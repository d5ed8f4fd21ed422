"""The product brief's tracking examples, run with ``import mltrail as mlflow``.

The code inside each test follows the brief line by line; only the assertions
are added. ``openai.OpenAI()`` talks to the OpenAI-compatible server from
``tests/support/openai_server.py`` (via ``OPENAI_BASE_URL``/``OPENAI_API_KEY``).
Each test runs on the embedded default (no configuration at all), on MariaDB and on
PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

import mltrail as mlflow

openai = pytest.importorskip("openai")


def _brief_evaluate_prompt():
    """The brief's first example, verbatim apart from indentation."""

    def evaluate_prompt(system_prompt: str, user_prompt: str, model: str = "gpt-4o-mini") -> dict:
        with mlflow.start_run():
            # Log parameters
            mlflow.log_params({
                "model": model,
                "system_prompt_version": "v3",
                "temperature": 0.7,
                "max_tokens": 512,
            })
            client = openai.OpenAI()
            resp = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": user_prompt},
                ],
                max_tokens=512, temperature=0.7,
            )
            output = resp.choices[0].message.content
            # Log metrics
            mlflow.log_metrics({
                "prompt_tokens": resp.usage.prompt_tokens,
                "completion_tokens": resp.usage.completion_tokens,
                "total_cost_usd": (resp.usage.prompt_tokens * 0.00015 +
                                   resp.usage.completion_tokens * 0.0006) / 1000,
            })
            # Log artifacts
            mlflow.log_text(system_prompt, "system_prompt.txt")
            mlflow.log_text(user_prompt, "user_prompt.txt")
            mlflow.log_text(output, "model_output.txt")
            return {"output": output, "run_id": mlflow.active_run().info.run_id}

    return evaluate_prompt


def _brief_log_evaluation_dataset():
    """The brief's second example, verbatim."""

    def log_evaluation_dataset(results: list[dict], run_id: str):
        with mlflow.start_run(run_id=run_id):
            # Log as JSON artifact
            mlflow.log_dict(results, "evaluation_results.json")
            # Log aggregate metrics
            scores = [r.get("score", 0) for r in results]
            mlflow.log_metrics({
                "mean_score": sum(scores) / len(scores),
                "pass_rate": sum(1 for s in scores if s >= 7) / len(scores),
                "n_evaluated": len(results),
            })

    return log_evaluation_dataset


def test_prompt_experiment_with_artifacts(backend, openai_server, capsys):
    mlflow.set_experiment("llm-prompt-experiments")
    evaluate_prompt = _brief_evaluate_prompt()
    result = evaluate_prompt(
        system_prompt="You are a concise technical writer.",
        user_prompt="Explain transformers in 2 sentences.",
    )
    print(result["output"])

    assert capsys.readouterr().out.strip() == "Answer to: Explain transformers in 2 sentences."
    (request,) = openai_server.requests
    assert request["body"]["model"] == "gpt-4o-mini" and request["body"]["max_tokens"] == 512
    run = mlflow.get_run(result["run_id"])
    assert mlflow.get_experiment(run.info.experiment_id).name == "llm-prompt-experiments"
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "model": "gpt-4o-mini",
        "system_prompt_version": "v3",
        "temperature": "0.7",
        "max_tokens": "512",
    }
    # The fake server counts one token per word: 11 prompt words, 7 answer words.
    assert run.data.metrics["prompt_tokens"] == 11.0
    assert run.data.metrics["completion_tokens"] == 7.0
    assert run.data.metrics["total_cost_usd"] == pytest.approx((11 * 0.00015 + 7 * 0.0006) / 1000)
    artifacts = sorted(f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id))
    assert artifacts == ["model_output.txt", "system_prompt.txt", "user_prompt.txt"]
    base = run.info.artifact_uri
    assert mlflow.artifacts.load_text(base + "/system_prompt.txt") == "You are a concise technical writer."
    assert mlflow.artifacts.load_text(base + "/user_prompt.txt") == "Explain transformers in 2 sentences."
    assert mlflow.artifacts.load_text(base + "/model_output.txt") == result["output"]


def test_resumed_run_with_log_dict(backend, openai_server, tmp_path):
    mlflow.set_experiment("llm-prompt-experiments")
    result = _brief_evaluate_prompt()("You are terse.", "What is MLflow?")
    results = [
        {"prompt": "What is MLflow?", "output": result["output"], "score": 8},
        {"prompt": "What is a run?", "output": "A unit of tracking.", "score": 6},
        {"prompt": "What is an artifact?", "output": "A file.", "score": 9},
    ]
    log_evaluation_dataset = _brief_log_evaluation_dataset()
    log_evaluation_dataset(results, result["run_id"])

    run = mlflow.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["mean_score"] == pytest.approx(23 / 3)
    assert run.data.metrics["pass_rate"] == pytest.approx(2 / 3)
    assert run.data.metrics["n_evaluated"] == 3.0
    assert run.data.metrics["prompt_tokens"] == 6.0  # the first session's metrics are still there
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="evaluation_results.json", dst_path=str(tmp_path / "dl")
    )
    with open(local) as f:
        assert json.load(f) == results
    assert mlflow.artifacts.load_dict(run.info.artifact_uri + "/evaluation_results.json") == results


def test_nested_runs_for_prompt_variants(backend, openai_server):
    mlflow.set_experiment("llm-prompt-experiments")
    client = openai.OpenAI()
    with mlflow.start_run(run_name="prompt-sweep") as parent:
        mlflow.log_param("n_variants", 2)
        child_ids = []
        for version in ("v1", "v2"):
            with mlflow.start_run(run_name=f"prompt-{version}", nested=True) as child:
                mlflow.log_param("system_prompt_version", version)
                resp = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"Prompt {version}"}]
                )
                mlflow.log_metric("completion_tokens", resp.usage.completion_tokens)
                child_ids.append(child.info.run_id)
        # Forgetting nested=True inside an outer run is an error, as in MLflow.
        with pytest.raises(mlflow.MlflowException, match="nested=True"):
            mlflow.start_run()
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["params.system_prompt_version ASC"],
    )
    assert list(children["run_id"]) == child_ids
    assert list(children["tags.mlflow.runName"]) == ["prompt-v1", "prompt-v2"]
    assert (children["metrics.completion_tokens"] == 4.0).all()
    assert mlflow.get_parent_run(child_ids[0]).info.run_id == parent.info.run_id


def test_search_finds_the_best_run(backend, openai_server):
    mlflow.set_experiment("llm-prompt-experiments")
    evaluate_prompt = _brief_evaluate_prompt()
    log_evaluation_dataset = _brief_log_evaluation_dataset()
    ids = []
    for score in (5, 9, 7):
        result = evaluate_prompt("You are a concise technical writer.", f"Question scored {score}")
        log_evaluation_dataset([{"score": score}], result["run_id"])
        ids.append(result["run_id"])
    # "The MLflow search API supports SQL-like queries on tags and parameters,
    # enabling programmatic identification of the best-performing run."
    best = mlflow.search_runs(
        filter_string="params.system_prompt_version = 'v3' AND metrics.mean_score >= 7",
        order_by=["metrics.mean_score DESC"],
    )
    best = best[best["run_id"].isin(ids)]
    assert list(best["run_id"]) == [ids[1], ids[2]]
    assert list(best["metrics.mean_score"]) == [9.0, 7.0]
    as_list = mlflow.search_runs(
        filter_string="metrics.mean_score < 6 OR metrics.pass_rate = 1", output_format="list"
    )
    assert {r.info.run_id for r in as_list} & set(ids) == set(ids)
