"""A webhook receiver on 127.0.0.1 for tests: records each POST and answers planned statuses.

Signatures are checked here with ``hmac`` from the secret, as a real receiver would::

    rec = Receiver()
    rec.plan["/hook"] = [503, 200]          # first a 503, then 200 for every later request
    ...                                     # point a webhook at f"{rec.url}/hook"
    first, second = rec.wait("/hook", 2)
    assert signature_ok(second, "s3cret")
    rec.close()
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST; ``plan[path]`` lists the statuses to answer."""

    def __init__(self) -> None:
        self.requests: dict[str, list[dict]] = defaultdict(list)
        self.plan: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests[self.path].append({"headers": dict(self.headers), "body": body})
                    plan = receiver.plan.get(self.path) or [200]
                    status = plan.pop(0) if len(plan) > 1 else plan[0]
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"got it ({status})".encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, path: str, count: int, timeout: float = 10.0) -> list[dict]:
        """The requests to ``path`` once there are at least ``count`` (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests[path]) >= count:
                    return list(self.requests[path])
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(self.requests[path])} requests, expected {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def headers_of(request: dict) -> dict[str, str]:
    """A recorded request's headers with lower-case names."""
    return {k.lower(): v for k, v in request["headers"].items()}


def signature_ok(request: dict, secret: str) -> bool:
    """Whether a recorded request carries MLflow's ``X-MLflow-Signature`` for ``secret``."""
    h = headers_of(request)
    signed = f"{h['x-mlflow-delivery-id']}.{h['x-mlflow-timestamp']}.{request['body'].decode()}".encode()
    expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(h.get("x-mlflow-signature", ""), expected)
