"""A lean HTTP/1.1 keep-alive transport on the standard library, for the SDK's JSON calls.

httpx spends about half a millisecond of CPU building and parsing each request (URL
objects, header normalisation, h11's state machine, its connection pool); a JSON call
to a tracking server needs none of that. :class:`LeanTransport` writes each request as
one buffer on a plain socket (or an :mod:`ssl` socket for ``https://``) and parses the
answer itself: a fifth of httpx's CPU per call or less, most of what is left being the
socket calls themselves (``http.client`` costs about a third of httpx's: it parses
headers with :mod:`email`); the figures are in docs/benchmarks.md.

One persistent connection per thread; an idle connection the server has closed (or one
idle longer than :data:`KEEPALIVE_EXPIRY`) is replaced before it is used, and a request
whose reused connection turns out dead before any answer is sent once more on a fresh
one. Failures are raised as :class:`ConnectFailed` / :class:`Dropped` (worth a retry) or
:class:`TimedOut` (the request may have arrived: not retried), which
:class:`~mltrail.store._http.HttpSession` turns into its retries and errors.

:class:`HttpxTransport` gives the same interface on httpx, for what the lean one does not
cover: a proxy from the environment (``HTTP(S)_PROXY``, ``ALL_PROXY``), credentials in the
URL, a scheme other than ``http``/``https``.

Example::

    transport = open_transport("http://127.0.0.1:5000", headers={"User-Agent": "mltrail"})
    resp = transport.send("GET", "/health", None, None, timeout=5)
    assert resp.status_code == 200
"""

from __future__ import annotations

import os
import re
import select
import socket
import threading
import time
import weakref
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit

from mltrail.lazy_imports import LAZY_IMPORTS

if TYPE_CHECKING:
    import ssl  # loaded for https:// URLs only

__all__ = [
    "KEEPALIVE_EXPIRY",
    "ConnectFailed",
    "Dropped",
    "Headers",
    "HttpxTransport",
    "LeanTransport",
    "Response",
    "TimedOut",
    "TransportError",
    "encode_query",
    "open_transport",
    "ssl_context",
    "uses_env_proxy",
]

#: Seconds an idle connection is kept (httpx's ``keepalive_expiry`` in the session before).
KEEPALIVE_EXPIRY = 30.0
_MAX_HEAD = 64 * 1024  # status line + headers of an answer
# One recv() allocates a bytes object of this size before the kernel fills it, then shrinks
# it: above glibc's mmap threshold (128 KiB) that is an mmap, an mremap and a munmap (and
# fresh pages) per answer, about 15 µs of CPU (it was 256 KiB); 64 KiB comes from the heap.
# Bodies are read by recv_into into a buffer of their own size, in steps of _RECV_INTO.
_RECV = 64 * 1024
_RECV_INTO = 1024 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
# Characters a request target may hold as they are (RFC 3986 pchar, "/", "?", "%" of an escape).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%[]"
# (A regex's fullmatch checks a string a few times faster than frozenset.issuperset, which
# makes a one-character string and a hash lookup per character.)
_plain = re.compile("[A-Za-z0-9" + re.escape(_PATH_SAFE + "?") + "]*").fullmatch
_HEX = frozenset("0123456789abcdefABCDEF")
# What ``quote_plus`` leaves as it is: a run id or a number needs no escaping at all.
_unreserved = re.compile(r"[A-Za-z0-9_.\-~]*").fullmatch


class TransportError(Exception):
    """The request got no complete answer."""


class ConnectFailed(TransportError):
    """No connection: refused, unknown host, TLS handshake failed, connect timed out."""


class Dropped(TransportError):
    """The connection broke while sending or before the whole answer arrived."""


class TimedOut(TransportError):
    """The server did not read the request or answer it within the timeout (it may have arrived)."""


class Headers(dict):
    """An answer's headers, looked up without regard to case (repeated ones joined by ``", "``)."""

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)


class Response:
    """The part of an HTTP answer the SDK reads (the same names as ``httpx.Response``)."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason_phrase: str, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body decoded by the ``charset`` of its ``Content-Type`` (UTF-8 when none is named)."""
        charset = "utf-8"
        for part in (self.headers.get("content-type") or "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip("\"'")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"


