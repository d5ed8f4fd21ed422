"""Editing the model registry from the web UI, in headless Chromium against a live server.

Models are seeded through the server's REST API (what the MLflow client sends); every edit made in
the browser is then checked against the server, and after a reload, so nothing passes that only
changed the screen.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"


def _no_script_ran(page) -> None:
    assert not [d for d in page.dialogs if d[0] != "confirm"], page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")
    # The browser logs every refused request; those are the error paths under test, anything else is a bug.
    errors = [e for e in page.console_errors if not e.startswith("Failed to load resource")]
    assert errors == [], errors


def _get(seeder, path: str, **params):
    res = seeder.http.get(f"/api/2.0/mlflow/{path}", params=params)
    return res.status_code, res.json()


def _model_json(seeder, name: str) -> dict:
    status, body = _get(seeder, "registered-models/get", name=name)
    assert status == 200, body
    return body["registered_model"]


def _version_json(seeder, name: str, version: int | str) -> dict:
    status, body = _get(seeder, "model-versions/get", name=name, version=str(version))
    assert status == 200, body
    return body["model_version"]


def _model(seeder, run_id: str, versions: int = 2, prefix: str = "reg") -> str:
    name = f"{prefix}-{time.time_ns()}"
    seeder.post("registered-models/create", {"name": name})
    for _ in range(versions):
        seeder.post(
            "model-versions/create", {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
        )
    return name


def _stage(seeder, name: str, version: int, stage: str) -> None:
    seeder.post(
        "model-versions/transition-stage",
        {"name": name, "version": str(version), "stage": stage, "archive_existing_versions": False},
    )


@pytest.fixture(scope="module")
def source_run(seeder, tmp_path_factory):
    """A finished run whose code is recorded in mlflow.source.* tags and whose "model/" holds a real MLmodel."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    import mltrail.sklearn
    from mltrail.models import infer_signature

    exp = seeder.experiment(f"registry-ui-{time.time_ns()}")
    run_id = seeder.run(
        exp,
        "train-regressor",
        params={"alpha": 0.1},
        metrics={"rmse": 0.5},
        tags={
            "mlflow.source.name": "train.py",
            "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
            "mlflow.source.type": "LOCAL",
        },
    )
    rng = np.random.default_rng(0)
    # Long column names: MLflow folds the signature's JSON over several YAML lines.
    frame = pd.DataFrame(
        rng.random((20, 3)), columns=["sepal_length_in_centimetres", "petal_width_in_centimetres", "c"]
    )
    model = LinearRegression().fit(frame, frame.sum(axis=1))
    out = Path(tmp_path_factory.mktemp("mlmodel")) / "model"
    mltrail.sklearn.save_model(model, str(out), signature=infer_signature(frame, model.predict(frame)))
    signature = (out / "MLmodel").read_text().split("\nsignature:\n", 1)[1]
    assert re.match(r"  inputs: '[^\n]*\n    ", signature), signature  # folded: the shape the page must read
    for f in sorted(out.rglob("*")):
        if f.is_file():
            seeder.artifact(run_id, f"model/{f.relative_to(out).as_posix()}", f.read_bytes())
    return run_id


def test_model_list_shows_production_and_staging_and_sorts_by_last_update(page, seeder, source_run):
    tag = f"listing-{time.time_ns()}"
    older = _model(seeder, source_run, 1, prefix=f"{tag}-a")
    newer = _model(seeder, source_run, 3, prefix=f"{tag}-b")
    _stage(seeder, newer, 1, "Production")
    _stage(seeder, newer, 2, "Production")
    _stage(seeder, newer, 3, "Staging")
    time.sleep(0.01)
    # Touching the older model makes it the most recently updated one.
    seeder.http.patch(
        "/api/2.0/mlflow/registered-models/update", json={"name": older, "description": "touched"}
    )
    page.goto(f"/#/models?q={tag}")
    page.wait_for_selector(f'tr[data-model="{newer}"]')
    rows = page.locator("table.models tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.model)") == [older, newer]
    row = page.locator(f'tr[data-model="{newer}"]')
    assert row.locator("td.stage-production").inner_text() == "v2"  # the latest version in Production
    assert row.locator("td.stage-staging").inner_text() == "v3"
    assert page.locator(f'tr[data-model="{older}"] td.stage-production').inner_text() == ""
    # Sorting by name is one click away; the list then follows the names.
    page.get_by_role("button", name="Name").click()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.model)") == sorted([older, newer])
    # The Production badge opens that version's page.
    row.get_by_role("link", name=f"{newer} version 2 in Production").click()
    page.wait_for_selector(f"h1:text('{newer} · v2')")
    _no_script_ran(page)


