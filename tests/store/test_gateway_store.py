"""The AI gateway's SQL store on SQLite, PostgreSQL and MariaDB: uniqueness, cascades, usage counters."""

from __future__ import annotations

import pytest

from mltrail.exceptions import MltrailException
from mltrail.store.sql.gateway import SqlGatewayStore


def _config(definition: dict, linkage: str = "PRIMARY", order: int | None = None) -> dict:
    return {"model_definition_id": definition["model_definition_id"], "linkage_type": linkage, "weight": 1.0,
            "fallback_order": order}  # fmt: skip


def test_gateway_store_rules_and_usage(db_uri):
    store = SqlGatewayStore(db_uri)
    secret = store.create_secret(
        "key", "enc:v1:sealed", {"api_key": "sk-...abcd"}, "openai", {"api_base": "x"}
    )
    with pytest.raises(MltrailException) as taken:
        store.create_secret("key", "enc:v1:other", {}, None)
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert store.sealed_secret(secret["secret_id"]) == ("enc:v1:sealed", {"api_base": "x"})

    main = store.create_model_definition("main", secret["secret_id"], "openai", "gpt-4o-mini")
    spare = store.create_model_definition("spare", secret["secret_id"], "openai", "gpt-4o")
    endpoint = store.create_endpoint(
        "chat", [_config(main), _config(spare, "FALLBACK", 1)], "me", None, {"max_attempts": 1}, None, False
    )
    assert [m["linkage_type"] for m in endpoint["model_mappings"]] == ["PRIMARY", "FALLBACK"]
    assert endpoint["fallback_config"] == {"max_attempts": 1}
    with pytest.raises(MltrailException) as used:
        store.delete_model_definition(spare["model_definition_id"])
    assert used.value.error_code == "INVALID_STATE"
    with pytest.raises(MltrailException) as twice:
        store.attach_model(endpoint["endpoint_id"], _config(main), None)
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"

    for tokens in ((3, 4, False), (1, 0, True)):
        store.record_usage(endpoint["endpoint_id"], *tokens)
    [today] = store.usage()
    assert (today["requests"], today["errors"], today["input_tokens"], today["output_tokens"]) == (2, 1, 4, 4)

    store.delete_secret(secret["secret_id"])  # definitions stay, without a secret
    assert "secret_id" not in store.get_model_definition(main["model_definition_id"])
    store.delete_endpoint(endpoint["endpoint_id"])
    assert store.usage() == [] and store.list_endpoints() == []
    store.delete_model_definition(spare["model_definition_id"])