def encode_query(params: Any) -> str:
    """A query string as httpx writes it: list values repeat the key, booleans are ``true``/``false``,
    ``None`` is empty, the rest is form-encoded (``quote_plus``)."""
    out: list[str] = []
    pairs = params.items() if isinstance(params, dict) else params
    for key, value in pairs:
        name = str(key)
        name = name if _unreserved(name) else quote_plus(name)
        for one in value if isinstance(value, (list, tuple)) else (value,):
            text = "true" if one is True else "false" if one is False else "" if one is None else str(one)
            out.append(f"{name}={text if _unreserved(text) else quote_plus(text)}")
    return "&".join(out)


def _target(prefix: str, path: str) -> str:
    """The request target: the base URL's path, then ``path``, percent-escaped where it must be."""
    target = prefix + (path if path.startswith("/") else "/" + path)
    if _plain(target) and ("%" not in target or _escapes_ok(target)):
        return target
    path_part, sep, query = target.partition("?")
    out = quote(path_part, safe=_PATH_SAFE if _escapes_ok(path_part) else _PATH_SAFE.replace("%", ""))
    if sep:
        out += "?" + quote(query, safe=_PATH_SAFE + "?" if _escapes_ok(query) else "/:@!$&'()*+,;=-._~?")
    return out


def _escapes_ok(text: str) -> bool:
    """Whether every ``%`` in ``text`` starts a ``%XX`` escape (then the text is escaped already)."""
    i = text.find("%")
    while i != -1:
        pair = text[i + 1 : i + 3]
        if len(pair) != 2 or not _HEX.issuperset(pair):
            return False
        i = text.find("%", i + 3)
    return True


def uses_env_proxy(base_url: str) -> bool:
    """Whether the environment names a proxy httpx would consider for ``base_url``'s scheme."""
    from urllib.request import getproxies

    proxies = getproxies()
    scheme = urlsplit(base_url).scheme.lower()
    return bool(proxies.get(scheme) or proxies.get("all"))


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS settings httpx uses: certifi's CAs (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), a CA
    bundle (file or directory) when ``verify`` is a path, no checks at all when it is False."""
    import ssl

    if verify is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _Conn:
    """One open connection: its socket, unread bytes, and when it was last used."""

    __slots__ = ("__weakref__", "buf", "generation", "idle_since", "received", "sock")

    def __init__(self, sock: socket.socket, generation: int) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.idle_since = time.monotonic()
        self.generation = generation
        self.received = False  # whether any byte of the current answer has arrived

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def stale(self) -> bool:
        """Closed by the server, answered unasked, or idle too long: not to be reused."""
        if self.buf or time.monotonic() - self.idle_since > KEEPALIVE_EXPIRY:
            return True
        try:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))  # readable while idle: the server closed it (or sent garbage)
        except (OSError, ValueError):
            return True

    # ------------------------------------------------------------- reading
    def _fill(self) -> bool:
        """Read more into ``buf``; False at the end of the stream."""
        try:
            chunk = self.sock.recv(_RECV)
        except TimeoutError as err:
            raise TimedOut(f"no answer within the read timeout: {err}") from err
        except OSError as err:
            raise Dropped(f"the connection broke while reading the answer: {err!r}") from err
        if not chunk:
            return False
        self.received = True
        self.buf += chunk
        return True

    def read_until(self, marker: bytes, limit: int, what: str) -> bytes:
        start = 0
        while (end := self.buf.find(marker, start)) == -1:
            if len(self.buf) > limit:
                raise Dropped(f"the server sent a {what} longer than {limit} bytes")
            start = max(0, len(self.buf) - len(marker) + 1)
            if not self._fill():
                raise Dropped(
                    "the server closed the connection without sending an answer"
                    if not self.buf
                    else f"the server closed the connection in the middle of the {what}"
                )
        out = bytes(self.buf[:end])
        del self.buf[: end + len(marker)]
        return out

    def read_exact(self, n: int) -> bytes:
        if len(self.buf) >= n:
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out
        out_buf = bytearray(n)
        have = len(self.buf)
        out_buf[:have] = self.buf
        self.buf.clear()
        view = memoryview(out_buf)
        while have < n:
            try:
                got = self.sock.recv_into(view[have:], min(n - have, _RECV_INTO))
            except TimeoutError as err:
                raise TimedOut(f"no answer within the read timeout: {err}") from err
            except OSError as err:
                raise Dropped(f"the connection broke while reading the answer: {err!r}") from err
            if not got:
                raise Dropped(f"the server closed the connection after {have} of {n} body bytes")
            have += got
        return bytes(out_buf)

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.read_until(b"\r\n", _MAX_HEAD, "chunk size line")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as err:
                raise Dropped(f"the server sent a bad chunk size {line[:40]!r}") from err
            if size == 0:
                while self.read_until(b"\r\n", _MAX_HEAD, "trailer"):  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self.read_exact(size))
            if self.read_exact(2) != b"\r\n":
                raise Dropped("the server sent a chunk without its closing CRLF")


def _parse_head(head: bytes) -> tuple[int, str, bool, Headers, list[str]]:
    """Status, reason, HTTP/1.0 or not, headers and ``Set-Cookie`` values of an answer's head."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise Dropped(f"the server did not answer with HTTP/1.x: {lines[0][:60]!r}")
    fields: dict[str, str] = {}
    cookies: list[str] = []
    last = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last:  # an obsolete folded continuation line
            fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise Dropped(f"the server sent a bad header line {line[:60]!r}")
        key = name.strip().lower()
        value = value.strip()
        if key in fields:
            fields[key] += ", " + value
        else:
            fields[key] = value
        if key == "set-cookie":
            cookies.append(value)
        last = key
    return int(code), reason, version == "HTTP/1.0", Headers(fields), cookies


