"""Seed a live mltrail server through its REST API (what any MLflow client sends)."""

from __future__ import annotations

import time
from typing import Any

import httpx


class Seeder:
    """Small REST helpers: experiments, runs, batches, tags and artifact uploads."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        res = self.http.post(f"/api/2.0/mlflow/{path}", json=body)
        assert res.status_code == 200, (path, res.status_code, res.text)
        return res.json()

    def experiment(self, name: str) -> str:
        return self.post("experiments/create", {"name": name})["experiment_id"]

    def run(
        self,
        experiment_id: str,
        name: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        parent: str | None = None,
        start_time: int | None = None,
        finish: bool = True,
    ) -> str:
        run_tags = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        if parent:
            run_tags.append({"key": "mlflow.parentRunId", "value": parent})
        now = start_time or int(time.time() * 1000)
        run = self.post(
            "runs/create",
            {"experiment_id": experiment_id, "run_name": name, "start_time": now, "tags": run_tags},
        )["run"]
        run_id = run["info"]["run_id"]
        batch: dict[str, Any] = {"run_id": run_id}
        if params:
            batch["params"] = [{"key": k, "value": str(v)} for k, v in params.items()]
        if metrics:
            batch["metrics"] = [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in metrics.items()]
        if len(batch) > 1:
            self.post("runs/log-batch", batch)
        if finish:
            self.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now + 1500})
        return run_id

    def history(self, run_id: str, key: str, values: list[float], start_ms: int | None = None) -> None:
        start = start_ms or int(time.time() * 1000)
        metrics = [{"key": key, "value": v, "timestamp": start + i * 10, "step": i} for i, v in enumerate(values)]
        for i in range(0, len(metrics), 1000):
            self.post("runs/log-batch", {"run_id": run_id, "metrics": metrics[i : i + 1000]})

    def artifact(self, run_id: str, path: str, content: bytes | str) -> None:
        run = self.http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
        uri = run["info"]["artifact_uri"]
        assert uri.startswith("mlflow-artifacts:"), uri
        rel = uri.split(":", 1)[1].lstrip("/")
        data = content.encode() if isinstance(content, str) else content
        res = self.http.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/{path}", content=data)
        assert res.status_code == 200, res.text

    def trace(
        self,
        experiment_id: str,
        name: str,
        request: str,
        response: str,
        request_time_ms: int | None = None,
        duration_ms: int = 1200,
    ) -> str:
        """Start a finished trace (MLflow 3's ``POST /api/3.0/mlflow/traces``) with these previews."""
        import uuid

        trace_id = "tr-" + uuid.uuid4().hex
        when = request_time_ms or int(time.time() * 1000)
        info = {
            "trace_id": trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
            "request_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when / 1000)) + f".{when % 1000:03d}Z",
            "execution_duration": f"{duration_ms / 1000}s",
            "state": "OK",
            "request_preview": request,
            "response_preview": response,
            "tags": {"mlflow.traceName": name},
        }
        res = self.http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
        assert res.status_code == 200, res.text
        return trace_id

    def model_version(self, name: str, run_id: str) -> dict[str, Any]:
        """Register ``runs:/<run_id>/model`` as a new version of ``name`` (created on first use)."""
        res = self.http.post("/api/2.0/mlflow/registered-models/create", json={"name": name})
        assert res.status_code == 200 or "RESOURCE_ALREADY_EXISTS" in res.text, res.text
        body: dict[str, Any] = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
        return self.post("model-versions/create", body)["model_version"]
