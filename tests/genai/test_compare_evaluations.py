"""``mltrail.genai.compare_evaluations`` and the UI's ``/ajax-api/mltrail/evaluations/compare``.

Two real ``genai.evaluate`` runs (code scorers: a bool, a number, a yes/no
feedback with a rationale, a scorer that fails on one candidate row, a free-text
label, a scorer each run has alone) on overlapping data, compared embedded on
SQLite, through ``mltrail server`` over REST, and through the UI route; then two
registered model versions compared through their logged models' evaluations.
"""

from __future__ import annotations

import httpx
import pytest

import mltrail as mlflow
from mltrail.entities.assessment import Feedback
from mltrail.exceptions import MltrailException
from mltrail.genai.scorers import scorer


@scorer
def exact(outputs, expectations):
    return outputs == expectations["expected"]


@scorer
def length(outputs):
    return len(outputs)


@scorer
def rated(inputs, outputs):
    return Feedback(value="yes" if outputs.isupper() else "no", rationale=f"{inputs['q']} gave {outputs}")


@scorer
def flaky(outputs):
    if outputs.endswith("?"):
        raise ValueError("cannot rate a question")
    return True


@scorer
def label(outputs):
    return "shout" if outputs.isupper() else "talk"


@scorer
def legacy(outputs):
    return 1


@scorer
def tone(outputs):
    return "yes"


def _data(words: list[str]) -> list[dict]:
    return [{"inputs": {"q": w}, "expectations": {"expected": w.upper()}} for w in words]


def v1(q: str) -> str:
    return "beta!" if q == "beta" else q.upper()


def v2(q: str) -> str:
    return "gamma?" if q == "gamma" else q.upper()


BASE_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]
CAND_WORDS = ["delta", "gamma", "beta", "alpha", "zeta"]  # another order; epsilon dropped, zeta added


def _evaluate_pair(experiment: str) -> tuple[str, str]:
    mlflow.set_experiment(experiment)
    base = mlflow.genai.evaluate(
        data=_data(BASE_WORDS), predict_fn=v1, scorers=[exact, length, rated, flaky, label, legacy]
    )
    cand = mlflow.genai.evaluate(
        data=_data(CAND_WORDS), predict_fn=v2, scorers=[exact, length, rated, flaky, label, tone]
    )
    return base.run_id, cand.run_id


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'm.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        yield (uri, *_evaluate_pair("compare"))
    finally:
        mlflow.set_tracking_uri(None)


def _by_q(df):
    return {row["inputs"]["q"]: row for _, row in df.iterrows()}


def test_rows_are_matched_on_inputs_and_graded_per_scorer(embedded):
    uri, base_id, cand_id = embedded
    df = mlflow.genai.compare_evaluations(base_id, cand_id, lower_is_better=["length"], tracking_uri=uri)
    rows = _by_q(df)
    assert sorted(rows) == ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    assert rows["beta"]["baseline_outputs"] == "beta!" and rows["beta"]["candidate_outputs"] == "BETA"
    assert (rows["beta"]["exact/baseline"], rows["beta"]["exact/candidate"]) == (False, True)
    assert rows["beta"]["exact/change"] == "better" and rows["gamma"]["exact/change"] == "worse"
    assert rows["alpha"]["exact/change"] == "same" and rows["delta"]["rated/change"] == "same"
    # numbers: length 5 -> 4 is better because lower_is_better names it; 5 -> 6 is worse
    assert rows["beta"]["length/change"] == "better" and rows["gamma"]["length/change"] == "worse"
    # yes/no feedback with both rationales side by side
    assert rows["gamma"]["rated/change"] == "worse"
    assert rows["gamma"]["rated/baseline_rationale"] == "gamma gave GAMMA"
    assert rows["gamma"]["rated/candidate_rationale"] == "gamma gave gamma?"
    # a scorer error on the candidate is worse than any value, and its message travels
    assert (
        rows["gamma"]["flaky/change"] == "worse" and "cannot rate" in rows["gamma"]["flaky/candidate_error"]
    )
    assert rows["beta"]["label/change"] == "changed"  # free text has no order
    assert rows["alpha"]["legacy/change"] == "missing" and rows["alpha"]["tone/change"] == "new"
    assert rows["epsilon"]["status"] == "removed" and rows["zeta"]["status"] == "added"
    assert rows["zeta"]["baseline_trace_id"] is None and rows["zeta"]["candidate_trace_id"].startswith("tr-")
    assert rows["alpha"]["input_key"] == rows["alpha"]["input_key"] and len(rows["alpha"]["input_key"]) == 16
    assert df.iloc[0]["inputs"]["q"] == "gamma"  # worst first: gamma got worse on five scorers


