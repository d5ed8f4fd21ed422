"""Parity with the official mlflow 3.17.2: the same ``genai.evaluate`` script under both SDKs.

The script runs in a subprocess per SDK, each on its own SQLite store, with
``@scorer`` code scorers (a value, a ``Feedback`` with a rationale, every
aggregation, a failing scorer), an LLM judge (``make_judge``) answered by the
loopback OpenAI fake, and a predict_fn; metric names and values,
assessment names, values, rationales and error codes per row, and the
``result_df`` columns must be the same. Then the official client reads an
evaluation's traces and assessments from ``mltrail server``, and mltrail reads
one the official client ran against the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.mlflow_db import mlflow_sqlite_uri

SCRIPT = textwrap.dedent('''
    import json, sys
    if sys.argv[1] == "mlflow":
        import mlflow
        from mlflow.entities import Feedback
        from mlflow.genai.judges import make_judge
        from mlflow.genai.scorers import scorer
    else:
        import mltrail as mlflow
        from mltrail.entities.assessment import Feedback
        from mltrail.genai.judges import make_judge
        from mltrail.genai.scorers import scorer
    mlflow.set_tracking_uri(sys.argv[2])

    @scorer
    def exact(outputs, expectations):
        return outputs == expectations["expected"]

    @scorer(aggregations=["min", "max", "mean", "median", "variance", "p90"])
    def length(outputs):
        return len(outputs)

    @scorer
    def rated(inputs, outputs):
        return Feedback(value="yes" if outputs.isupper() else "no", rationale=f"looked at {inputs['q']}")

    @scorer
    def broken(outputs):
        raise ValueError("nope")

    data = [
        {"inputs": {"q": "alpha"}, "expectations": {"expected": "ALPHA"}},
        {"inputs": {"q": "beta"}, "expectations": {"expected": "b"}},
        {"inputs": {"q": "gamma"}, "expectations": {"expected": "GAMMA"}},
        {"inputs": {"q": "delta"}, "expectations": {"expected": "DELTA"}},
    ]

    def predict(q):
        return q.upper() if q != "beta" else "beta!"

    # an LLM judge, answered by the loopback OpenAI fake (OPENAI_BASE_URL)
    shouting = make_judge(name="shouting", instructions="Is {{ outputs }} in capital letters? Answer yes or no.",
                          model="openai:/gpt-4o-mini", feedback_value_type=str)

    def evaluate(experiment, judge):
        mlflow.set_experiment(experiment)
        scorers = [exact, length, rated, broken] + ([shouting] if judge else [])
        res = mlflow.genai.evaluate(data=data, predict_fn=predict, scorers=scorers)
        rows = []
        for trace_id in res.result_df["trace_id"]:
            t = mlflow.get_trace(trace_id)
            rows.append(sorted([a.name, a.value, a.rationale, a.error.error_code if a.error else None]
                               for a in t.info.assessments))
        run = mlflow.get_run(res.run_id)
        return {
            "metrics": res.metrics, "columns": list(res.result_df.columns), "rows": sorted(rows),
            "run_metrics": run.data.metrics, "run_type": run.data.tags.get("mlflow.runType"),
            "run_id": res.run_id, "trace_ids": list(res.result_df["trace_id"]),
            "responses": sorted(res.result_df["response"]),
            "n_traces": len(mlflow.search_traces(locations=[run.info.experiment_id], run_id=res.run_id)),
        }

    # argv[3]: the experiment; argv[4]: the evaluations to run ("plain", "judge" or both, comma-separated)
    out = {mode: evaluate(f"{sys.argv[3]}-{mode}", mode == "judge") for mode in sys.argv[4].split(",")}
    if len(sys.argv) > 5:  # then read another SDK's evaluation: [run id, [trace ids]] as JSON
        other_run, other_traces = json.loads(sys.argv[5])
        read = {}
        for trace_id in other_traces:
            t = mlflow.get_trace(trace_id)
            read[trace_id] = sorted([a.name, a.value, (a.metadata or {}).get("mlflow.assessment.sourceRunId")]
                                    for a in t.info.assessments)
        run = mlflow.get_run(other_run)
        linked = mlflow.search_traces(locations=[run.info.experiment_id], run_id=other_run, return_type="list")
        out["read"] = {"assessments": read, "metrics": run.data.metrics,
                       "linked": sorted(t.info.trace_id for t in linked)}
    print(json.dumps(out, default=str))
''')


def _run(sdk: str, tracking_uri: str, experiment: str, cwd: Path, modes: str = "plain",
         read: dict | None = None) -> dict:
    """Run SCRIPT under ``sdk``: the evaluations ``modes`` names, then (given ``read``) read that one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env["MLFLOW_GENAI_EVAL_SKIP_TRACE_VALIDATION"] = "false"
    script = cwd / "evaluate_script.py"
    script.write_text(SCRIPT)
    args = [sys.executable, str(script), sdk, tracking_uri, experiment, modes]
    if read is not None:
        args.append(json.dumps([read["run_id"], read["trace_ids"]]))
    res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def shouting_verdict(request: dict) -> str:
    """The judge's answer: yes when the judged output (quoted in the prompt) is in capitals."""
    prompt = " ".join(m["content"] for m in request["messages"] if isinstance(m.get("content"), str))
    result = "no" if "beta!" in prompt else "yes"
    return json.dumps({"result": result, "rationale": f"judged {result}"})