def test_model_page_edits_description_and_tags_renames_and_deletes(page, seeder, source_run):
    name = _model(seeder, source_run, 1)
    taken = _model(seeder, source_run, 0, prefix="taken")
    page.goto(f"/#/models/{name}")
    page.wait_for_selector(f"h1:text('{name}')")
    # Description: typed, saved, and still there after a reload.
    page.get_by_role("button", name="Add a description").click()
    page.get_by_label("Model description").fill(f"Predicts sums {XSS}")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("p.note")
    assert _model_json(seeder, name)["description"] == f"Predicts sums {XSS}"
    page.reload()
    assert page.locator("p.note").inner_text() == f"Predicts sums {XSS}"
    # Tags: added through the form (value rendered as text), edited, then removed.
    page.get_by_label("New tag key", exact=True).fill("owner")
    page.get_by_label("New tag value", exact=True).fill(XSS)
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_selector('tr[data-tag="owner"]')
    assert page.locator('tr[data-tag="owner"] td').first.inner_text() == XSS
    page.get_by_role("button", name="Edit tag owner").click()
    page.get_by_label("Value of tag owner").fill("ml-team")
    page.get_by_label("Value of tag owner").press("Enter")
    page.wait_for_selector('tr[data-tag="owner"] td:text-is("ml-team")')
    assert {t["key"]: t["value"] for t in _model_json(seeder, name)["tags"]} == {"owner": "ml-team"}
    page.get_by_role("button", name="Delete tag owner").click()
    page.wait_for_selector('tr[data-tag="owner"]', state="detached")
    assert _model_json(seeder, name).get("tags", []) == []
    # A key the server refuses (400): its message in the tags section, no row, the typed input kept for a retry,
    # and an unsaved description draft elsewhere on the page survives the re-read.
    page.get_by_role("button", name="Edit description").click()
    page.get_by_label("Model description").fill("unsaved draft")
    long_key = "k" * 300
    page.get_by_label("New tag key", exact=True).fill(long_key)
    page.get_by_label("New tag value", exact=True).fill("v")
    page.get_by_role("button", name="Add tag").click()
    alert = page.locator("section[aria-labelledby=tags-title] [role=alert]")
    alert.wait_for()
    assert alert.inner_text().startswith("INVALID_PARAMETER_VALUE: Tag key")
    assert "exceeds the maximum length of 250" in alert.inner_text()
    assert page.locator("table.tags tr[data-tag]").count() == 0
    assert page.get_by_label("New tag key", exact=True).input_value() == long_key
    assert page.get_by_label("New tag key", exact=True).evaluate("el => el === document.activeElement")
    assert page.get_by_label("Model description").input_value() == "unsaved draft"
    page.get_by_label("New tag key", exact=True).fill("stage")
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_selector('tr[data-tag="stage"]')
    assert page.locator("section[aria-labelledby=tags-title] [role=alert]").count() == 0
    assert page.get_by_label("New tag key", exact=True).input_value() == ""  # sent, so cleared
    assert page.get_by_label("Model description").input_value() == "unsaved draft"
    page.get_by_label("Model description").press("Escape")
    assert _model_json(seeder, name)["description"] == f"Predicts sums {XSS}"
    # Rename: a name the server would refuse is explained as typed and never sent.
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("New model name").fill("team/model")
    assert page.get_by_label("New model name").get_attribute("aria-invalid") == "true"
    assert page.locator("#rename-hint").inner_text() == "Names cannot contain '/' or ':'."
    page.get_by_role("button", name="Save name").click()
    assert f"#/models/{name}" in page.url and _get(seeder, "registered-models/get", name=name)[0] == 200
    # Rename onto a taken name: the server's message in place, nothing changed.
    page.get_by_label("New model name").fill(taken)
    page.get_by_role("button", name="Save name").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert taken in alert.inner_text() and "RESOURCE_ALREADY_EXISTS" in alert.inner_text()
    assert f"#/models/{name}" in page.url
    # A free name: the model is renamed and the URL follows.
    new_name = name + "-renamed"
    page.get_by_label("New model name").fill(new_name)
    page.get_by_role("button", name="Save name").click()
    page.wait_for_selector(f"h1:text-is('{new_name}')")
    assert page.url.endswith(f"#/models/{new_name}")
    assert _model_json(seeder, new_name)["description"] == f"Predicts sums {XSS}"
    # Delete asks first; Cancel keeps the model, the confirmation deletes it.
    page.get_by_role("button", name="Delete model").click()
    assert (
        page.get_by_role("alertdialog")
        .inner_text()
        .startswith(f'Delete the model "{new_name}" and all its 1 version(s)?')
    )
    page.get_by_role("button", name="Cancel").click()
    assert _get(seeder, "registered-models/get", name=new_name)[0] == 200
    page.get_by_role("button", name="Delete model").click()
    page.get_by_role("button", name="Yes, delete model").click()
    page.wait_for_selector("h1:text-is('Models')")
    assert _get(seeder, "registered-models/get", name=new_name)[0] == 404
    _no_script_ran(page)


