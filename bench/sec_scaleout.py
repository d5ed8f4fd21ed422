"""Section "scaleout": 1, 2 and 4 ``mltrail server`` processes behind HAProxy, 32 clients logging at once.

    python bench/run.py --only scaleout          # part of the full benchmark
    python bench/sec_scaleout.py                 # on its own (add --quick for a short run)

The production layout of docs/deploy.md, on one machine: one PostgreSQL (a fresh
database on the local server, dropped afterwards), artifacts on an S3-compatible
server (moto's, from the venv), N stateless ``mltrail server`` processes
(``--no-scorer-worker``: the scorer worker runs on its own in production) and
Debian's HAProxy balancing them round-robin, health-checked on ``/health``. HAProxy
is installed with apt-get when missing (as the capacity section does for wrk).

32 client processes (the official ``mlflow`` client, retries off so that every
failure is seen) each create a run, then, all released at once, call ``log_batch``
with 100 metrics ``BATCHES`` times and upload one artifact through the proxy.
Reported per N: metrics per second over the wall time from the first start to the
last finish, the requests that failed, and the check that nothing was lost: the
metric rows PostgreSQL holds for the round's runs equal the metrics the server
acknowledged, and every acknowledged artifact is in the bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import BENCH_DIR, free_port, http_ok
from env import ensure_debian_tool
from report import Section

CLIENTS = 32
SERVER_COUNTS = (1, 2, 4)
BATCH = 100
PG_ADMIN = os.environ.get("MLTRAIL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # count every failure instead of hiding it behind a retry
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}
HAPROXY_CFG = """global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option http-keep-alive
frontend mltrail
    bind 127.0.0.1:{port}
    default_backend servers