def test_aggregate_deltas_and_logged_metrics(embedded):
    uri, base_id, cand_id = embedded
    df = mlflow.genai.compare_evaluations(base_id, cand_id, tracking_uri=uri)
    agg = df.attrs["aggregates"]
    assert agg.loc["exact", "baseline_mean"] == pytest.approx(4 / 5)
    assert agg.loc["exact", "candidate_mean"] == pytest.approx(4 / 5)
    assert agg.loc["exact", "delta"] == pytest.approx(0)
    assert (agg.loc["exact", "better"], agg.loc["exact", "worse"]) == (1, 1)
    assert agg.loc["length", "better"] == 1  # without lower_is_better, 5 -> 6 is better
    assert agg.loc["tone", "new"] == 5 and agg.loc["legacy", "missing"] == 5
    assert df.attrs["metrics"]["exact/mean"] == {"baseline": 0.8, "candidate": 0.8, "delta": 0.0}
    assert (df.attrs["baseline_run_id"], df.attrs["candidate_run_id"]) == (base_id, cand_id)


def test_bad_input_is_a_clear_error(embedded):
    uri, base_id, _ = embedded
    with pytest.raises(MltrailException, match="two different"):
        mlflow.genai.compare_evaluations(base_id, base_id, tracking_uri=uri)
    with pytest.raises(MltrailException) as err:
        mlflow.genai.compare_evaluations(base_id, "f" * 32, tracking_uri=uri)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="models:/<name>/<version>"):
        mlflow.genai.compare_evaluations("models:/x/y/z", base_id, tracking_uri=uri)


def test_two_model_versions_through_their_evaluations(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mv.db'}")
    try:
        mlflow.set_experiment("versions")
        versions = []
        for predict in (v1, v2):
            model_id = mlflow.create_external_model(name="qa-bot").model_id
            mlflow.genai.evaluate(
                data=_data(["alpha", "beta", "gamma"]), predict_fn=predict, scorers=[exact], model_id=model_id
            )
            versions.append(mlflow.register_model(f"models:/{model_id}", "qa-bot").version)
        df = mlflow.genai.compare_evaluations(
            f"models:/qa-bot/{versions[0]}", f"models:/qa-bot/{versions[1]}"
        )
        rows = _by_q(df)
        assert rows["beta"]["exact/change"] == "better" and rows["gamma"]["exact/change"] == "worse"
        mlflow.MlflowClient().set_registered_model_alias("qa-bot", "champion", versions[0])
        assert (
            len(mlflow.genai.compare_evaluations("models:/qa-bot@champion", f"models:/qa-bot/{versions[1]}"))
            == 3
        )
        with pytest.raises(MltrailException, match=r"no genai\.evaluate run"):
            plain = mlflow.register_model(
                f"models:/{mlflow.create_external_model(name='bare').model_id}", "bare"
            )
            mlflow.genai.compare_evaluations(f"models:/bare/{plain.version}", f"models:/qa-bot/{versions[1]}")
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def served(live_server):
    mlflow.set_tracking_uri(live_server.url)
    try:
        yield (live_server.url, *_evaluate_pair("compare-served"))
    finally:
        mlflow.set_tracking_uri(None)


def test_over_rest_and_through_the_ui_route(served):
    url, base_id, cand_id = served
    df = mlflow.genai.compare_evaluations(base_id, cand_id, tracking_uri=url)
    assert _by_q(df)["gamma"]["exact/change"] == "worse" and len(df) == 6

    route = f"{url}/ajax-api/mltrail/evaluations/compare"
    resp = httpx.get(route, params={"run_ids": f"{base_id},{cand_id}", "lower_is_better": "length"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["baseline_run_id"] == base_id and "exact" in body["scorers"]
    by_q = {r["inputs"]["q"]: r for r in body["rows"]}
    assert by_q["beta"]["scores"]["length"]["change"] == "better"
    assert by_q["gamma"]["scores"]["flaky"]["candidate_error"]
    assert body["aggregates"]["exact"]["worse"] == 1 and body["metrics"]["exact/mean"]["delta"] == 0

    rows_route = f"{url}/ajax-api/mltrail/evaluations/rows"
    rows = httpx.get(rows_route, params={"run_id": cand_id}).json()
    assert (
        rows["scorers"] == ["exact", "flaky", "label", "length", "rated", "tone"] and len(rows["rows"]) == 5
    )
    gamma = next(r for r in rows["rows"] if r["inputs"] == {"q": "gamma"})
    assert gamma["outputs"] == "gamma?" and gamma["feedback"]["rated"]["rationale"] == "gamma gave gamma?"
    resp = httpx.get(rows_route, params={"run_id": "bad id!"})
    assert (resp.status_code, resp.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")

    for params, status, code in [
        ({"run_ids": base_id}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_ids": f"{base_id},{base_id}"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_ids": f"{base_id},bad id!"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_ids": f"{base_id},{'0' * 32}"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ]:
        resp = httpx.get(route, params=params)
        assert (resp.status_code, resp.json()["error_code"]) == (status, code), params