def test_stage_select_moves_a_version_and_archives_the_previous_holder(page, seeder, source_run):
    name = _model(seeder, source_run, 3)
    _stage(seeder, name, 1, "Production")
    page.goto(f"/#/models/{name}")
    page.wait_for_selector('tr[data-version="1"][data-stage="Production"]')
    # Picking a stage only asks; Cancel puts the select back.
    page.get_by_label("Stage of version 2").select_option("Production")
    page.get_by_role("button", name="Cancel").click()
    assert page.get_by_label("Stage of version 2").input_value() == "None"
    # With "archive existing", the old Production version is Archived, in place (no reload).
    page.get_by_label("Stage of version 2").select_option("Production")
    box = page.get_by_label("Archive existing Production versions (v1)")
    box.check()
    page.get_by_role("button", name="Move to Production").click()
    page.wait_for_selector('tr[data-version="2"][data-stage="Production"]')
    page.wait_for_selector('tr[data-version="1"][data-stage="Archived"]')
    assert page.get_by_label("Stage of version 1").input_value() == "Archived"
    assert _version_json(seeder, name, 1)["current_stage"] == "Archived"
    assert _version_json(seeder, name, 2)["current_stage"] == "Production"
    # Without the box, the other Staging holder keeps its stage; Archived offers no box at all.
    _stage(seeder, name, 1, "Staging")
    page.reload()
    page.get_by_label("Stage of version 3").select_option("Staging")
    page.get_by_role("button", name="Move to Staging").click()
    page.wait_for_selector('tr[data-version="3"][data-stage="Staging"]')
    assert _version_json(seeder, name, 1)["current_stage"] == "Staging"
    page.get_by_label("Stage of version 3").select_option("Archived")
    assert page.locator(".stage-confirm input[type=checkbox]").count() == 0
    page.get_by_role("button", name="Move to Archived").click()
    page.wait_for_selector('tr[data-version="3"][data-stage="Archived"]')
    assert page.get_by_label("Stage of version 3").evaluate(
        "el => el === document.activeElement"
    )  # focus kept
    _no_script_ran(page)


