"""The AI gateway's budget-policy and guardrail stores on SQLite, PostgreSQL and MariaDB.

Targets, paging, the spend read from call traces, guardrail ordering and cascades,
and the workspace each row belongs to.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from mltrail.exceptions import MltrailException
from mltrail.store.sql import schema as s
from mltrail.store.sql.database import database_for
from mltrail.store.sql.gateway import SqlGatewayStore
from mltrail.store.sql.gateway_budgets import SqlBudgetStore
from mltrail.store.sql.gateway_guardrails import SqlGuardrailStore
from mltrail.store.sql.scorers import SqlScorerStore
from mltrail.store.sql.tracking import SqlTrackingStore
from mltrail.store.workspace_scope import in_workspace

JUDGE = json.dumps({"name": "judge", "instructions_judge_pydantic_data": {"instructions": "{{ inputs }}?"}})
CUSTOM = json.dumps({"name": "custom", "call_source": "return True", "call_signature": "(outputs)"})


def _code(fn) -> str:
    with pytest.raises(MltrailException) as err:
        fn()
    return err.value.error_code


def _endpoint(db_uri: str, name: str) -> str:
    gateway = SqlGatewayStore(db_uri)
    secret = gateway.create_secret(f"{name}-key", "enc:v1:x", {"api_key": "sk-...abcd"}, "openai")
    definition = gateway.create_model_definition(f"{name}-model", secret["secret_id"], "openai", "gpt-4o")
    mapping = {"model_definition_id": definition["model_definition_id"], "linkage_type": "PRIMARY",
               "weight": 1.0, "fallback_order": None}  # fmt: skip
    return gateway.create_endpoint(name, [mapping], None, None, None, None, False)["endpoint_id"]


def _trace(db_uri: str, experiment_id: str, request_id: str, at_ms: int, cost: float, meta: dict) -> None:
    with database_for(db_uri).engine.begin() as conn:
        conn.execute(
            s.trace_info.insert().values(
                request_id=request_id,
                experiment_id=int(experiment_id),
                timestamp_ms=at_ms,
                status="OK",
                total_cost=cost,
            )
        )
        for key, value in meta.items():
            conn.execute(
                s.trace_request_metadata.insert().values(request_id=request_id, key=key, value=value)
            )


def test_budget_policies_targets_paging_and_spend(db_uri, tmp_path):
    store = SqlBudgetStore(db_uri)
    endpoint = _endpoint(db_uri, "chat")
    glob = store.create_policy("USD", 10.0, "DAYS", 1, "GLOBAL", "ALERT", "ops", target_value="dropped")
    assert "target_value" not in glob and glob["created_by"] == "ops" and glob["workspace"] == "default"
    capped = store.create_policy("USD", 1.0, "HOURS", 2, "ENDPOINT", "REJECT", target_value=endpoint)
    assert capped["duration"] == {"unit": "HOURS", "value": 2} and capped["target_value"] == endpoint
    assert (
        _code(lambda: store.create_policy("USD", 1.0, "DAYS", 1, "ENDPOINT", "REJECT"))
        == "INVALID_PARAMETER_VALUE"
    )
    assert _code(lambda: store.create_policy("USD", 1.0, "DAYS", 1, "ENDPOINT", "REJECT", None, "e-x")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )

    first, token = store.list_policies(1)
    rest, last = store.list_policies(1, token)
    assert token and last is None
    assert [p["budget_policy_id"] for p in first + rest] == sorted(
        [glob["budget_policy_id"], capped["budget_policy_id"]]
    )
    assert _code(lambda: store.list_policies(0)) == "INVALID_PARAMETER_VALUE"

    # A scope change forgets the old target; ENDPOINT again needs one.
    moved = store.update_policy(capped["budget_policy_id"], "ann", target_scope="USER", target_value="ann")
    assert (moved["target_scope"], moved["target_value"], moved["last_updated_by"]) == ("USER", "ann", "ann")
    assert _code(lambda: store.update_policy(capped["budget_policy_id"], target_scope="ENDPOINT")) == (
        "INVALID_PARAMETER_VALUE"
    )
    assert store.get_policy(capped["budget_policy_id"])["target_scope"] == "USER"  # nothing half-written

    # The spend of a window, from the gateway's call traces (other traces do not count).
    tracking = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    exp = tracking.create_experiment("gateway/chat")
    marker = "mlflow.gateway.endpointId"
    _trace(db_uri, exp, "tr-1", 1_000, 0.25, {marker: endpoint, "mlflow.auth.username": "ann"})
    _trace(db_uri, exp, "tr-2", 2_000, 0.5, {marker: "e-other"})
    _trace(db_uri, exp, "tr-3", 3_000, 4.0, {})
    _trace(db_uri, exp, "tr-4", 9_000, 8.0, {marker: endpoint})
    assert store.spend(0, 5_000) == pytest.approx(0.75)
    assert store.spend(0, 5_000, endpoint_id=endpoint) == pytest.approx(0.25)
    assert store.spend(0, 5_000, username="ann") == pytest.approx(0.25)
    assert store.spend(0, 5_000, workspace="default") == pytest.approx(0.75)
    assert store.spend(0, 5_000, workspace="elsewhere") == 0.0

    # Rows belong to their workspace; enforcement sees every one.
    with in_workspace("team-b"):
        theirs = store.create_policy("USD", 3.0, "MONTHS", 1, "WORKSPACE", "REJECT")
        assert [p["budget_policy_id"] for p in store.list_policies()[0]] == [theirs["budget_policy_id"]]
        assert _code(lambda: store.get_policy(glob["budget_policy_id"])) == "RESOURCE_DOES_NOT_EXIST"
    assert theirs["workspace"] == "team-b"
    assert len(store.all_policies()) == 3
    with in_workspace("default"):
        assert len(store.list_policies()[0]) == 2
    for policy in store.all_policies():
        with in_workspace(policy["workspace"]):
            store.delete_policy(policy["budget_policy_id"])
    assert store.all_policies() == []


def test_guardrails_configs_order_and_cascade(db_uri, tmp_path):
    tracking = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    scorers = SqlScorerStore(db_uri)
    exp = tracking.create_experiment("scorers")
    judge = scorers.register_scorer(exp, "judge", JUDGE)
    custom = scorers.register_scorer(exp, "custom", CUSTOM)
    endpoint = _endpoint(db_uri, "guarded")
    store = SqlGuardrailStore(db_uri)

    a = store.create_guardrail("a", judge.scorer_id, 1, "BEFORE", "VALIDATION", created_by="ops")
    assert a["scorer"]["scorer_name"] == "judge" and a["scorer"]["experiment_id"] == int(exp)
    assert a["scorer"]["serialized_scorer"] == JUDGE and "action_endpoint_id" not in a
    b = store.create_guardrail("b", judge.scorer_id, 1, "AFTER", "SANITIZATION", action_endpoint_id=endpoint)
    assert b["action_endpoint_id"] == "guarded"  # MLflow's wire field carries the endpoint's name
    assert _code(lambda: store.create_guardrail("c", custom.scorer_id, 1, "BEFORE", "VALIDATION")) == (
        "INVALID_PARAMETER_VALUE"
    )
    assert _code(lambda: store.create_guardrail("c", judge.scorer_id, 7, "BEFORE", "VALIDATION")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert (
        _code(lambda: store.create_guardrail("c", "nope", 1, "BEFORE", "VALIDATION"))
        == "RESOURCE_DOES_NOT_EXIST"
    )

    store.add_to_endpoint(endpoint, a["guardrail_id"])
    store.add_to_endpoint(endpoint, b["guardrail_id"], 5)
    assert _code(lambda: store.add_to_endpoint(endpoint, b["guardrail_id"])) == "RESOURCE_ALREADY_EXISTS"
    assert _code(lambda: store.add_to_endpoint("e-none", b["guardrail_id"])) == "RESOURCE_DOES_NOT_EXIST"
    ordered = store.endpoint_configs(endpoint)
    assert [(c["guardrail_id"], c.get("execution_order")) for c in ordered] == [
        (b["guardrail_id"], 5),
        (a["guardrail_id"], None),
    ]
    assert ordered[0]["guardrail"]["name"] == "b"
    assert store.update_config(endpoint, a["guardrail_id"], 1)["execution_order"] == 1
    assert store.endpoint_configs(endpoint)[0]["guardrail_id"] == a["guardrail_id"]

    page, token = store.list_guardrails(1)
    assert len(page) == 1 and token and len(store.list_guardrails(1, token)[0]) == 1
    with in_workspace("team-b"):  # another workspace sees none of it
        assert store.list_guardrails()[0] == []
        assert _code(lambda: store.get_guardrail(a["guardrail_id"])) == "RESOURCE_DOES_NOT_EXIST"
        # ... and its endpoint is another workspace's, as absent as one never made
        assert _code(lambda: store.endpoint_configs(endpoint)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: store.add_to_endpoint(endpoint, a["guardrail_id"])) == "RESOURCE_DOES_NOT_EXIST"

    store.delete_guardrail(b["guardrail_id"])  # its config goes with it
    assert [c["guardrail_id"] for c in store.endpoint_configs(endpoint)] == [a["guardrail_id"]]
    store.remove_from_endpoint(endpoint, a["guardrail_id"])
    assert _code(lambda: store.remove_from_endpoint(endpoint, a["guardrail_id"])) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_guardrail(a["guardrail_id"])
    with database_for(db_uri).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.gateway_guardrail_configs)).scalar() == 0
