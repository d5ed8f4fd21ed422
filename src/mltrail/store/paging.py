"""Opaque page tokens: base64 of ``{"offset": N}``.

The same shape MLflow's stores use, so a token means the same thing to either.

Example::

    token = encode_page_token(1000)
    decode_page_token(token)  # 1000
    decode_page_token(None)   # 0
"""

from __future__ import annotations

import base64
import binascii
import json

from mltrail.exceptions import invalid


def encode_page_token(offset: int) -> str:
    """The token that resumes a search at ``offset``."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page offset {offset!r}: expected a non-negative integer")
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a token stands for; 0 for ``None`` or ``""``.

    Anything that is not a token this module made is ``INVALID_PARAMETER_VALUE``.
    """
    if token is None or token == "":
        return 0
    if not isinstance(token, (str, bytes)):
        raise invalid(f"Invalid page token {token!r}: expected a string")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    raw = raw.strip()
    # Accept the URL-safe alphabet and missing padding too: tokens travel in query strings.
    raw = raw.replace(b"-", b"+").replace(b"_", b"/")
    raw += b"=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(raw, validate=True)
        payload = json.loads(decoded.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page token {_short(token)}: it is not a token returned by a search") from None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if isinstance(offset, str) and offset.isdigit():
        offset = int(offset)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {_short(token)}: it does not hold a valid offset")
    return offset


def _short(token: str | bytes) -> str:
    text = repr(token)
    return text if len(text) <= 60 else text[:57] + "..."