def _decode_body(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` gzip/deflate (what the request's ``Accept-Encoding`` offers)."""
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip"):
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:  # some servers send raw deflate without the zlib header
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            elif coding != "identity":
                return body  # not one we asked for: left as it came, as httpx does
        except zlib.error as err:
            raise Dropped(f"the server sent a body that is not valid {coding}: {err}") from err
    return body


# A forked child must not share its parent's sockets: a new generation after each fork.
_GENERATION = [0]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _GENERATION.__setitem__(0, _GENERATION[0] + 1))


class LeanTransport:
    """HTTP/1.1 with one keep-alive connection per thread, to one ``http(s)://host:port[/prefix]``."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        verify: bool | str = True,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme.lower() == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._ssl = ssl_context(verify) if self.https else None
        default_port = 443 if self.https else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if self.port == default_port else f"{host}:{self.port}"
        self._origin = f"{'https' if self.https else 'http'}://{authority}"
        fixed = {
            "Host": authority,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            **headers,
        }
        for name, value in fixed.items():
            _check_header(name, value)
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._local = threading.local()
        self._open: weakref.WeakSet[_Conn] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._cookies: Any = None  # an http.cookiejar.CookieJar once the server sets a cookie
        self.base_url = base_url.rstrip("/")

    # ------------------------------------------------------------ plumbing
    def _connect(self, timeout: float) -> _Conn:
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=min(timeout, self.connect_timeout)
            )
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._ssl is not None:
                    sock = self._ssl.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        except OSError as err:  # refused, unknown host, TLS handshake or certificate (ssl.SSLError)
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {err}") from err
        sock.settimeout(timeout)
        conn = _Conn(sock, _GENERATION[0])
        with self._lock:
            self._open.add(conn)
        return conn

    def _take(self, timeout: float) -> tuple[_Conn, bool]:
        """This thread's connection (``True``: reused) or a new one."""
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            if conn.generation == _GENERATION[0] and not conn.stale():
                if conn.sock.gettimeout() != timeout:
                    conn.sock.settimeout(timeout)
                return conn, True
            if conn.generation == _GENERATION[0]:
                conn.close()
        return self._connect(timeout), False

    def close(self) -> None:
        """Close every connection of every thread."""
        with self._lock:
            conns = list(self._open)
            self._open = weakref.WeakSet()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # ------------------------------------------------------------- request
    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        timeout: float | None = None,
    ) -> Response:
        """One request and its whole answer; raises a :class:`TransportError` subclass."""
        timeout = self.timeout if timeout is None else timeout
        target = _target(self.prefix, path)
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if headers:
            for name, value in headers.items():
                _check_header(name, value)
                head += f"{name}: {value}\r\n"
        if self._cookies is not None:
            head += self._cookie_line(target)
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            head += "Content-Length: 0\r\n"
        data = (head + "\r\n").encode("utf-8")
        if body:
            data += body
        conn, reused = self._take(timeout)
        try:
            resp, keep = self._exchange(conn, data, method, target)
        except Dropped:
            conn.close()
            if not reused or conn.received:
                raise
            # The server closed the reused connection as we wrote: once more on a new one.
            conn = self._connect(timeout)
            try:
                resp, keep = self._exchange(conn, data, method, target)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        if keep:
            conn.idle_since = time.monotonic()
            self._local.conn = conn
        else:
            conn.close()
        return resp

    def _exchange(self, conn: _Conn, data: bytes, method: str, target: str) -> tuple[Response, bool]:
        conn.received = False
        try:
            conn.sock.sendall(data)
        except TimeoutError as err:
            raise TimedOut(f"the server did not take the request within the timeout: {err}") from err
        except OSError as err:
            raise Dropped(f"the connection broke while sending the request: {err!r}") from err
        while True:
            code, reason, http10, headers, cookies = _parse_head(
                conn.read_until(b"\r\n\r\n", _MAX_HEAD, "header")
            )
            if not 100 <= code < 200 or code == 101:
                break  # 1xx answers (100 Continue, 103 Early Hints) precede the real one
        get = dict.get  # the keys are lower case already: no need for Headers' own lookups
        connection = (get(headers, "connection") or "").lower()
        keep = "keep-alive" in connection if http10 else "close" not in connection
        if method == "HEAD" or code in _NO_BODY_STATUS or code < 200:
            content = b""
        elif "chunked" in (get(headers, "transfer-encoding") or "").lower():
            content = conn.read_chunked()
        elif (length := get(headers, "content-length")) is not None:
            try:
                n = int(length.split(",")[0])
            except ValueError as err:
                raise Dropped(f"the server sent a bad Content-Length {length!r}") from err
            content = conn.read_exact(n)
        else:
            content = conn.read_to_eof()
            keep = False
        if encoding := get(headers, "content-encoding"):
            content = _decode_body(content, encoding)
        if cookies:
            self._keep_cookies(cookies, target)
        return Response(code, reason, headers, content), keep and not conn.buf

    # ------------------------------------------------------------- cookies
    def _keep_cookies(self, cookies: list[str], target: str) -> None:
        """Keep what the server sets (a load balancer's affinity cookie), as httpx's client does."""
        import http.cookiejar
        import urllib.request
        from email.message import Message

        with self._lock:
            if self._cookies is None:
                self._cookies = http.cookiejar.CookieJar()
        msg = Message()
        for value in cookies:
            msg["Set-Cookie"] = value

        class _Answer:  # what CookieJar reads of an answer
            def info(self) -> Message:
                return msg

        self._cookies.extract_cookies(_Answer(), urllib.request.Request(self._origin + target))

    def _cookie_line(self, target: str) -> str:
        import urllib.request

        request = urllib.request.Request(self._origin + target)
        self._cookies.add_cookie_header(request)
        value = request.get_header("Cookie")
        return f"Cookie: {value}\r\n" if value else ""


def _check_header(name: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
        raise ValueError(f"Illegal header {name!r}: it would break the request")


class HttpxTransport:
    """The same interface on an ``httpx.Client``: proxies from the environment, URL credentials."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        verify: bool | str = True,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
    ) -> None:
        with LAZY_IMPORTS:  # the SDK's export threads may be first
            import httpx

        self._httpx = httpx
        self.client = httpx.Client(
            base_url=base_url,
            headers=headers,
            verify=verify if isinstance(verify, bool) else ssl_context(verify),
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout)),
            limits=httpx.Limits(max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_EXPIRY),
        )
        self.base_url = base_url.rstrip("/")

    def close(self) -> None:
        self.client.close()

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        timeout: float | None = None,
    ) -> Response:
        httpx = self._httpx
        kw: dict[str, Any] = {"content": body, "headers": headers}
        if timeout is not None:
            kw["timeout"] = timeout
        try:
            resp = self.client.request(method, path, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
            raise ConnectFailed(str(err)) from err
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
            raise Dropped(str(err)) from err
        except httpx.TimeoutException as err:
            raise TimedOut(str(err)) from err
        out = Headers()
        for key, value in resp.headers.multi_items():
            key = key.lower()
            out[key] = out[key] + ", " + value if key in out else value
        return Response(resp.status_code, resp.reason_phrase, out, resp.content)


def open_transport(
    base_url: str,
    headers: dict[str, str],
    verify: bool | str = True,
    timeout: float = 120.0,
    connect_timeout: float = 10.0,
) -> LeanTransport | HttpxTransport:
    """The lean transport where it covers ``base_url``, else httpx (see the module's docstring)."""
    parts = urlsplit(base_url)
    lean = parts.scheme.lower() in ("http", "https") and not parts.username and not parts.password
    if lean and not uses_env_proxy(base_url):
        return LeanTransport(base_url, headers, verify, timeout, connect_timeout)
    return HttpxTransport(base_url, headers, verify, timeout, connect_timeout)
