"""Webhook secrets written by the client straight to a database: sealed with the server's key, or refused.

The client reads the key from the variables ``mltrail server`` reads
(``MLTRAIL_SECRETS_KEY_FILE``, else ``MLTRAIL_SECRET_KEY``), so a server on that
database opens the secret (tests/server/test_webhook_resume.py has a real server sign
with one). Without a key the client stores no secret at all.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from mltrail.exceptions import MltrailException
from mltrail.store.secrets import SecretBox
from mltrail.tracking import MlflowClient

KEY = "embedded-client-key-0123456789"
EVENTS = ["model_version.created"]


def _stored_secret(db, webhook_id: str) -> str | None:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT secret FROM webhooks WHERE webhook_id = ?", (webhook_id,)).fetchone()[0]


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("MLTRAIL_SECRET_KEY", raising=False)
    monkeypatch.delenv("MLTRAIL_SECRETS_KEY_FILE", raising=False)
    return tmp_path / "hooks.db"


def test_without_a_key_a_secret_is_refused_and_nothing_written(db) -> None:
    client = MlflowClient(f"sqlite:///{db}")
    with pytest.raises(MltrailException) as err:
        client.create_webhook("plain", "https://ci.example.com/h", EVENTS, secret="s3cret")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "MLTRAIL_SECRET_KEY" in err.value.message and "s3cret" not in err.value.message
    assert list(client.list_webhooks()) == []
    hook = client.create_webhook("unsigned", "https://ci.example.com/h", EVENTS)  # no secret: fine
    with pytest.raises(MltrailException, match="MLTRAIL_SECRET_KEY"):
        client.update_webhook(hook.webhook_id, secret="s3cret")
    assert _stored_secret(db, hook.webhook_id) is None
    client.update_webhook(hook.webhook_id, description="still editable")


def test_with_the_servers_key_the_secret_is_sealed(db, monkeypatch) -> None:
    monkeypatch.setenv("MLTRAIL_SECRET_KEY", KEY)
    client = MlflowClient(f"sqlite:///{db}")
    hook = client.create_webhook("sealed", "https://ci.example.com/h", EVENTS, secret="s3cret")
    stored = _stored_secret(db, hook.webhook_id)
    assert stored.startswith("enc:v1:") and "s3cret" not in stored
    server_box = SecretBox.from_config(SimpleNamespace(secrets_key_file=None))  # what a server opens with
    assert server_box.open(stored) == "s3cret"
    client.update_webhook(hook.webhook_id, secret="n3w-secret")
    assert server_box.open(_stored_secret(db, hook.webhook_id)) == "n3w-secret"
    with pytest.raises(MltrailException, match="cannot be decrypted"):  # another server's key: a clear error
        SecretBox("some-other-server-key-000").open(_stored_secret(db, hook.webhook_id))
    with pytest.raises(MltrailException, match="stored encrypted and the server has no key"):
        SecretBox(None).open(_stored_secret(db, hook.webhook_id))


def test_the_key_file_comes_first_as_for_the_server(db, tmp_path, monkeypatch) -> None:
    key_file = tmp_path / "secrets.key"
    key_file.write_text(KEY + "-from-file\n")
    monkeypatch.setenv("MLTRAIL_SECRETS_KEY_FILE", str(key_file))
    monkeypatch.setenv("MLTRAIL_SECRET_KEY", KEY)
    hook = MlflowClient(f"sqlite:///{db}").create_webhook(
        "filed", "https://ci.example.com/h", EVENTS, secret="f1le"
    )
    stored = _stored_secret(db, hook.webhook_id)
    assert SecretBox.from_config(SimpleNamespace(secrets_key_file=str(key_file))).open(stored) == "f1le"
    with pytest.raises(MltrailException):
        SecretBox(KEY).open(stored)


def test_a_too_short_key_is_refused(db, monkeypatch) -> None:
    monkeypatch.setenv("MLTRAIL_SECRET_KEY", "short")
    with pytest.raises(MltrailException, match="at least 16 characters"):
        MlflowClient(f"sqlite:///{db}").create_webhook(
            "short", "https://ci.example.com/h", EVENTS, secret="x"
        )


def test_a_secret_left_in_clear_is_used_as_it_is() -> None:
    """Rows an older client wrote in clear: a server with a key signs with them, unchanged."""
    assert SecretBox(KEY).open("legacy-plain-secret") == "legacy-plain-secret"
