"""Online evaluation: scorers registered on an experiment judge its new traces by themselves.

A real ``mltrail server`` (with its scorer worker polling every 0.2 s) and the
loopback OpenAI fake as the judge's provider. The official client (mlflow 3.17.2)
registers a ``make_judge`` judge and starts it with a filter; mltrail's SDK registers
a ``@scorer`` function, starts, stops and deletes it. Then two workers on one SQLite
and one PostgreSQL database (one in this process, one ``mltrail scorer-worker``
process) judge each trace exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.feedback import trace_feedback, wait_feedback
from support.live_server import server_env, start_server, stop_server
from support.openai_server import OpenAIServer


def _verdict(request: dict) -> str:
    """The judge: polite (true) unless the judged output shouts."""
    prompt = " ".join(m["content"] for m in request["messages"] if isinstance(m.get("content"), str))
    polite = "GO AWAY" not in prompt
    return json.dumps({"result": polite, "rationale": f"polite={polite}"})


@pytest.fixture(scope="module")
def judge_api():
    with OpenAIServer(_verdict) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, judge_api):
    env = {
        "OPENAI_BASE_URL": judge_api.base_url,
        "OPENAI_API_KEY": "test",
        "MLTRAIL_SCORER_POLL_INTERVAL": "0.2",
    }
    live = start_server(tmp_path_factory.mktemp("online"), env=env)
    yield live
    stop_server(live)


@pytest.fixture
def official(server):
    import mlflow

    mlflow.set_tracking_uri(server.url)
    try:
        yield mlflow, mlflow.set_experiment(f"official-{uuid.uuid4().hex[:8]}").experiment_id
    finally:
        mlflow.set_tracking_uri(None)


def _official_trace(mlflow, text: str, env: str) -> str:
    @mlflow.trace(name="chat")
    def chat(question: str) -> str:
        mlflow.update_current_trace(tags={"env": env})
        return text

    chat("hello?")
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def test_official_client_judge_runs_on_new_traces(official, server, judge_api, monkeypatch):
    mlflow, exp = official
    from mlflow.genai.judges import make_judge
    from mlflow.genai.scorers import ScorerSamplingConfig, delete_scorer, get_scorer, list_scorers

    judge = make_judge(
        name="polite",
        instructions="Is the answer {{ outputs }} polite?",
        model="openai:/gpt-4o-mini",
        feedback_value_type=bool,
    )
    registered = judge.register(name="polite")
    started = registered.start(
        sampling_config=ScorerSamplingConfig(sample_rate=1.0, filter_string="tags.env = 'prod'")
    )
    assert (started.sample_rate, started.filter_string) == (1.0, "tags.env = 'prod'")
    assert [s.name for s in list_scorers()] == ["polite"]
    assert get_scorer(name="polite").sample_rate == 1.0

    rude = _official_trace(mlflow, "GO AWAY", "prod")
    kind = _official_trace(mlflow, "Happy to help!", "prod")
    skipped = _official_trace(mlflow, "Happy to help!", "dev")  # filtered out
    [on_rude] = wait_feedback(server.url, rude, "polite")
    [on_kind] = wait_feedback(server.url, kind, "polite")
    assert on_rude["feedback"]["value"] is False and on_kind["feedback"]["value"] is True
    assert on_kind["source"] == {"source_type": "LLM_JUDGE", "source_id": "openai:/gpt-4o-mini"}
    assert on_kind["rationale"] == "polite=True"
    # The official client reads the feedback back as a Feedback on the trace.
    fb = [a for a in mlflow.get_trace(kind).info.assessments if a.name == "polite"]
    assert fb[0].value is True and fb[0].source.source_type == "LLM_JUDGE"

    from mltrail.store.sql.scorers import SqlScorerStore

    ledger = SqlScorerStore(server.backend).ledger(started_id(server, exp, "polite"))
    assert ledger == {rude: "DONE", kind: "DONE", skipped: "SKIPPED"}
    assert trace_feedback(server.url, skipped, "polite") == []
    assert len(judge_api.requests) >= 2

    # Registrations move between the clients: mltrail loads the official judge and the other way round.
    import mltrail.genai.scorers as ours
    from mltrail.genai.judges import make_judge as our_make_judge

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", server.url)
    [loaded] = ours.list_scorers(experiment_id=exp)
    assert (loaded.instructions, loaded.value_type, loaded.sample_rate) == (judge.instructions, bool, 1.0)
    our_make_judge(name="strict", instructions="Is {{ outputs }} short?").register(experiment_id=exp)
    theirs = get_scorer(name="strict")
    assert theirs.instructions == "Is {{ outputs }} short?" and theirs.model and theirs.sample_rate is None
    delete_scorer(name="strict", version=1)

    started.update(sampling_config=ScorerSamplingConfig(sample_rate=0.5))
    assert get_scorer(name="polite").sample_rate == 0.5
    assert get_scorer(name="polite").stop().sample_rate == 0
    delete_scorer(name="polite", version="all")
    assert list_scorers() == []


def started_id(server, exp: str, name: str) -> str:
    body = httpx.get(f"{server.url}/api/3.0/mlflow/scorers/get", params={"experiment_id": exp, "name": name})
    return body.json()["scorer"]["scorer_id"]


def test_mltrail_code_scorer_start_stop_versions(server, monkeypatch):
    import mltrail
    from mltrail.genai.scorers import ScorerSamplingConfig, delete_scorer, get_scorer, list_scorers, scorer

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", server.url)
    mltrail.set_experiment(f"sdk-{uuid.uuid4().hex[:8]}")

    @scorer
    def short(outputs) -> bool:
        """Short answers pass."""
        return len(str(outputs)) < 10

    @scorer
    def canary(outputs):
        return Feedback(value="seen", rationale=f"{len(str(outputs))} chars")  # noqa: F821 (MLflow's scope)

    reg = short.register()
    assert reg.status == "UNREGISTERED" and reg.sample_rate is None
    live = reg.start(sampling_config=ScorerSamplingConfig(sample_rate=1.0))
    assert (live.status, live.sample_rate) == ("STARTED", 1.0)
    canary.register().start(sampling_config=ScorerSamplingConfig(sample_rate=1.0))
    assert sorted(s.name for s in list_scorers()) == ["canary", "short"]

    @mltrail.trace
    def answer(q: str) -> str:
        return "ok" if q == "short" else "a much longer answer"

    answer("short")
    mltrail.flush_trace_async_logging()
    first = mltrail.get_last_active_trace_id()
    [fb] = wait_feedback(server.url, first, "short")
    assert fb["feedback"]["value"] is True
    assert fb["source"] == {"source_type": "CODE", "source_id": "short"}
    assert fb["metadata"]["mltrail.onlineScoring.scorerVersion"] == "1"
    [seen] = wait_feedback(server.url, first, "canary")
    assert seen["feedback"]["value"] == "seen" and seen["rationale"] == "2 chars"

    stopped = live.stop()
    assert (stopped.status, stopped.sample_rate) == ("STOPPED", 0.0)
    answer("long")
    mltrail.flush_trace_async_logging()
    second = mltrail.get_last_active_trace_id()
    wait_feedback(server.url, second, "canary")  # a pass over the new trace has happened
    assert trace_feedback(server.url, second, "short") == []

    # A second registration is version 2; the code came back as stored and runs locally too.
    short.register()
    again = get_scorer(name="short")
    assert again(outputs="tiny") is True and again.sample_rate == 0.0
    with pytest.raises(Exception, match="version"):
        delete_scorer(name="short")
    delete_scorer(name="short", version=1)
    assert get_scorer(name="short", version=2).name == "short"
    delete_scorer(name="short", version="all")
    assert [s.name for s in list_scorers()] == ["canary"]
    get_scorer(name="canary").stop()


def test_bad_requests_are_400_or_404(server, monkeypatch):
    api = f"{server.url}/api/3.0/mlflow/scorers"
    exp = httpx.post(
        f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": f"bad-{uuid.uuid4().hex[:8]}"}
    ).json()["experiment_id"]
    good = json.dumps(
        {"name": "s", "call_source": "return 1", "call_signature": "()", "original_func_name": "s"}
    )
    cases = [
        (api + "/register", {"experiment_id": exp, "name": "s", "serialized_scorer": "{not json"}, 400),
        (api + "/register", {"experiment_id": exp, "name": "s", "serialized_scorer": '{"name": "s"}'}, 400),
        (api + "/register", {"experiment_id": exp, "name": "", "serialized_scorer": good}, 400),
        (api + "/register", {"experiment_id": "999999", "name": "s", "serialized_scorer": good}, 404),
    ]
    for url, body, status in cases:
        answer = httpx.post(url, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert httpx.post(
        api + "/register", json={"experiment_id": exp, "name": "s", "serialized_scorer": good}
    ).is_success
    upsert = api + "/online-config"
    for body in (
        {"experiment_id": exp, "name": "s", "sample_rate": 1.5},
        {"experiment_id": exp, "name": "s", "sample_rate": 1.0, "filter_string": "tags.x === 'y'"},
        {"experiment_id": exp, "name": "s", "sample_rate": "high"},
    ):
        answer = httpx.put(upsert, json=body)
        assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", (
            answer.text
        )
    missing = httpx.put(upsert, json={"experiment_id": exp, "name": "nobody", "sample_rate": 1.0})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    got = httpx.get(api + "/get", params={"experiment_id": exp, "name": "s", "version": 7})
    assert got.status_code == 404
    listed = httpx.get(api + "/list", params={"experiment_id": exp}).json()["scorers"]
    assert [(s["scorer_name"], s["scorer_version"]) for s in listed] == [("s", 1)]
    configs = httpx.get(api + "/online-configs", params={"scorer_ids": listed[0]["scorer_id"]}).json()
    assert configs == {"configs": []}  # registered, never started

    # A kind mltrail cannot run (MLflow's ensembles) is stored, listed and kept as it was.
    ensemble = {"name": "ens", "ensemble_scorer_data": {"ensemble_fn": "mean", "scorers": []}}
    body = {"experiment_id": exp, "name": "ens", "serialized_scorer": json.dumps(ensemble)}
    assert httpx.post(api + "/register", json=body).is_success
    from mltrail.genai.scorers import list_scorers

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", server.url)
    ens = next(s for s in list_scorers(experiment_id=exp) if s.name == "ens")
    with pytest.raises(Exception, match="cannot run"):
        ens(outputs="x")
    ens.register(name="ens", experiment_id=exp)
    again = httpx.get(api + "/get", params={"experiment_id": exp, "name": "ens"}).json()["scorer"]
    assert again["scorer_version"] == 2 and json.loads(again["serialized_scorer"]) == ensemble


def test_sampling_is_deterministic_and_proportional():
    from mltrail.genai.scorers.online import sampled

    ids = [f"tr-{i:04d}" for i in range(400)]
    half = [t for t in ids if sampled(t, "scorer-1", 0.5)]
    assert 150 < len(half) < 250
    assert half == [t for t in ids if sampled(t, "scorer-1", 0.5)]
    assert not any(sampled(t, "scorer-1", 0.0) for t in ids)
    assert all(sampled(t, "scorer-1", 1.0) for t in ids)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_uri")


def test_two_workers_judge_each_trace_once(database, monkeypatch):
    import mltrail
    from mltrail.genai.scorers import ScorerSamplingConfig, scorer
    from mltrail.genai.scorers.online import OnlineScoringWorker
    from mltrail.store.sql.scorers import SqlScorerStore

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", database)
    exp = mltrail.set_experiment(f"shared-{uuid.uuid4().hex[:8]}").experiment_id

    @scorer
    def slow_length(outputs) -> int:
        import time

        time.sleep(0.03)
        return len(str(outputs))

    registered = slow_length.register(name=f"len-{exp}").start(
        sampling_config=ScorerSamplingConfig(sample_rate=1.0)
    )

    @mltrail.trace
    def reply(i: int) -> str:
        return "x" * i

    for i in range(12):
        reply(i)
    mltrail.flush_trace_async_logging()
    trace_ids = [t.info.trace_id for t in mltrail.search_traces(locations=[exp], return_type="list")]
    assert len(trace_ids) == 12

    other = subprocess.Popen(
        [sys.executable, "-m", "mltrail.cli.main", "scorer-worker", "--backend-store-uri", database, "--once",
         "--threads", "2"],
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    here = OnlineScoringWorker(database, threads=2, name="in-process")
    judged_here = 0
    while other.poll() is None:
        judged_here += here.run_once()
        time.sleep(0.02)
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0, out
    judged_there = int(out.strip().splitlines()[-1].split()[1])
    judged_here += here.run_once()  # what the other process left
    assert judged_here + judged_there == 12

    client = mltrail.MlflowClient()
    for trace_id in trace_ids:
        found = [a for a in client.get_trace(trace_id).info.assessments if a.name == registered.name]
        assert len(found) == 1, trace_id
    scorer_id = SqlScorerStore(database).get_scorer(exp, registered.name).scorer_id
    assert SqlScorerStore(database).ledger(scorer_id) == dict.fromkeys(trace_ids, "DONE")
    registered.stop()


def test_logins_registering_needs_edit_reading_needs_read(tmp_path):
    with basic_auth_server(tmp_path / "auth", "--no-scorer-worker", users=("alice",)) as live:
        admin = httpx.Client(base_url=live.url, auth=(ADMIN, ADMIN_PASSWORD), timeout=30)
        user = httpx.Client(base_url=live.url, auth=("alice", PASSWORD), timeout=30)
        exp = admin.post("/api/2.0/mlflow/experiments/create", json={"name": "guarded"}).json()[
            "experiment_id"
        ]
        code = json.dumps(
            {"name": "s", "call_source": "return 1", "call_signature": "()", "original_func_name": "s"}
        )
        register = {"experiment_id": exp, "name": "s", "serialized_scorer": code}
        api = "/api/3.0/mlflow/scorers"

        denied = user.post(api + "/register", json=register)
        assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
        assert admin.post(api + "/register", json=register).status_code == 200
        listed = user.get(api + "/list", params={"experiment_id": exp})  # READ by default
        assert [s["scorer_name"] for s in listed.json()["scorers"]] == ["s"]
        start = {"experiment_id": exp, "name": "s", "sample_rate": 1.0}
        assert user.put(api + "/online-config", json=start).status_code == 403
        assert (
            user.request("DELETE", api + "/delete", json={"experiment_id": exp, "name": "s"}).status_code
            == 403
        )

        grant = {"experiment_id": exp, "username": "alice", "permission": "EDIT"}
        assert admin.post("/api/2.0/mlflow/experiments/permissions/create", json=grant).status_code == 200
        assert user.post(api + "/register", json=register).json()["version"] == 2
        assert user.put(api + "/online-config", json=start).json()["config"]["sample_rate"] == 1.0

        from mltrail.store.sql.scorers import SqlScorerStore

        versions = SqlScorerStore(live.backend).list_scorer_versions(exp, "s")
        assert [(v.scorer_version, v.created_by) for v in versions] == [(1, "admin"), (2, "alice")]