backend servers
    balance roundrobin
    option httpchk GET /health
{servers}
"""


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_", "AWS_"))}
    env.update(extra)
    return env


def _wait(url: str, what: str, proc: subprocess.Popen, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while not http_ok(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url}")
        time.sleep(0.1)


class Stack:
    """PostgreSQL database, moto S3 server, mltrail servers and HAProxy; :meth:`close` stops all of it."""

    def __init__(self, haproxy: str, workdir: Path) -> None:
        import boto3
        import sqlalchemy as sa

        self.haproxy = haproxy
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []
        self.balancer: subprocess.Popen | None = None
        self.db_name = f"mltrail_scaleout_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {self.db_name}"))
        self.db_uri = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db_name
        s3_port = free_port()
        self.s3 = f"http://127.0.0.1:{s3_port}"
        moto = self._spawn([_bin("moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], "moto.log", {})
        _wait(self.s3 + "/", "moto_server", moto)
        self.bucket = "mltrail-bench"
        self.boto = boto3.client("s3", endpoint_url=self.s3, region_name="us-east-1", **_boto_keys())
        self.boto.create_bucket(Bucket=self.bucket)
        self.lb_port = free_port()
        self.url = f"http://127.0.0.1:{self.lb_port}"

    def _spawn(self, cmd: list[str], log: str, env: dict[str, str]) -> subprocess.Popen:
        with open(self.workdir / log, "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=_clean_env(env), cwd=self.workdir
            )
        self.procs.append(proc)
        return proc

    def start_servers(self, n: int) -> None:
        """``n`` mltrail servers (one worker each) on PostgreSQL and S3, and HAProxy in front of them."""
        self.stop_servers()
        env = {**AWS, "MLFLOW_S3_ENDPOINT_URL": self.s3, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        ports = [free_port() for _ in range(n)]
        for i, port in enumerate(ports):
            cmd = [
                sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", self.db_uri, "--artifacts-destination", f"s3://{self.bucket}/artifacts",
                "--no-scorer-worker",
            ]  # fmt: skip
            proc = self._spawn(cmd, f"server-{port}.log", env)
            self.servers.append(proc)
            # The first one brings a fresh database to the head schema before the others start.
            if i == 0:
                _wait(f"http://127.0.0.1:{port}/health", "mltrail server", proc)
        for port, proc in zip(ports, self.servers, strict=True):
            _wait(f"http://127.0.0.1:{port}/health", "mltrail server", proc)
        lines = "\n".join(f"    server s{i} 127.0.0.1:{p} check inter 2s" for i, p in enumerate(ports))
        cfg = self.workdir / f"haproxy-{n}.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=self.lb_port, servers=lines))
        self.balancer = self._spawn([self.haproxy, "-db", "-f", str(cfg)], "haproxy.log", {})
        _wait(self.url + "/health", "haproxy", self.balancer)
        time.sleep(2.5)  # one health-check interval: every server marked up before the clients start

    def stop_servers(self) -> None:
        for proc in [*self.servers, *([self.balancer] if self.balancer else [])]:
            _stop(proc)
        self.servers, self.balancer = [], None

    def metric_rows(self, run_ids: list[str]) -> int:
        import sqlalchemy as sa

        engine = sa.create_engine(self.db_uri)
        try:
            with engine.connect() as conn:
                stmt = sa.text("SELECT count(*) FROM metrics WHERE run_uuid IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                )
                return int(conn.execute(stmt, {"ids": run_ids}).scalar() or 0)
        finally:
            engine.dispose()

    def artifact_count(self, run_ids: list[str]) -> int:
        wanted = set(run_ids)
        found = 0
        for page in self.boto.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="artifacts/"
        ):
            for obj in page.get("Contents", []):
                parts = obj["Key"].split("/")  # artifacts/<experiment>/<run>/artifacts/note.txt
                if parts[-1] == "note.txt" and wanted.intersection(parts):
                    found += 1
        return found

    def close(self) -> None:
        import sqlalchemy as sa

        self.stop_servers()
        for proc in self.procs:
            _stop(proc)
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)"))
        self.admin.dispose()


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
    }


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Clients:
    """CLIENTS logging processes, started once (their mlflow import is never measured)."""

    def __init__(self) -> None:
        env = _clean_env({**CLIENT_ENV, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        cmd = [sys.executable, str(BENCH_DIR / "sec_scaleout.py"), "--client"]
        self.procs = [
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(CLIENTS)
        ]
        self.ready = False

    def _all(self, message: str | None) -> list[dict]:
        if message is not None:
            for p in self.procs:
                p.stdin.write(message + "\n")
                p.stdin.flush()
        answers = []
        for p in self.procs:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("a logging client exited")
            answers.append(json.loads(line))
        return answers

    def round(self, url: str, experiment: str, batches: int) -> list[dict]:
        """Every client creates its run, then all log at once; one report per client."""
        if not self.ready:  # each client's first line: mlflow imported
            self._all(None)
            self.ready = True
        self._all(json.dumps({"url": url, "experiment": experiment, "batches": batches}))
        return self._all("go")

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()


def client_main() -> None:
    """One logging client: ``ready``; per round a JSON job, its run created, ``go``, then its report."""
    import mlflow
    from mlflow.entities import Metric

    print(json.dumps({"ready": True}), flush=True)
    note = Path(tempfile.mkdtemp()) / "note.txt"
    note.write_text("scale-out\n")
    for line in sys.stdin:
        job = json.loads(line)
        client = mlflow.MlflowClient(tracking_uri=job["url"])
        exp = client.get_experiment_by_name(job["experiment"])
        exp_id = exp.experiment_id if exp else _create(client, job["experiment"])
        run_id = client.create_run(exp_id).info.run_id
        print(json.dumps({"run_id": run_id}), flush=True)
        sys.stdin.readline()  # "go"
        ok = errors = 0
        first_error = ""
        start = time.time()
        for b in range(job["batches"]):
            now = int(time.time() * 1000)
            batch = [Metric(f"m{j % 10}", float(b * BATCH + j), now, b * 10 + j // 10) for j in range(BATCH)]
            try:
                client.log_batch(run_id, metrics=batch)
                ok += BATCH
            except Exception as err:  # counted, not retried
                errors += 1
                first_error = first_error or f"{type(err).__name__}: {err}"[:200]
        artifact = True
        try:
            client.log_artifact(run_id, str(note))
        except Exception as err:
            artifact, errors = False, errors + 1
            first_error = first_error or f"{type(err).__name__}: {err}"[:200]
        end = time.time()
        report = {"run_id": run_id, "start": start, "end": end, "metrics": ok, "errors": errors}
        print(json.dumps({**report, "artifact": artifact, "first_error": first_error}), flush=True)


def _create(client, name: str) -> str:
    try:
        return client.create_experiment(name)
    except Exception:  # another client created it first
        return client.get_experiment_by_name(name).experiment_id


def run(quick: bool) -> Section:
    batches = 5 if quick else 20
    sec = Section(
        "scaleout", f"Scale-out behind HAProxy: {CLIENTS} clients, log_batch of {BATCH} x {batches} each"
    )
    sec.columns = ("mltrail",)
    haproxy = ensure_debian_tool("haproxy", "haproxy", "the scaleout section")
    if haproxy is None:
        sec.na_all("haproxy is not installed and cannot be installed here")
        return sec
    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="mltrail-scaleout-"))
    stack = Stack(haproxy, workdir)
    clients = Clients()
    try:
        for n in SERVER_COUNTS:
            stack.start_servers(n)
            reports = clients.round(stack.url, f"scaleout-{n}-{uuid.uuid4().hex[:6]}", batches)
            wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
            acked = sum(r["metrics"] for r in reports)
            run_ids = [r["run_id"] for r in reports]
            stored = stack.metric_rows(run_ids)
            artifacts = stack.artifact_count(run_ids)
            errors = sum(r["errors"] for r in reports)
            label = f"{n} server process{'es' if n > 1 else ''}"
            sec.row(f"{label}: metrics/s", "rate", "metrics/s").set("mltrail", acked / wall)
            first = next((r["first_error"] for r in reports if r["first_error"]), "")
            sec.notes.append(
                f"{label}: {acked:,} metrics acknowledged, {stored:,} rows in PostgreSQL "
                f"({'nothing lost' if stored >= acked else f'{acked - stored:,} LOST'}), "
                f"{artifacts}/{sum(r['artifact'] for r in reports)} acknowledged artifacts in S3, "
                f"{errors} failed requests" + (f" (first: {first})" if first else "")
            )
    finally:
        clients.close()
        stack.close()
    sec.notes.append(
        f"one machine ({os.cpu_count()} cores) runs the clients, HAProxy, PostgreSQL, moto and the servers; "
        "each server is `mltrail server --workers 1 --no-scorer-worker`; 1-minute load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    return sec


if __name__ == "__main__":
    if "--client" in sys.argv:
        client_main()
    else:
        from report import to_markdown

        print(to_markdown(run("--quick" in sys.argv)))
