"""A live ``mltrail server`` on a free loopback port, seeded data, and headless Chromium.

One server and one browser serve the whole module set (start-up is the slow
part); each test gets a fresh page. Tests that change data create their own
experiments so the order of tests does not matter.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_seed import Seeder

from support.live_server import running_server

CHROMIUM = os.environ.get("MLTRAIL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory) -> Iterator[str]:
    """The base URL of a real ``mltrail server`` process on a SQLite file."""
    root = tmp_path_factory.mktemp("ui-server")
    with running_server(
        root, None, "--artifacts-destination", str(root / "artifacts"), "--log-level", "warning",
        # Fast live updates in tests; production polls once a second.
        env={"MLTRAIL_UI_POLL_SECONDS": "0.2"},
    ) as server:
        yield server.url


@pytest.fixture(scope="session")
def seeder(ui_server) -> Iterator[Seeder]:
    s = Seeder(ui_server)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module scope: Playwright's sync API holds an event loop on this thread while it is open.
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is required for the browser tests: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, ui_server) -> Iterator[object]:
    """A fresh page (own storage) that fails the test on any dialog or CSP violation."""
    context = browser.new_context(base_url=ui_server, viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.dialogs = []
    pg.console_errors = []
    # Confirmations (delete?) are accepted; anything else (an alert from injected script) is recorded.
    pg.on("dialog", lambda d: (pg.dialogs.append((d.type, d.message)), d.accept() if d.type == "confirm" else d.dismiss()))
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    # Record Content-Security-Policy violations: the UI must never need an exception to its CSP.
    pg.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    pg.set_default_timeout(30000)
    yield pg
    context.close()