def test_aliases_validate_in_place_move_remove_and_show_server_errors(page, seeder, source_run):
    name = _model(seeder, source_run, 3)
    page.goto(f"/#/models/{name}")
    page.wait_for_selector('tr[data-version="3"]')
    field = page.get_by_label("New alias", exact=True)
    # Invalid names are explained as typed and never sent.
    field.fill("bad alias!")
    assert field.get_attribute("aria-invalid") == "true"
    hint = page.locator("#alias-new-hint")
    assert "letters, digits" in hint.inner_text()
    page.get_by_role("button", name="Add alias").click()
    field.fill("V2")
    assert "reserved" in hint.inner_text()
    page.get_by_role("button", name="Add alias").click()
    assert _model_json(seeder, name).get("aliases", []) == []
    # A good name goes to the chosen version.
    field.fill("champion")
    assert field.get_attribute("aria-invalid") == "false" and hint.inner_text() == ""
    page.get_by_label("Version for the new alias").select_option("1")
    page.get_by_role("button", name="Add alias").click()
    page.wait_for_selector('tr[data-alias="champion"]')
    assert "@champion" in page.locator('tr[data-version="1"]').inner_text()
    assert _model_json(seeder, name)["aliases"] == [{"alias": "champion", "version": "1"}]
    # A double click on Add sends one write: the form is busy until the page has re-read.
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "registered-models/alias" in r.url else None)
    field.fill("double")
    page.get_by_role("button", name="Add alias").dblclick()
    page.wait_for_selector('tr[data-alias="double"]')
    page.wait_for_timeout(200)
    assert len(requests) == 1, requests
    seeder.http.request(
        "DELETE", "/api/2.0/mlflow/registered-models/alias", json={"name": name, "alias": "double"}
    )
    # Move it to another version.
    page.get_by_label("Version of alias champion").select_option("2")
    page.wait_for_function(
        """() => document.querySelector('tr[data-version="2"]').innerText.includes('@champion')"""
    )
    assert "@champion" not in page.locator('tr[data-version="1"]').inner_text()
    assert _model_json(seeder, name)["aliases"] == [{"alias": "champion", "version": "2"}]
    # Remove it.
    page.get_by_role("button", name="Remove alias champion").click()
    page.wait_for_selector('tr[data-alias="champion"]', state="detached")
    assert _model_json(seeder, name).get("aliases", []) == []
    # A version deleted elsewhere: the server's error shows in place and the page re-reads (v3 goes away).
    seeder.http.request(
        "DELETE", "/api/2.0/mlflow/model-versions/delete", json={"name": name, "version": "3"}
    )
    field.fill("stale")
    page.get_by_label("Version for the new alias").select_option("3")
    page.get_by_role("button", name="Add alias").click()
    alert = page.locator("section[aria-labelledby=alias-title] [role=alert]")
    alert.wait_for()
    assert "RESOURCE_DOES_NOT_EXIST" in alert.inner_text()
    page.wait_for_selector('tr[data-version="3"]', state="detached")
    assert page.locator("table.versions tbody tr").count() == 2
    assert page.get_by_label("Version for the new alias").locator("option").all_inner_texts() == ["v2", "v1"]
    _no_script_ran(page)


