"""A live ``mltrail server`` subprocess on a free loopback port, with a fresh store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.live_server import LiveServer, start_server, stop_server
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse: no SDK state leaks between tests)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """One server per test module, on a fresh SQLite file and artifact folder."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:
    """An httpx client pointed at the live server."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
