"""The webhook store and its delivery log on SQLite, PostgreSQL and MariaDB (migration 0010's tables)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from mltrail.entities.webhook import DELIVERY_FAILED, DELIVERY_PENDING, DELIVERY_SUCCEEDED, WebhookEvent
from mltrail.exceptions import MltrailException
from mltrail.store.sql.schema import webhook_deliveries
from mltrail.store.sql.webhooks import SqlWebhookStore
from support.sql_backends import SQL_BACKENDS

MV_CREATED = WebhookEvent("model_version", "created")
ALIAS_SET = WebhookEvent("model_version_alias", "created")


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def store(request, tmp_path_factory) -> SqlWebhookStore:
    if request.param == "sqlite":
        return SqlWebhookStore(f"sqlite:///{tmp_path_factory.mktemp('webhook-store') / 'mltrail.db'}")
    return SqlWebhookStore(
        request.getfixturevalue("postgres_uri" if request.param == "postgres" else "mysql_uri")
    )


def _name() -> str:
    return f"hook-{uuid.uuid4().hex[:10]}"


def test_create_get_update_delete(store: SqlWebhookStore) -> None:
    hook = store.create_webhook(_name(), "https://example.com/a", [MV_CREATED, MV_CREATED, ALIAS_SET],
                                description="d", secret="enc:v1:xyz")  # fmt: skip
    assert sorted(map(str, hook.events)) == ["model_version.created", "model_version_alias.created"]
    assert hook.status == "ACTIVE" and hook.secret == "enc:v1:xyz" and "secret" not in hook.to_dict()
    updated = store.update_webhook(hook.webhook_id, events=[ALIAS_SET], status="DISABLED", description="e")
    assert [str(e) for e in updated.events] == ["model_version_alias.created"]
    assert (updated.status, updated.description, updated.name, updated.url) == (
        "DISABLED",
        "e",
        hook.name,
        hook.url,
    )
    assert updated.secret == "enc:v1:xyz"  # untouched when not given
    store.delete_webhook(hook.webhook_id)
    for call in (lambda: store.get_webhook(hook.webhook_id), lambda: store.delete_webhook(hook.webhook_id),
                 lambda: store.update_webhook(hook.webhook_id, name="x")):  # fmt: skip
        with pytest.raises(MltrailException) as err:
            call()
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_lists_page_and_filter_by_event(store: SqlWebhookStore) -> None:
    event = WebhookEvent("prompt_alias", "deleted")  # only this test subscribes to it
    made = [store.create_webhook(_name(), f"https://example.com/{i}", [event]) for i in range(3)]
    other = store.create_webhook(_name(), "https://example.com/other", [MV_CREATED])
    store.delete_webhook(made[0].webhook_id)
    first = store.list_webhooks_by_event(event, max_results=1)
    assert len(first) == 1 and first.token
    rest = store.list_webhooks_by_event(event, max_results=10, page_token=first.token)
    assert {w.webhook_id for w in [*first, *rest]} == {made[1].webhook_id, made[2].webhook_id}
    everything = {w.webhook_id for w in store.list_webhooks(max_results=1000)}
    assert {made[1].webhook_id, made[2].webhook_id, other.webhook_id} <= everything
    assert made[0].webhook_id not in everything
    with pytest.raises(MltrailException):
        store.list_webhooks(max_results=1001)


@pytest.mark.parametrize("name", ["", "-x", "x-", "a" * 64, "has space", "semi;colon"])
def test_bad_names_refused(store: SqlWebhookStore, name: str) -> None:
    with pytest.raises(MltrailException) as err:
        store.create_webhook(name, "https://example.com/", [MV_CREATED])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_delivery_log(store: SqlWebhookStore) -> None:
    hook = store.create_webhook(_name(), "https://example.com/log", [MV_CREATED])
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for delivery_id in ids:
        store.create_delivery(delivery_id, hook.webhook_id, "model_version.created")
    store.record_attempt(ids[0], DELIVERY_PENDING, 1, 503, "HTTP 503", done=False)
    store.record_attempt(ids[0], DELIVERY_SUCCEEDED, 2, 200, None, done=True)
    store.record_attempt(ids[1], DELIVERY_FAILED, 4, None, "x" * 5000, done=True)
    log = {d.delivery_id: d for d in store.list_deliveries(hook.webhook_id, max_results=10)}
    assert (log[ids[0]].status, log[ids[0]].attempts, log[ids[0]].response_status) == (
        DELIVERY_SUCCEEDED,
        2,
        200,
    )
    assert log[ids[0]].error_message is None and log[ids[0]].completed_timestamp is not None
    assert log[ids[1]].status == DELIVERY_FAILED and len(log[ids[1]].error_message or "") == 1000
    assert log[ids[2]].status == DELIVERY_PENDING and log[ids[2]].attempts == 0
    page = store.list_deliveries(hook.webhook_id, max_results=2)
    assert len(page) == 2 and len(store.list_deliveries(hook.webhook_id, page_token=page.token)) == 1
    store.delete_webhook(hook.webhook_id)
    assert len(store.list_deliveries(hook.webhook_id)) == 3  # the log outlives the webhook
    with pytest.raises(MltrailException) as err:
        store.list_deliveries("no-such-webhook")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_prune_keeps_recent_and_pending_rows(store: SqlWebhookStore) -> None:
    hook = store.create_webhook(_name(), "https://example.com/prune", [MV_CREATED])
    old_done, old_pending, recent = (str(uuid.uuid4()) for _ in range(3))
    for delivery_id in (old_done, old_pending, recent):
        store.create_delivery(delivery_id, hook.webhook_id, "model_version.created")
    store.record_attempt(old_done, DELIVERY_SUCCEEDED, 1, 200, None, done=True)
    store.record_attempt(recent, DELIVERY_SUCCEEDED, 1, 200, None, done=True)
    with store.db.engine.begin() as conn:  # age two of them by a day
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.delivery_id.in_([old_done, old_pending]))
            .values(created_timestamp=webhook_deliveries.c.created_timestamp - 86_400_000)
        )
    cutoff = int(time.time() * 1000) - 3_600_000
    assert store.prune_deliveries(cutoff) >= 1
    assert {d.delivery_id for d in store.list_deliveries(hook.webhook_id)} == {old_pending, recent}


def test_pending_delivery_is_claimed_when_due_and_free(store: SqlWebhookStore) -> None:
    hook = store.create_webhook(_name(), "https://example.com/claim", [MV_CREATED])
    delivery_id, body = str(uuid.uuid4()), '{"entity": "model_version", "action": "created", "data": {}}'
    now = int(time.time() * 1000)
    store.create_delivery(
        delivery_id, hook.webhook_id, "model_version.created", body, 1_700_000_123, now + 60_000
    )
    assert store.claim_delivery(delivery_id, 60_000) is None  # the creating server's lease runs
    assert dict(store.pending_deliveries())[delivery_id] >= now + 60_000  # free once the lease ends
    store.record_attempt(delivery_id, DELIVERY_PENDING, 1, 503, "HTTP 503", False, now + 60_000)
    assert store.claim_delivery(delivery_id, 60_000) is None  # not due for a minute
    (log,) = store.list_deliveries(hook.webhook_id)
    assert (
        log.next_attempt_timestamp == now + 60_000 and log.to_dict()["next_attempt_timestamp"] == now + 60_000
    )
    store.record_attempt(delivery_id, DELIVERY_PENDING, 1, 503, "HTTP 503", False, now - 1)  # due now
    got = store.claim_delivery(delivery_id, 1)
    assert got is not None and (got.attempts, got.payload, got.request_timestamp, got.event) == (
        1, body, 1_700_000_123, "model_version.created",
    )  # fmt: skip
    time.sleep(0.01)  # the 1 ms lease ran out: the delivery may be taken over
    taken = store.claim_delivery(delivery_id, 60_000)
    assert taken is not None and taken.lease > got.lease
    assert store.claim_delivery(delivery_id, 60_000) is None
    # The first claimer's late answer changes nothing; the holder's is recorded.
    assert not store.record_attempt(delivery_id, DELIVERY_FAILED, 2, 500, "late", True, lease=got.lease)
    (log,) = store.list_deliveries(hook.webhook_id)
    assert (log.status, log.attempts) == (DELIVERY_PENDING, 1)
    assert store.record_attempt(delivery_id, DELIVERY_SUCCEEDED, 2, 200, None, True, lease=taken.lease)
    assert store.claim_delivery(delivery_id, 60_000) is None  # finished
    assert delivery_id not in dict(store.pending_deliveries(limit=100_000))
    with store.db.read() as conn:  # a finished delivery keeps neither its body nor a lease
        row = conn.execute(
            sa.select(webhook_deliveries.c.payload, webhook_deliveries.c.claimed_until).where(
                webhook_deliveries.c.delivery_id == delivery_id
            )
        ).one()
    assert tuple(row) == (None, None)


def test_concurrent_claims_have_one_winner(store: SqlWebhookStore) -> None:
    hook = store.create_webhook(_name(), "https://example.com/race", [MV_CREATED])
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for delivery_id in ids:
        store.create_delivery(delivery_id, hook.webhook_id, "model_version.created", "{}", 1_700_000_000)
    claims: list[tuple[str, object]] = []
    barrier = threading.Barrier(6)

    def claimer() -> None:
        barrier.wait()
        for delivery_id in ids:
            claims.append((delivery_id, store.claim_delivery(delivery_id, 60_000)))

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for delivery_id in ids:
        won = [got for d, got in claims if d == delivery_id and got is not None]
        assert len(won) == 1, delivery_id
        store.record_attempt(delivery_id, DELIVERY_SUCCEEDED, 1, 200, None, done=True)
