"""OTLP/HTTP request bodies: ``Content-Encoding`` (gzip, deflate) undone within the body-size limit.

OpenTelemetry exporters compress when told to (``compression=gzip``,
``OTEL_EXPORTER_OTLP_COMPRESSION``). The decompressed size counts against the
server's ``--max-body-size`` as an uncompressed body would: a small body that
inflates past it (a "zip bomb") is refused with 413 after at most ``limit + 1``
bytes were produced, never expanded in full.

Example::

    decompress(gzip.compress(b"..."), "gzip", limit=64 * 1024 * 1024)
"""

from __future__ import annotations

import zlib

from mltrail.exceptions import MltrailException, invalid
from mltrail.server.bodies import PayloadTooLarge

_CHUNK = 256 * 1024
# zlib's window-bits for each encoding: gzip header, zlib header, raw deflate (some clients send it).
_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW = -zlib.MAX_WBITS


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """``data`` decompressed, at most ``limit`` bytes (413 beyond); ``zlib.error`` if it is not valid."""
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    while True:
        out += inflater.decompress(pending, _CHUNK)
        if len(out) > limit:
            raise PayloadTooLarge(limit)
        pending = inflater.unconsumed_tail
        if not pending:
            break
    out += inflater.flush()
    if len(out) > limit:
        raise PayloadTooLarge(limit)
    if not inflater.eof:
        raise zlib.error("truncated stream")
    return bytes(out)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone (gzip, deflate, identity or none).

    Raises 400 ``INVALID_PARAMETER_VALUE`` for an unsupported encoding or a body
    that does not decompress, 413 when the decompressed body passes ``limit`` bytes.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return _inflate(body, _GZIP, limit)
        if encoding == "deflate":
            try:
                return _inflate(body, _ZLIB, limit)
            except zlib.error:
                return _inflate(body, _RAW, limit)
    except zlib.error:
        raise invalid(f"Failed to decompress {encoding} payload") from None
    raise MltrailException(
        f"Unsupported Content-Encoding {content_encoding!r}: send gzip, deflate or an uncompressed body",
        error_code="INVALID_PARAMETER_VALUE",
    )
