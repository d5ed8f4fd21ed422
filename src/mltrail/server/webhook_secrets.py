"""Secrets at rest (webhook signing secrets, AI gateway provider keys): AES-256-GCM with the server's key.

The key comes from ``MLTRAIL_SECRET_KEY`` (any string of at least 16 characters)
or from the file named by ``--secrets-key-file`` (its contents); the AES key is
the SHA-256 of it. A stored secret is then ``enc:v1:<base64(nonce + ciphertext)>``
and a copy of the database alone does not reveal it. Without a key, secrets are
stored as given (MLflow encrypts with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` or
else with a key made up per process, which loses every secret at a restart).

A secret stored encrypted needs the same key to be read back: a server started
without it (or with another) refuses to deliver to that webhook and says why in
the delivery log, rather than sign with something else.

Each use seals under its own associated data (``purpose``), so a webhook secret
copied into the gateway's table (or the reverse) does not open there. The AI
gateway (:mod:`mltrail.server.handlers.gateway`) requires a key: it refuses to
store a provider key in clear.

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
WEBHOOK = "webhook"
GATEWAY = "gateway"


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
    """Seals and opens secrets with the server's key (or passes them through without one).

    ``purpose`` names what the secrets are for (``"webhook"``, ``"gateway"``): it is the
    associated data of every seal and the noun of every error message.
    """

    def __init__(self, key_material: str | None, purpose: str = WEBHOOK) -> None:
        self._aead: Any = None
        self._aad = f"mltrail-{purpose}-secret".encode()
        self._what = f"{purpose} secret"
        if key_material is not None:
            if len(key_material) < _MIN_KEY_CHARS:
                raise MltrailException(
                    f"The server's secret key must be at least {_MIN_KEY_CHARS} characters", INVALID_STATE
                )
            # Imported here: only servers configured with a key need the cryptography package.
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(hashlib.sha256(key_material.encode("utf-8")).digest())

    @classmethod
    def from_config(cls, config: Any, purpose: str = WEBHOOK) -> SecretBox:
        """The box for a server's settings (``--secrets-key-file``, else ``MLTRAIL_SECRET_KEY``)."""
        return cls(_key_material(config), purpose)

    @property
    def encrypts(self) -> bool:
        """Whether secrets are stored encrypted."""
        return self._aead is not None

    def seal(self, secret: str | None) -> str | None:
        """What to store for ``secret`` (``None`` and ``""`` stay as they are)."""
        if not secret or self._aead is None:
            return secret
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), self._aad)
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str | None) -> str | None:
        """The secret behind a stored value; raises when it is sealed and this key cannot open it."""
        if not stored or not stored.startswith(_PREFIX):
            return stored or None
        if self._aead is None:
            raise MltrailException(
                f"The {self._what} is stored encrypted and the server has no key ({KEY_ENV} or "
                "--secrets-key-file)",
                INVALID_STATE,
            )
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise MltrailException(
                f"The {self._what} cannot be decrypted with the server's key (was the key changed?)",
                INVALID_STATE,
            ) from None