def _comparable(out: dict) -> dict:
    return {"metrics": out["metrics"], "columns": sorted(out["columns"]), "rows": out["rows"],
            "run_metrics": out["run_metrics"], "run_type": out["run_type"], "responses": out["responses"],
            "n_traces": out["n_traces"]}


def test_same_evaluations_same_metrics_assessments_and_columns(tmp_path, openai_server):
    """Code scorers alone, then with make_judge(feedback_value_type=str) answered by the OpenAI fake.

    Each SDK runs both evaluations in one process (one interpreter start per SDK).
    """
    openai_server.set_responder(shouting_verdict)
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "mltrail").mkdir()
    mlflow_db = mlflow_sqlite_uri(tmp_path / "mlflow" / "m.db")
    theirs = _run("mlflow", mlflow_db, "parity", tmp_path / "mlflow", modes="plain,judge")
    ours = _run("mltrail", f"sqlite:///{tmp_path / 'mltrail' / 'm.db'}", "parity", tmp_path / "mltrail",
                modes="plain,judge")
    assert _comparable(ours["plain"]) == _comparable(theirs["plain"])
    assert ours["plain"]["metrics"]["exact/mean"] == 0.75 and ours["plain"]["run_type"] == "genai_evaluate"
    assert ["broken", None, None, "SCORER_ERROR"] in ours["plain"]["rows"][0]

    assert len(openai_server.requests) == 8  # four rows judged by each SDK
    assert ["shouting", "no", "judged no", None] in ours["judge"]["rows"][0]
    assert _comparable(ours["judge"]) == _comparable(theirs["judge"])


def test_official_client_reads_mltrail_evaluation_through_the_server_and_back(tmp_path, live_server):
    """mltrail evaluates against mltrail server; the official client reads it (and the other way round)."""
    import mltrail

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = _run("mltrail", live_server.url, "through-server", tmp_path / "a")["plain"]
    theirs_out = _run("mlflow", live_server.url, "through-server-official", tmp_path / "b", read=ours)
    theirs = theirs_out["plain"]
    assert _comparable(ours) == _comparable(theirs)  # the official client's evaluation works on mltrail server

    mltrail.set_tracking_uri(live_server.url)
    read_by_mltrail = {
        "assessments": {
            trace_id: sorted([a.name, a.value, (a.metadata or {}).get("mlflow.assessment.sourceRunId")]
                             for a in mltrail.get_trace(trace_id).info.assessments)
            for trace_id in theirs["trace_ids"]
        },
        "metrics": mltrail.get_run(theirs["run_id"]).data.metrics,
        "linked": sorted(t.info.trace_id for t in mltrail.search_traces(
            locations=[mltrail.get_run(theirs["run_id"]).info.experiment_id], run_id=theirs["run_id"],
            return_type="list")),
    }
    for writer, read in ((ours, theirs_out["read"]), (theirs, read_by_mltrail)):
        assert read["metrics"] == writer["run_metrics"]
        assert read["linked"] == sorted(writer["trace_ids"])
        for trace_id in writer["trace_ids"]:
            names = [row[0] for row in read["assessments"][trace_id]]
            assert names == ["broken", "exact", "expected", "length", "rated"]
            assert {row[2] for row in read["assessments"][trace_id]} == {writer["run_id"]}


