"""Password hashes: scrypt from :mod:`hashlib`, in the format MLflow (werkzeug) writes and reads.

New hashes are ``scrypt:32768:8:1$<salt>$<hex>``, exactly what werkzeug's
``generate_password_hash`` produces, so MLflow can verify a password set by
mltrail and mltrail verifies one set by MLflow. Verification also accepts
werkzeug's ``pbkdf2:<hash>:<iterations>$<salt>$<hex>`` (older MLflow servers).

Never log a password or a hash.

Example::

    stored = hash_password("correct horse battery")
    assert verify_password(stored, "correct horse battery")
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # werkzeug's defaults (about 32 MiB, tens of ms)
_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16
# werkzeug's default when a pbkdf2 hash names no iteration count (3.1: 1,000,000).
_PBKDF2_DEFAULT_ITERATIONS = 1_000_000
# A stored hash is trusted data, but bound its cost anyway: a corrupt row must not eat the memory.
_MAX_SCRYPT_N = 2**20
_MAX_PBKDF2_ITERATIONS = 10_000_000


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=132 * n * r * p).hex()


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in werkzeug's format."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    digest = _scrypt(password.encode(), salt.encode(), SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${salt}${digest}"


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches ``stored`` (scrypt or pbkdf2, werkzeug's format); False for junk."""
    if not isinstance(stored, str) or not isinstance(password, str) or stored.count("$") < 2:
        return False
    method, salt, expected = stored.split("$", 2)
    name, *args = method.split(":")
    try:
        if name == "scrypt":
            n, r, p = (int(a) for a in args) if args else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
            if not (1 < n <= _MAX_SCRYPT_N and 0 < r <= 64 and 0 < p <= 16):
                return False
            actual = _scrypt(password.encode(), salt.encode(), n, r, p)
        elif name == "pbkdf2":
            hash_name = args[0] if args else "sha256"
            iterations = int(args[1]) if len(args) > 1 else _PBKDF2_DEFAULT_ITERATIONS
            if not 0 < iterations <= _MAX_PBKDF2_ITERATIONS:
                return False
            actual = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations).hex()
        else:
            return False
    except (ValueError, TypeError):  # malformed parameters or an unknown hash function
        return False
    return hmac.compare_digest(actual, expected)