def test_version_page_shows_lineage_and_signature_and_edits_in_place(page, seeder, source_run):
    name = _model(seeder, source_run, 2)
    seeder.post("model-versions/set-tag", {"name": name, "version": "2", "key": "validated", "value": "no"})
    page.goto(f"/#/models/{name}")
    page.get_by_role("link", name="Open version 2").click()
    page.wait_for_selector(f"h1:text-is('{name} · v2')")
    assert page.url.endswith(f"#/models/{name}/versions/2")
    assert page.locator("dd.version-source").inner_text() == f"runs:/{source_run}/model"
    assert page.locator("dd.version-lineage").inner_text() == "made by train.py at 0123456789ab LOCAL"
    # The signature, read from the version's MLmodel (a folded YAML string).
    page.wait_for_selector("table.signature-inputs")
    names = page.locator("table.signature-inputs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.name)")
    assert names == ["sepal_length_in_centimetres", "petal_width_in_centimetres", "c"]
    assert page.locator('table.signature-inputs tr[data-name="c"]').inner_text().split("\t") == [
        "c",
        "double",
        "required",
    ]
    assert page.locator("table.signature-outputs tbody td").nth(1).inner_text() == "tensor float64 (-1)"
    assert page.locator("dd", has_text="python_function").inner_text() == "python_function, sklearn"
    # Description and tags of the version, saved and still there after a reload.
    page.get_by_role("button", name="Add a description").click()
    page.get_by_label("Version description").fill("Trained on the March data.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("p.note")
    page.get_by_label("New tag key", exact=True).fill("validated")
    page.get_by_label("New tag value", exact=True).fill("yes")
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_selector('tr[data-tag="validated"] td:text-is("yes")')
    page.reload()
    page.wait_for_selector("p.note")
    assert page.locator("p.note").inner_text() == "Trained on the March data."
    mv = _version_json(seeder, name, 2)
    assert mv["description"] == "Trained on the March data."
    assert {t["key"]: t["value"] for t in mv["tags"]} == {"validated": "yes"}
    page.get_by_role("button", name="Delete tag validated").click()
    page.wait_for_selector('tr[data-tag="validated"]', state="detached")
    assert _version_json(seeder, name, 2).get("tags", []) == []
    # An alias and a stage from the version page itself.
    page.get_by_label("New alias", exact=True).fill("challenger")
    page.get_by_label("New alias", exact=True).press("Enter")
    page.wait_for_selector('li[data-alias="challenger"]')
    assert _model_json(seeder, name)["aliases"] == [{"alias": "challenger", "version": "2"}]
    page.get_by_label("Stage of version 2").select_option("Staging")
    page.get_by_role("button", name="Move to Staging").click()
    page.wait_for_selector("h1 + .badge.stage-staging")
    assert _version_json(seeder, name, 2)["current_stage"] == "Staging"
    # The snippet to load it pins the alias.
    assert (
        'mlflow.pyfunc.load_model("models:/' + name + '@challenger")'
        in page.locator("pre.usage").inner_text()
    )
    # The run link leads back to the run that made it.
    page.locator("dd.version-run a").click()
    page.wait_for_selector("h1:text('train-regressor')")
    _no_script_ran(page)


def test_version_page_of_a_model_without_signature_or_run(page, seeder):
    from urllib.parse import quote

    name = f"{XSS} bare-{time.time_ns()}"  # markup in a name is text everywhere
    seeder.post("registered-models/create", {"name": name})
    # a source of no run (MLflow takes a proxied mlflow-artifacts: source only with the run that holds it)
    seeder.post("model-versions/create", {"name": name, "source": "s3://elsewhere-bucket/bare/model"})
    page.goto(f"/#/models?q={quote(name, safe='')}")
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_selector("table.versions tbody tr[data-version='1']")
    assert page.locator("h1").inner_text() == name
    page.get_by_role("link", name="Open version 1").click()
    page.wait_for_selector("h1:has-text('· v1')")
    assert page.locator("h1").inner_text() == f"{name} · v1"
    assert page.url.endswith(f"#/models/{quote(name, safe='')}/versions/1")
    page.wait_for_function(
        "() => !document.querySelector('section[aria-labelledby=sig-title]').innerText.includes('Loading')"
    )
    assert re.search(
        r"No MLmodel file|no signature", page.locator("section[aria-labelledby=sig-title]").inner_text()
    )
    assert page.locator("dd.version-run").inner_text() == "—"
    assert page.locator("dd.version-lineage").inner_text() == "—"
    _no_script_ran(page)


def test_registry_edits_work_from_the_keyboard(page, seeder, source_run):
    name = _model(seeder, source_run, 2)
    _stage(seeder, name, 1, "Production")
    page.goto(f"/#/models/{name}")
    page.wait_for_selector('tr[data-version="2"]')
    # An alias: type, Enter; focus comes back to the field for the next one.
    field = page.get_by_label("New alias", exact=True)
    field.focus()
    page.keyboard.type("champion")
    page.keyboard.press("Enter")
    page.wait_for_selector('tr[data-alias="champion"]')
    assert field.evaluate("el => el === document.activeElement")
    # A stage: arrow keys on the select open the confirmation; Tab to the box, Space, Tab, Enter.
    select = page.get_by_label("Stage of version 2")
    select.focus()
    page.keyboard.press("ArrowDown")  # None -> Staging
    page.keyboard.press("ArrowDown")  # Staging -> Production
    page.get_by_role("button", name="Move to Production").wait_for()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.get_by_label("Archive existing Production versions (v1)").is_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector('tr[data-version="1"][data-stage="Archived"]')
    assert _version_json(seeder, name, 2)["current_stage"] == "Production"
    # Escape backs out of an edit without saving.
    page.get_by_role("button", name="Add a description").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("draft")
    page.keyboard.press("Escape")
    assert page.get_by_role("button", name="Add a description").evaluate(
        "el => el === document.activeElement"
    )
    assert _model_json(seeder, name).get("description", "") == ""
    _no_script_ran(page)


def test_version_page_deletes_the_version_after_confirmation(page, seeder, source_run):
    name = _model(seeder, source_run, 2)
    seeder.post("registered-models/alias", {"name": name, "alias": "champion", "version": "1"})
    page.goto(f"/#/models/{name}/versions/1")
    page.wait_for_selector(f"h1:text-is('{name} · v1')")
    page.get_by_role("button", name="Delete version").click()
    dialog = page.get_by_role("alertdialog")
    assert dialog.inner_text().startswith(
        f'Delete version 1 of "{name}"? Its aliases (@champion) go with it.'
    )
    assert page.get_by_role("button", name="Cancel").evaluate("el => el === document.activeElement")
    page.get_by_role("button", name="Yes, delete version").click()
    page.wait_for_selector(f"h1:text-is('{name}')")
    assert page.locator("table.versions tbody tr").evaluate_all("rs => rs.map(r => r.dataset.version)") == [
        "2"
    ]
    assert _get(seeder, "model-versions/get", name=name, version="1")[0] == 404
    _no_script_ran(page)


def test_version_logged_by_the_official_mlflow_client_shows_its_script_and_signature(
    page, ui_server, seeder, tmp_path
):
    """MLflow 3 registers ``models:/m-…`` sources; the page still finds the MLmodel and the training script."""
    import os
    import subprocess
    import sys

    name = f"official-{time.time_ns()}"
    script = tmp_path / "train_iris.py"
    script.write_text(
        "import mlflow, numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        f"mlflow.set_tracking_uri({ui_server!r})\n"
        f"mlflow.set_experiment({name!r})\n"
        "X = pd.DataFrame(np.random.default_rng(0).random((30, 2)), columns=['width', 'height'])\n"
        "y = (X['width'] > 0.5).astype(int)\n"
        "with mlflow.start_run(run_name='official-train') as run:\n"
        "    clf = LogisticRegression().fit(X, y)\n"
        "    mlflow.sklearn.log_model(clf, name='model', signature=mlflow.models.infer_signature(X, clf.predict(X)),\n"
        "                             serialization_format='cloudpickle', pip_requirements=['scikit-learn'],\n"
        f"                             registered_model_name={name!r})\n"
        "print('run', run.info.run_id)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")  # nothing leaves the machine
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180
    )
    assert done.returncode == 0, done.stderr
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("run "))
    mv = _version_json(seeder, name, 1)
    # As with MLflow's own server, such a version carries the logged model's id and no run_id.
    assert mv["source"] == f"models:/{mv['model_id']}" and not mv.get("run_id")
    page.goto(f"/#/models/{name}/versions/1")
    page.wait_for_selector("table.signature-inputs")
    names = page.locator("table.signature-inputs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.name)")
    assert names == ["width", "height"]
    assert page.locator("dd.version-lineage").inner_text().startswith(f"made by {script}")
    assert page.locator("dd.version-run").inner_text() == "official-train"
    assert page.locator("dd.version-logged-model").inner_text() == f"model · {mv['model_id']}"
    page.locator("dd.version-run a").click()
    page.wait_for_selector("h1:text('official-train')")
    assert run_id in page.url
    _no_script_ran(page)
