"""A 1 GB artifact upload and download keep the server's memory under 200 MB."""

from __future__ import annotations

import threading

import httpx
import pytest

GB = 1024**3
CHUNK = 1024 * 1024
RSS_LIMIT = 200 * 1024 * 1024


class PeakRss:
    """Samples the server's resident memory from /proc while a transfer runs."""

    def __init__(self, server) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_one_gigabyte_round_trip_stays_small(live_server):
    url = f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/big/zeros.bin"
    zeros = bytes(CHUNK)

    def body():
        for _ in range(GB // CHUNK):
            yield zeros

    with PeakRss(live_server) as upload:
        resp = httpx.put(url, content=body(), timeout=600)
    assert resp.status_code == 200, resp.text
    assert (live_server.artifacts / "big" / "zeros.bin").stat().st_size == GB
    assert upload.peak < RSS_LIMIT, f"upload peak RSS {upload.peak / 2**20:.0f} MB"

    received = 0
    with PeakRss(live_server) as download, httpx.stream("GET", url, timeout=600) as resp:
        assert resp.status_code == 200
        assert int(resp.headers["content-length"]) == GB
        for chunk in resp.iter_bytes(CHUNK):
            received += len(chunk)
    assert received == GB
    assert download.peak < RSS_LIMIT, f"download peak RSS {download.peak / 2**20:.0f} MB"
    (live_server.artifacts / "big" / "zeros.bin").unlink()
