"""Section "genai": ``genai.evaluate`` of 200 rows x 3 judges whose loopback endpoint answers in 50 ms.

The same worker code runs under each SDK (``--worker --sdk mltrail|mlflow``),
on its own embedded SQLite store in a fresh folder: static rows (inputs,
outputs, expectations) and three LLM judges built with each SDK's
``make_judge`` (``model="openai:/gpt-4o-mini"``, bool verdicts), whose OpenAI
endpoint is a loopback ``/v1/chat/completions`` (stdlib ``http.server``,
``OPENAI_BASE_URL``) that answers after 50 ms. So what is measured is the
harness and the judge path: concurrency (``MLFLOW_GENAI_EVAL_MAX_WORKERS``,
default 10 for both), prompt building, the chat call, parsing the verdict, and
what each row costs (traces, assessments, metrics, the result table). MLflow
runs from ``.bench-venv`` when it exists, else from ``.venv`` (where the tests'
official mlflow 3.17.2 lives: it has ``genai.evaluate`` and ``make_judge``).

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
        """OpenAI's chat completions: after 50 ms, a judge verdict ``{"result": true, "rationale": ...}``."""
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        time.sleep(LATENCY_S)
        verdict = json.dumps({"result": True, "rationale": "The answer is on topic."})
        body = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.get("model", "gpt-4o-mini"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": verdict},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_judge() -> tuple[ThreadingHTTPServer, str]:
    """The loopback OpenAI endpoint in a daemon thread, and its base URL (``OPENAI_BASE_URL``)."""
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


# ------------------------------------------------------------------ worker (runs under either SDK)
def worker(sdk: str, rows: int, judge_url: str, folder: str) -> dict:
    import os

    os.environ.update(OPENAI_BASE_URL=judge_url, OPENAI_API_KEY="sk-bench-loopback")
    if sdk == "mlflow":
        import mlflow
        from mlflow.genai.judges import make_judge
    else:
        import mltrail as mlflow
        from mltrail.genai.judges import make_judge
    mlflow.set_tracking_uri(f"sqlite:///{folder}/{sdk}.db")
    mlflow.set_experiment("bench-genai")

    def judge(name: str, instructions: str):
        return make_judge(
            name=name, instructions=instructions, model="openai:/gpt-4o-mini", feedback_value_type=bool
        )

    judges = [
        judge("relevance", "Does {{ outputs }} answer {{ inputs }}? Answer true or false."),
        judge("safety", "Is {{ outputs }} free of harmful content? Answer true or false."),
        judge("correctness", "Does {{ outputs }} agree with {{ expectations }}? Answer true or false."),
    ]
    data = [
        {"inputs": {"question": f"q{i}"}, "outputs": f"answer {i}", "expectations": {"expected": f"a{i}"}}
        for i in range(rows)
    ]
    mlflow.genai.evaluate(data=data[:2], scorers=judges[:1])  # warm-up: store creation, imports
    t0 = time.perf_counter()
    result = mlflow.genai.evaluate(data=data, scorers=judges)
    elapsed = time.perf_counter() - t0
    assert result.metrics.get("relevance/mean") == 1.0, result.metrics
    assert result.metrics.get("correctness/mean") == 1.0, result.metrics
    # Rows whose trace made it into result_df (MLflow drops traces when its store falls behind).
    return {"evaluate_s": elapsed, "rows": 0 if result.result_df is None else len(result.result_df)}


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
        sec = Section(
            "genai", f"GenAI evaluation: genai.evaluate of {rows} rows x {JUDGES} judges (50 ms each)"
        )
        sec.columns = ("mltrail", "mlflow")
        row = sec.row(
            f"genai.evaluate, {rows} rows x {JUDGES} make_judge LLM judges (loopback OpenAI, 50 ms)"
        )
        for sdk in ("mltrail", "mlflow"):
            out = measure(sdk, rows, url)
            row.set(sdk, NA(out["na"]) if "na" in out else [out["evaluate_s"]])
            if "na" not in out and out["rows"] != rows:
                sec.notes.append(f"{sdk}: result_df held {out['rows']} of {rows} rows.")
        sec.notes.append(
            "MLflow's SQLite connection pool is raised to 40 (+40): at its default (5 + 10) its "
            "worker threads wait 30 s for a connection and lose traces."
        )
        sec.notes.append(
            f"Both at MLFLOW_GENAI_EVAL_MAX_WORKERS=10 (the default); a judge call takes "
            f"{int(LATENCY_S * 1000)} ms, so {rows * JUDGES} calls one after another would take "
            f"{rows * JUDGES * LATENCY_S:.0f} s."
        )
        return sec
    finally:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 rows instead of 200")
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
