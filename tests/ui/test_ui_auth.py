"""The web UI of a ``--app-name basic-auth`` server in headless Chromium.

The browser logs in with HTTP Basic credentials (what its login dialog sends),
the top bar names the user, and a READ-only experiment shows no delete,
rename or restore buttons, while the user's own experiment does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from support import basic_auth
from support.basic_auth import basic_auth_server

pytestmark = pytest.mark.browser

ADMIN = (basic_auth.ADMIN, basic_auth.ADMIN_PASSWORD)
READER = ("reader", basic_auth.PASSWORD)
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-auth")
    with basic_auth_server(
        root, "--artifacts-destination", str(root / "artifacts"),
        users=(READER[0],), default_permission="NO_PERMISSIONS",
    ) as server:  # fmt: skip
        yield server.url


def _experiment(url: str, auth: tuple[str, str]) -> tuple[str, str]:
    name = f"exp-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, auth=auth) as client:
        r = client.post(f"{API}/experiments/create", json={"name": name})
        assert r.status_code == 200, r.text
        return r.json()["experiment_id"], name


def test_login_shows_user_and_hides_what_read_cannot_do(browser, auth_server):
    shared_id, shared = _experiment(auth_server, ADMIN)
    own_id, own = _experiment(auth_server, READER)
    with httpx.Client(base_url=auth_server, auth=ADMIN) as admin:
        r = admin.post(f"{API}/experiments/permissions/create",
                       json={"experiment_id": shared_id, "username": READER[0], "permission": "READ"})  # fmt: skip
        assert r.status_code == 200, r.text
    hidden_id, _ = _experiment(auth_server, ADMIN)  # no grant: never listed

    # Without credentials the server asks the browser for a login.
    response = httpx.get(auth_server + "/")
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")

    context = browser.new_context(
        base_url=auth_server, http_credentials={"username": READER[0], "password": READER[1]},
        viewport={"width": 1280, "height": 800},
    )  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto("/")
    page.locator(".current-user", has_text=READER[0]).wait_for()
    shared_row = page.locator("tr", has=page.locator(f'a[href="#/experiments/{shared_id}"]'))
    own_row = page.locator("tr", has=page.locator(f'a[href="#/experiments/{own_id}"]'))
    shared_row.wait_for()
    own_row.wait_for()
    # The user's own experiment (MANAGE as its creator) keeps its buttons; the READ one loses them.
    own_row.locator("button.danger").wait_for()
    page.wait_for_function(
        'id => { const a = document.querySelector(`a[href="#/experiments/${id}"]`);'
        " const b = a && a.closest('tr').querySelector('button.danger'); return b && b.hidden; }",
        arg=shared_id,
    )
    assert shared_row.locator("button.danger").is_hidden()
    assert shared_row.get_by_role("button", name="Rename").count() == 0
    assert own_row.get_by_role("button", name="Rename").is_visible()
    assert page.locator(f'a[href="#/experiments/{hidden_id}"]').count() == 0
    assert shared in page.content() and own in page.content()

    # The runs page of the READ-only experiment has no delete button either.
    page.goto(f"/#/experiments/{shared_id}")
    page.wait_for_function("() => [...document.querySelectorAll('#main button.danger')].every(b => b.hidden)"
                           " && document.querySelectorAll('#main button.danger').length > 0")  # fmt: skip

    # A READ-only registered model: no delete, rename, tag or alias controls.
    model = f"model-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=auth_server, auth=ADMIN) as admin:
        assert admin.post(f"{API}/registered-models/create", json={"name": model}).status_code == 200
        r = admin.post(f"{API}/registered-models/permissions/create",
                       json={"name": model, "username": READER[0], "permission": "READ"})  # fmt: skip
        assert r.status_code == 200, r.text
    page.goto(f"/#/models/{model}")
    page.get_by_text("Delete model").wait_for(state="attached")
    page.wait_for_function(
        "() => { const bs = [...document.querySelectorAll('#main button')];"
        " const named = (t) => bs.filter(b => b.textContent.trim() === t);"
        " return named('Delete model').length === 1 && named('Delete model').every(b => b.hidden)"
        " && named('Rename').every(b => b.hidden); }"
    )
    assert page.get_by_role("button", name="Delete model").count() == 0
    context.close()
