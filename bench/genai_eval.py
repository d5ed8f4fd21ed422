"""Section "genai": ``genai.evaluate`` of 200 rows x 3 judges whose loopback endpoint answers in 50 ms.

The same worker code runs under each SDK (``--worker --sdk mltrail|mlflow``),
on its own embedded SQLite store in a fresh folder: static rows (inputs,
outputs, expectations), three code scorers that each POST to one loopback judge
endpoint (stdlib ``http.server``, answers after 50 ms), so what is measured is
the harness: its concurrency (``MLFLOW_GENAI_EVAL_MAX_WORKERS``, default 10 for
both) and what it costs per row (traces, assessments, metrics, the result
table). MLflow runs from ``.bench-venv`` when it exists, else from ``.venv``
(where the tests' official mlflow 3.17.2 lives).

    python bench/genai_eval.py            # 200 rows x 3 judges, prints the table and the ratio
    python bench/genai_eval.py --quick    # 20 rows
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

JUDGES = 3
LATENCY_S = 0.05


class _Judge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(LATENCY_S)
        body = json.dumps({"score": 1, "rationale": "fine"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_judge() -> tuple[ThreadingHTTPServer, str]:
    """The loopback judge endpoint in a daemon thread, and its URL."""
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/judge"


# ------------------------------------------------------------------ worker (runs under either SDK)
def worker(sdk: str, rows: int, judge_url: str, folder: str) -> dict:
    import urllib.request

    if sdk == "mlflow":
        import mlflow
        from mlflow.entities import Feedback
        from mlflow.genai.scorers import scorer
    else:
        import mltrail as mlflow
        from mltrail.entities.assessment import Feedback
        from mltrail.genai.scorers import scorer
    mlflow.set_tracking_uri(f"sqlite:///{folder}/{sdk}.db")
    mlflow.set_experiment("bench-genai")

    def ask(name: str, outputs: str) -> Feedback:
        req = urllib.request.Request(judge_url, json.dumps({"judge": name, "o": outputs}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())
        return Feedback(value=answer["score"], rationale=answer["rationale"])

    @scorer
    def relevance(outputs):
        return ask("relevance", outputs)

    @scorer
    def safety(outputs):
        return ask("safety", outputs)

    @scorer
    def correctness(outputs, expectations):
        return ask("correctness", outputs)

    data = [{"inputs": {"question": f"q{i}"}, "outputs": f"answer {i}", "expectations": {"expected": f"a{i}"}}
            for i in range(rows)]
    mlflow.genai.evaluate(data=data[:2], scorers=[relevance])  # warm-up: store creation, imports
    t0 = time.perf_counter()
    result = mlflow.genai.evaluate(data=data, scorers=[relevance, safety, correctness])
    elapsed = time.perf_counter() - t0
    assert result.metrics.get("relevance/mean") == 1.0, result.metrics
    return {"evaluate_s": elapsed, "rows": len(result.result_df)}


# ------------------------------------------------------------------ parent
def _python(sdk: str) -> Path:
    from common import BENCH_BIN, VENV_BIN

    bench = BENCH_BIN / "python"
    return bench if sdk == "mlflow" and bench.exists() else VENV_BIN / "python"


def measure(sdk: str, rows: int, judge_url: str) -> dict:
    """One worker process for ``sdk``; its timings, or {"na": reason}."""
    from driverproc import client_env

    folder = tempfile.mkdtemp(prefix=f"bench-genai-{sdk}-")
    try:
        env = client_env(f"sqlite:///{folder}/{sdk}.db")
        # MLflow's SQLite store pools 5 (+10) connections: its 10 row threads x 3 scorer threads then wait
        # 30 s for one and drop traces ("QueuePool limit ... reached"). A larger pool is the fair setting.
        env.update(MLFLOW_SQLALCHEMYSTORE_POOL_SIZE="40", MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW="40")
        res = subprocess.run(
            [str(_python(sdk)), __file__, "--worker", "--sdk", sdk, "--rows", str(rows), "--judge", judge_url,
             "--dir", folder],
            capture_output=True, text=True, env=env, cwd=folder, timeout=900,
        )  # fmt: skip
        if res.returncode != 0:
            return {"na": f"{sdk} worker failed: {(res.stderr.strip().splitlines() or [res.returncode])[-1]}"}
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(quick: bool):
    """bench/run.py's entry: a Section with one row per SDK timing."""
    from common import NA
    from report import Section

    rows = 20 if quick else 200
    server, url = start_judge()
    try:
        sec = Section("genai", f"GenAI evaluation: genai.evaluate of {rows} rows x {JUDGES} judges (50 ms each)")
        sec.columns = ("mltrail", "mlflow")
        row = sec.row(f"genai.evaluate, {rows} rows x {JUDGES} loopback judges")
        for sdk in ("mltrail", "mlflow"):
            out = measure(sdk, rows, url)
            row.set(sdk, NA(out["na"]) if "na" in out else [out["evaluate_s"]])
        sec.notes.append("MLflow's SQLite connection pool is raised to 40 (+40): at its default (5 + 10) its "
                         "worker threads wait 30 s for a connection and lose traces.")
        sec.notes.append(f"Both at MLFLOW_GENAI_EVAL_MAX_WORKERS=10 (the default); a judge call takes "
                         f"{int(LATENCY_S * 1000)} ms, so {rows * JUDGES} calls one after another would take "
                         f"{rows * JUDGES * LATENCY_S:.0f} s.")
        return sec
    finally:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sdk", default="mltrail", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=200, help=argparse.SUPPRESS)
    ap.add_argument("--judge", default="", help=argparse.SUPPRESS)
    ap.add_argument("--dir", default=".", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.sdk, args.rows, args.judge, args.dir)))
        return 0
    from report import to_markdown

    sec = run(args.quick)
    print(to_markdown(sec))
    values = {k: v for k, v in sec.rows[0].values.items() if isinstance(v, dict) and "median" in v}
    if len(values) == 2:
        print(f"\nmltrail is {values['mlflow']['median'] / values['mltrail']['median']:.1f}x MLflow's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
