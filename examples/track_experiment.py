"""Tour step 1: track an experiment — params, a metric curve, text and JSON artifacts, a nested run.

    .venv/bin/python examples/track_experiment.py

Writes to ./mltrail.db and ./mltrail-artifacts, or to the server named by
MLTRAIL_TRACKING_URI / MLFLOW_TRACKING_URI.
"""

import mltrail as mlflow

mlflow.set_experiment("llm-prompt-experiments")

with mlflow.start_run(run_name="prompt-v3") as run:
    mlflow.log_params({"model": "gpt-4o-mini", "temperature": 0.7})
    for step in range(10):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_text("You are a concise technical writer.", "system_prompt.txt")
    mlflow.log_dict({"score": 8.3}, "evaluation_results.json")

    with mlflow.start_run(run_name="judge", nested=True):
        mlflow.log_metric("faithfulness", 0.92)

print(f"logged run {run.info.run_id} in experiment {run.info.experiment_id}")
