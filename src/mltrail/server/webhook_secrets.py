"""Webhook secrets at rest: AES-256-GCM with the server's key, when it has one.

The key comes from ``MLTRAIL_SECRET_KEY`` (any string of at least 16 characters)
or from the file named by ``--secrets-key-file`` (its contents); the AES key is
the SHA-256 of it. A stored secret is then ``enc:v1:<base64(nonce + ciphertext)>``
and a copy of the database alone does not reveal it. Without a key, secrets are
stored as given (MLflow encrypts with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` or
else with a key made up per process, which loses every secret at a restart).

A secret stored encrypted needs the same key to be read back: a server started
without it (or with another) refuses to deliver to that webhook and says why in
the delivery log, rather than sign with something else.

Example::

    box = SecretBox.from_config(config)
    stored = box.seal("s3cret")          # "enc:v1:..." with a key, "s3cret" without
    box.open(stored)                     # "s3cret"
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Any

from mltrail.exceptions import INVALID_STATE, MltrailException

KEY_ENV = "MLTRAIL_SECRET_KEY"
_PREFIX = "enc:v1:"
_MIN_KEY_CHARS = 16
_NONCE_BYTES = 12
_AAD = b"mltrail-webhook-secret"


def _key_material(config: Any) -> str | None:
    path = getattr(config, "secrets_key_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read().strip()
        except OSError as err:
            raise MltrailException(
                f"Cannot read the secrets key file: {err.strerror}", INVALID_STATE
            ) from None
        return text
    return os.environ.get(KEY_ENV) or None


class SecretBox:
    """Seals and opens webhook secrets with the server's key (or passes them through without one)."""

    def __init__(self, key_material: str | None) -> None:
        self._aead: Any = None
        if key_material is not None:
            if len(key_material) < _MIN_KEY_CHARS:
                raise MltrailException(
                    f"The server's secret key must be at least {_MIN_KEY_CHARS} characters", INVALID_STATE
                )
            # Imported here: only servers configured with a key need the cryptography package.
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(hashlib.sha256(key_material.encode("utf-8")).digest())

    @classmethod
    def from_config(cls, config: Any) -> SecretBox:
        """The box for a server's settings (``--secrets-key-file``, else ``MLTRAIL_SECRET_KEY``)."""
        return cls(_key_material(config))

    @property
    def encrypts(self) -> bool:
        """Whether secrets are stored encrypted."""
        return self._aead is not None

    def seal(self, secret: str | None) -> str | None:
        """What to store for ``secret`` (``None`` and ``""`` stay as they are)."""
        if not secret or self._aead is None:
            return secret
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), _AAD)
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str | None) -> str | None:
        """The secret behind a stored value; raises when it is sealed and this key cannot open it."""
        if not stored or not stored.startswith(_PREFIX):
            return stored or None
        if self._aead is None:
            raise MltrailException(
                f"The webhook secret is stored encrypted and the server has no key ({KEY_ENV} or "
                "--secrets-key-file)",
                INVALID_STATE,
            )
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise MltrailException(
                "The webhook secret cannot be decrypted with the server's key (was the key changed?)",
                INVALID_STATE,
            ) from None