RE_EVALUATE = textwrap.dedent('''
    import json, sys
    import mlflow
    from mlflow.genai.scorers import scorer
    mlflow.set_tracking_uri(sys.argv[1])
    exp_id, run_a, run_c = sys.argv[2], sys.argv[3], sys.argv[4]
    mlflow.set_experiment(experiment_id=exp_id)

    @scorer
    def shouty(outputs):
        return str(outputs).isupper()

    res = mlflow.genai.evaluate(data=mlflow.search_traces(locations=[exp_id], run_id=run_a), scorers=[shouty])
    def linked(run):
        return sorted(t.info.trace_id for t in mlflow.search_traces(locations=[exp_id], run_id=run, return_type="list"))
    by_trace = {t.info.trace_id: sorted([a.name, a.value, (a.metadata or {}).get("mlflow.assessment.sourceRunId")]
                                        for a in t.info.assessments)
                for t in mlflow.search_traces(locations=[exp_id], run_id=run_a, return_type="list")}
    print(json.dumps({"run_b": res.run_id, "linked": {r: linked(r) for r in (run_a, res.run_id, run_c)},
                      "metrics": res.metrics, "columns": sorted(res.result_df.columns), "assessments": by_trace},
                     default=str))
''')


def test_traces_re_evaluated_by_either_sdk_link_to_every_run(tmp_path, live_server):
    """MLflow 3 links an evaluated trace to each run that scored it (traces/link-to-run, many-to-many).

    mltrail evaluates (run A), then re-scores A's traces (run C); the official
    client re-scores them too (run B). Each run finds the same traces, each
    assessment names its run, and mltrail's compare_evaluations of C and B
    (the same scorer under both SDKs, on the same traces) says every row is the same.
    """
    import mltrail as mlflow
    from mltrail.genai.scorers import scorer

    @scorer
    def exact(outputs, expectations):
        return outputs == expectations["expected"]

    @scorer
    def shouty(outputs):
        return str(outputs).isupper()

    mlflow.set_tracking_uri(live_server.url)
    exp_id = mlflow.set_experiment("re-evaluated").experiment_id
    data = [{"inputs": {"q": w}, "expectations": {"expected": w.upper()}} for w in ("alpha", "beta", "gamma")]
    run_a = mlflow.genai.evaluate(data=data, predict_fn=lambda q: q if q == "beta" else q.upper(),
                                  scorers=[exact]).run_id
    traces = sorted(t.info.trace_id for t in mlflow.search_traces(locations=[exp_id], run_id=run_a,
                                                                  return_type="list"))
    run_c = mlflow.genai.evaluate(data=mlflow.search_traces(locations=[exp_id], run_id=run_a),
                                  scorers=[shouty]).run_id
    mlflow.flush_trace_async_logging()

    script = tmp_path / "re_evaluate.py"
    script.write_text(RE_EVALUATE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    res = subprocess.run([sys.executable, str(script), live_server.url, exp_id, run_a, run_c],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    theirs = json.loads(res.stdout.strip().splitlines()[-1])
    run_b = theirs["run_b"]
    assert theirs["linked"] == {run_a: traces, run_b: traces, run_c: traces}  # the official client sees every link
    assert theirs["metrics"] == {"shouty/mean": pytest.approx(2 / 3)}
    assert "shouty/value" in theirs["columns"] and "trace_id" in theirs["columns"]
    for trace_id in traces:
        rows = theirs["assessments"][trace_id]
        assert [r[0] for r in rows] == ["exact", "expected", "shouty", "shouty"]
        assert {r[2] for r in rows if r[0] == "shouty"} == {run_b, run_c}  # each run's feedback names its run

    for run in (run_a, run_b, run_c):  # and mltrail finds the traces by any of the three runs
        assert sorted(t.info.trace_id for t in mlflow.search_traces(
            locations=[exp_id], run_id=run, return_type="list")) == traces
    info = mlflow.get_trace(traces[0]).info
    assert not [k for k in info.trace_metadata if k.startswith("mltrail.")]  # links are not metadata
    df = mlflow.genai.compare_evaluations(run_c, run_b)
    assert len(df) == 3 and set(df["shouty/change"]) == {"same"} and set(df["status"]) == {"matched"}
    assert df.attrs["aggregates"].loc["shouty", "delta"] == 0
