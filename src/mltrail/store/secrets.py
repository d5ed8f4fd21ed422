"""Secrets at rest (webhook signing secrets, AI gateway provider keys): AES-256-GCM with the server's key.

The key comes from the file named by ``--secrets-key-file`` / ``MLTRAIL_SECRETS_KEY_FILE``
(its contents) or else from ``MLTRAIL_SECRET_KEY`` (any string of at least 16
characters); the AES key is the SHA-256 of it. A stored secret is then
``enc:v1:<base64(nonce + ciphertext)>`` and a copy of the database alone does not
reveal it. Without a key, a server stores secrets as given (MLflow encrypts with
``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` or else with a key made up per process,
which loses every secret at a restart).

The box lives below both the server and the SDK: the server seals what its API is
given (:meth:`SecretBox.from_config`), and the client on a database URI
(``tracking/_webhook_client.py``) seals with the same key, read from the same
environment variables (:meth:`SecretBox.from_env`), so a ``mltrail server`` on that
database opens what either wrote.

A secret stored encrypted needs the same key to be read back: a server started
without it (or with another) refuses to deliver to that webhook and says why in
the delivery log, rather than sign with something else. A secret stored in clear
(by a server without a key, or by an older client) is used as it is.

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
from mltrail.lazy_imports import LAZY_IMPORTS

KEY_ENV = "MLTRAIL_SECRET_KEY"
KEY_FILE_ENV = "MLTRAIL_SECRETS_KEY_FILE"
_PREFIX = "enc:v1:"
_MIN_KEY_CHARS = 16
_NONCE_BYTES = 12
WEBHOOK = "webhook"
GATEWAY = "gateway"


def key_material(key_file: str | None) -> str | None:
    """The key: the contents of ``key_file`` when given, else ``MLTRAIL_SECRET_KEY`` (None: no key)."""
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as fh:
                text = fh.read().strip()
        except OSError as err:
            raise MltrailException(
                f"Cannot read the secrets key file: {err.strerror}", INVALID_STATE
            ) from None
        return text
    return os.environ.get(KEY_ENV) or None


def is_sealed(stored: str | None) -> bool:
    """Whether a stored value is a sealed secret (``enc:v1:...``)."""
    return bool(stored) and str(stored).startswith(_PREFIX)


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
            try:  # imported here: only installs configured with a key need the cryptography package
                with LAZY_IMPORTS:
                    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError:
                raise MltrailException(
                    "Sealing secrets needs the 'cryptography' package: pip install cryptography",
                    INVALID_STATE,
                ) from None

            self._aead = AESGCM(hashlib.sha256(key_material.encode("utf-8")).digest())

    @classmethod
    def from_config(cls, config: Any, purpose: str = WEBHOOK) -> SecretBox:
        """The box for a server's settings (``--secrets-key-file``, else ``MLTRAIL_SECRET_KEY``)."""
        return cls(key_material(getattr(config, "secrets_key_file", None)), purpose)

    @classmethod
    def from_env(cls, purpose: str = WEBHOOK) -> SecretBox:
        """The box a client process has: ``MLTRAIL_SECRETS_KEY_FILE``, else ``MLTRAIL_SECRET_KEY``.

        The same variables, in the same order, as ``mltrail server`` reads (its
        ``--secrets-key-file`` option takes ``MLTRAIL_SECRETS_KEY_FILE`` as its default).
        """
        return cls(key_material(os.environ.get(KEY_FILE_ENV) or None), purpose)

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
        if not is_sealed(stored):
            return stored or None
        assert stored is not None
        if self._aead is None:
            raise MltrailException(
                f"The {self._what} is stored encrypted and the server has no key ({KEY_ENV} or "
                "--secrets-key-file)",
                INVALID_STATE,
            )
        with LAZY_IMPORTS:
            from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise MltrailException(
                f"The {self._what} cannot be decrypted with the server's key (was the key changed?)",
                INVALID_STATE,
            ) from None
