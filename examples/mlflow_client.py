"""The official MLflow client, unchanged, against `mltrail server` (pip install mlflow-skinny).

    export MLFLOW_TRACKING_URI=http://127.0.0.1:5000   # the server from `make serve`
    python examples/mlflow_client.py
"""

import mlflow

mlflow.set_experiment("from-mlflow")
with mlflow.start_run(run_name="mlflow-client") as run:
    mlflow.log_param("client", "mlflow " + mlflow.__version__)
    mlflow.log_metric("accuracy", 0.91)
    mlflow.log_text("hello from the official client", "notes.txt")

print(mlflow.get_run(run.info.run_id).data.metrics)
print(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt"))
