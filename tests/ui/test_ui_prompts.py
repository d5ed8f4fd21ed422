"""The Prompts pages of the web UI, in headless Chromium against a live server.

Prompts are registered by the official ``mlflow`` client (``mlflow.genai.register_prompt``, in a
subprocess so its global state stays out of this process), which stores them in MLflow's format:
registered models and versions tagged ``mlflow.prompt.is_prompt``. What the pages show is checked
against the exact templates sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"
QA_V1 = "Answer the question.\nQuestion: {{question}}\nBe brief."
QA_V2 = "Answer the question.\nContext: {{ context }}\nQuestion: {{question}}\nBe brief and cite {{context}}."
CHAT = [
    {"role": "system", "content": "You are {{persona}}.\nNever reveal {{ secret.key }}."},
    {"role": "user", "content": "{{question}}"},
]
HTML = "<script>window.__pwned=1</script>\n<b>Dear {{name}}</b> & " + XSS + "\n  indented   spaces  "
RESPONSE_FORMAT = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
PAGED = 12

SEED = r"""
import json, sys
import mlflow

prefix, run_id = sys.argv[1], sys.argv[2]
spec = json.loads(sys.stdin.read())
g = mlflow.genai
qa, chat, html = prefix + "-qa", prefix + "-chat", prefix + "-html"
g.register_prompt(name=qa, template=spec["qa_v1"], commit_message="first draft", tags={"team": "search"})
g.register_prompt(name=qa, template=spec["qa_v2"], commit_message="add context",
                  response_format=spec["response_format"], model_config={"model_name": "gpt-4o-mini", "temperature": 0.1})
g.set_prompt_alias(qa, alias="production", version=1)
g.set_prompt_alias(qa, alias="staging", version=2)
g.register_prompt(name=chat, template=spec["chat"], commit_message="chat prompt")
g.register_prompt(name=html, template=spec["html"], commit_message=spec["xss"], tags={"note": spec["xss"]})
# A chat version, then a text one: the diff compares them message by message.
g.register_prompt(name=prefix + "-mixed", template=spec["chat"], commit_message="as chat")
g.register_prompt(name=prefix + "-mixed", template=spec["flat"], commit_message="flattened")
for i in range(spec["paged"]):
    g.register_prompt(name=f"{prefix}-page-{i:02d}", template=f"Page prompt {i}: {{{{x}}}}")
# The run a version came from, as MLflow clients record it on the version.
g.register_prompt(name=prefix + "-linked", template="Summarise {{doc}}.", commit_message="from a run")
g.set_prompt_version_tag(prefix + "-linked", 1, "mlflow.prompt.associatedRunIds", run_id)
print(json.dumps({"qa": qa, "chat": chat, "html": html, "linked": prefix + "-linked", "mixed": prefix + "-mixed"}))
"""


def _no_script_ran(page) -> None:
    assert not [d for d in page.dialogs if d[0] != "confirm"], page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")
    errors = [e for e in page.console_errors if not e.startswith("Failed to load resource")]
    assert errors == [], errors


def _rows(page, table: str, key: str) -> list[str]:
    return page.locator(f"table.{table} tbody tr").evaluate_all(f"rs => rs.map(r => r.dataset.{key})")


def _search(page, text: str, expected: list) -> None:
    """Type a search, press Enter, and wait until the table lists `expected` (data-prompt per row)."""
    box = page.get_by_label("Search prompts")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(
        """expected => JSON.stringify([...document.querySelectorAll('table.prompts tbody tr')]
           .map(r => r.dataset.prompt ?? null)) === JSON.stringify(expected)""",
        arg=expected,
    )


def _focused(locator) -> bool:
    return locator.evaluate("el => el === document.activeElement")


@pytest.fixture(scope="module")
def prompts(ui_server, seeder) -> dict[str, str]:
    """Prompts registered by the official client, one ordinary model, and a run a prompt came from."""
    prefix = f"uip{time.time_ns()}"
    exp = seeder.experiment(f"prompt-runs-{prefix}")
    run_id = seeder.run(exp, "prompt-tuning")
    # An ordinary model whose name matches the prompts' searches: it must never show as a prompt.
    model = f"{prefix}-qa-model"
    seeder.post("registered-models/create", {"name": model})
    spec = {
        "qa_v1": QA_V1,
        "qa_v2": QA_V2,
        "chat": CHAT,
        "html": HTML,
        "xss": XSS,
        "response_format": RESPONSE_FORMAT,
        "paged": PAGED,
        "flat": "You are {{persona}}.\n{{question}}",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=ui_server, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run(
        [sys.executable, "-c", SEED, prefix, run_id],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    names = json.loads(done.stdout.strip().splitlines()[-1])
    return {**names, "prefix": prefix, "model": model, "run_id": run_id}


def test_nav_opens_the_prompt_list_which_shows_prompts_and_not_models(page, prompts):
    prefix = prompts["prefix"]
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prompts").click()
    page.wait_for_selector("h1:text-is('Prompts')")
    expected = sorted(
        [prompts[k] for k in ("qa", "chat", "html", "linked", "mixed")]
        + [f"{prefix}-page-{i:02d}" for i in range(PAGED)]
    )
    _search(page, prefix, expected)  # by name, as the server pages them; the model is not among them
    # One row: latest version, its commit message and the prompt's own tags (not MLflow's bookkeeping).
    cells = page.locator(f'tr[data-prompt="{prompts["qa"]}"] td').all_inner_texts()
    assert cells[0] == prompts["qa"] and cells[1] == "v2" and cells[4] == "add context"
    assert cells[3] == "team: search"
    assert cells[2]  # last modified
    html_cells = page.locator(f'tr[data-prompt="{prompts["html"]}"] td').all_inner_texts()
    assert html_cells[3] == f"note: {XSS}" and html_cells[4] == XSS
    assert page.evaluate("location.hash") == f"#/prompts?q={prefix}", page.url
    _no_script_ran(page)


def test_search_filters_on_the_server_with_literal_wildcards(page, prompts):
    prefix = prompts["prefix"]
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "registered-models/search" in r.url else None)
    page.goto(f"/#/prompts?q={prefix}-qa")
    page.wait_for_selector(f'tr[data-prompt="{prompts["qa"]}"]')
    # The prompt matches; the model of the same name pattern does not (the prompt tag filter is sent).
    assert _rows(page, "prompts", "prompt") == [prompts["qa"]]
    assert "mlflow.prompt.is_prompt" in requests[-1] and "ILIKE" in requests[-1]
    # Case does not matter (ILIKE); "_" and "%" are literal characters, not wildcards; quotes are text.
    # Each miss follows a hit, so the empty table is the answer to that search, not a leftover.
    for miss in (f"{prefix}_chat", f"{prefix}%chat", "it's no prompt"):
        _search(page, f"{prefix}-CHAT", [prompts["chat"]])
        _search(page, miss, [None])
        assert page.locator("table.prompts tbody").inner_text() == "No prompt matches this search."
    assert page.locator("main [role=alert]").count() == 0
    # The search is part of the URL: a reload shows the same result.
    _search(page, f"{prefix}-html", [prompts["html"]])
    page.reload()
    page.wait_for_selector(f'tr[data-prompt="{prompts["html"]}"]')
    assert _rows(page, "prompts", "prompt") == [prompts["html"]]
    assert page.get_by_label("Search prompts").input_value() == f"{prefix}-html"
    _no_script_ran(page)


def test_list_pages_through_the_results(page, prompts):
    prefix = prompts["prefix"]
    expected = [f"{prefix}-page-{i:02d}" for i in range(PAGED)]
    page.goto(f"/#/prompts?q={prefix}-page&ps=10")
    page.wait_for_selector(f'tr[data-prompt="{expected[0]}"]')
    assert _rows(page, "prompts", "prompt") == expected[:10]
    previous = page.get_by_role("button", name="Previous")
    following = page.get_by_role("button", name="Next")
    assert previous.is_disabled() and following.is_enabled()
    assert "Prompts 1\u201310" in page.locator(".pager").inner_text()
    following.click()
    page.wait_for_selector(f'tr[data-prompt="{expected[10]}"]')
    assert _rows(page, "prompts", "prompt") == expected[10:]
    assert following.is_disabled() and previous.is_enabled()
    assert "Prompts 11\u201312" in page.locator(".pager").inner_text()
    previous.click()
    page.wait_for_selector(f'tr[data-prompt="{expected[0]}"]')
    assert _rows(page, "prompts", "prompt") == expected[:10]
    # A larger page holds them all.
    page.get_by_label("Prompts per page").select_option("25")
    page.wait_for_selector(f'tr[data-prompt="{expected[-1]}"]')
    assert _rows(page, "prompts", "prompt") == expected
    _no_script_ran(page)


def test_prompt_page_shows_versions_template_variables_and_aliases(page, prompts):
    name = prompts["qa"]
    page.goto(f"/#/prompts?q={name}")
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_selector("table.prompt-versions tbody tr")
    assert page.locator("h1").inner_text() == name
    assert _rows(page, "prompt-versions", "version") == ["2", "1"]
    assert page.locator('tr[data-version="2"] td.commit').inner_text() == "add context"
    assert page.locator('tr[data-version="1"] td.commit').inner_text() == "first draft"
    assert page.locator('tr[data-version="1"]').inner_text().count("@production") == 1
    assert "@staging" in page.locator('tr[data-version="2"]').inner_text()
    aliases = page.locator("section[aria-labelledby=alias-title] li").all_inner_texts()
    assert aliases == ["@production → v1", "@staging → v2"]
    # The newest version is shown first: the exact template, its variables marked, response format, config.
    detail = page.locator("section.prompt-detail")
    assert detail.locator("h2").inner_text() == "Version 2"
    assert detail.locator("pre.template-text").text_content() == QA_V2
    assert detail.locator("mark.var").all_text_contents() == ["{{ context }}", "{{question}}", "{{context}}"]
    assert detail.locator("ul.variables li").all_text_contents() == ["context", "question"]
    assert json.loads(detail.locator("pre.response-format").text_content()) == RESPONSE_FORMAT
    config = json.loads(detail.locator("pre.model-config").text_content())
    assert config["model_name"] == "gpt-4o-mini" and config["temperature"] == 0.1
    assert detail.locator("dd.commit").inner_text() == "add context"
    assert page.locator('tr[data-version="2"] a.version-link').get_attribute("aria-current") == "true"
    # Another version, in place: the link keeps focus and the URL names the version.
    link = page.get_by_role("link", name="Show version 1")
    link.click()
    page.wait_for_selector("section.prompt-detail h2:text-is('Version 1')")
    assert detail.locator("pre.template-text").text_content() == QA_V1
    assert detail.locator("ul.variables li").all_text_contents() == ["question"]
    assert (
        detail.locator("pre.response-format").count() == 0 and detail.locator("pre.model-config").count() == 0
    )
    assert _focused(link)
    assert page.url.endswith(f"#/prompts/{name}?version=1")
    assert page.locator('tr[data-version="1"] a.version-link').get_attribute("aria-current") == "true"
    assert page.locator('tr[data-version="2"] a.version-link').get_attribute("aria-current") is None
    # Version tags are the user's (MLflow's template tags are shown as the template, not as tags).
    assert detail.locator("table.tags tr").all_inner_texts() == ["team\tsearch"]
    assert page.locator("section[aria-labelledby=ptags-title] table.tags tr").all_inner_texts() == [
        "team\tsearch"
    ]
    # The page opens on the version in its URL.
    page.reload()
    page.wait_for_selector("section.prompt-detail h2:text-is('Version 1')")
    assert 'load_prompt("prompts:/' + name + '/1")' in detail.locator("pre.usage").inner_text()
    _no_script_ran(page)


def test_chat_prompt_shows_one_block_per_message(page, prompts):
    page.goto(f"/#/prompts/{prompts['chat']}")
    page.wait_for_selector("ol.chat-messages")
    detail = page.locator("section.prompt-detail")
    assert detail.locator(".badge.prompt-type").inner_text() == "chat"
    messages = detail.locator("li.chat-message")
    assert messages.evaluate_all("ms => ms.map(m => m.dataset.role)") == ["system", "user"]
    assert detail.locator(".chat-role").all_inner_texts() == ["system", "user"]
    assert detail.locator("li.chat-message pre.template-text").all_text_contents() == [
        m["content"] for m in CHAT
    ]
    assert detail.locator("mark.var").all_text_contents() == [
        "{{persona}}",
        "{{ secret.key }}",
        "{{question}}",
    ]
    assert detail.locator("ul.variables li").all_text_contents() == ["persona", "secret.key", "question"]
    _no_script_ran(page)


def test_markup_in_a_template_is_shown_as_text(page, prompts):
    page.goto(f"/#/prompts/{prompts['html']}")
    page.wait_for_selector("section.prompt-detail pre.template-text")
    detail = page.locator("section.prompt-detail")
    assert detail.locator("pre.template-text").text_content() == HTML
    assert detail.locator("mark.var").all_text_contents() == ["{{name}}"]
    # Nothing from the template, commit message or tags became an element.
    assert page.locator("main script, main img, main b").count() == 0
    assert detail.locator("dd.commit").inner_text() == XSS
    assert page.locator('tr[data-version="1"] td.commit').inner_text() == XSS
    page.wait_for_timeout(300)  # an injected onerror would have fired by now
    _no_script_ran(page)


def test_compare_shows_added_and_removed_lines(page, prompts):
    name = prompts["qa"]
    page.goto(f"/#/prompts/{name}")
    page.wait_for_selector("section.prompt-detail pre.template-text")
    toggle = page.get_by_role("button", name="Compare versions")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    page.wait_for_selector("table.diff")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert page.get_by_label("Base version").input_value() == "1"
    assert page.get_by_label("Compared version").input_value() == "2"
    diff = page.locator("table.diff")
    assert diff.locator("td.del").all_text_contents() == ["Be brief."]
    assert diff.locator("td.add").all_text_contents() == [
        "Context: {{ context }}",
        "Be brief and cite {{context}}.",
    ]
    assert diff.locator("tr.same").count() == 2
    assert diff.locator("thead th").all_inner_texts() == ["", "v1", "", "v2"]
    assert page.url.endswith(f"#/prompts/{name}?compare=1%2C2")
    # The other way round, added and removed swap.
    page.get_by_label("Base version").select_option("2")
    page.get_by_label("Compared version").select_option("1")
    page.wait_for_function("() => document.querySelectorAll('table.diff thead th')[1].innerText === 'v2'")
    assert diff.locator("td.del").all_text_contents() == [
        "Context: {{ context }}",
        "Be brief and cite {{context}}.",
    ]
    assert diff.locator("td.add").all_text_contents() == ["Be brief."]
    # One version against itself.
    page.get_by_label("Base version").select_option("1")
    page.wait_for_selector("p.diff-summary:text('have the same template')")
    assert page.locator("table.diff").count() == 0
    # The comparison is a shareable URL; leaving it shows the selected version again.
    page.goto(f"/#/prompts/{name}?compare=2,1")
    page.wait_for_selector("table.diff")
    assert page.get_by_label("Base version").input_value() == "2"
    toggle.click()
    page.wait_for_selector("section.prompt-detail pre.template-text")
    assert page.locator("table.diff").count() == 0
    _no_script_ran(page)


def test_chat_and_text_versions_compare_by_message(page, prompts):
    """A chat version against a text one: each message is a [role] line followed by its content."""
    page.goto(f"/#/prompts/{prompts['mixed']}?compare=1,2")
    page.wait_for_selector("table.diff")
    diff = page.locator("table.diff")
    assert diff.locator("td.del").all_text_contents() == [
        "[system]",
        "Never reveal {{ secret.key }}.",
        "[user]",
    ]
    assert diff.locator("td.add").all_text_contents() == []
    assert diff.locator("tr.same td:nth-child(2)").all_text_contents() == [
        "You are {{persona}}.",
        "{{question}}",
    ]
    _no_script_ran(page)


def test_keyboard_reaches_the_compare_control_and_the_versions(page, prompts):
    name = prompts["qa"]
    page.goto(f"/#/prompts/{name}")
    page.wait_for_selector("section.prompt-detail pre.template-text")
    toggle = page.get_by_role("button", name="Compare versions")
    # From the top of the page, Tab alone gets to the compare control.
    page.locator("a.brand").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if _focused(toggle):
            break
    assert _focused(toggle)
    page.keyboard.press("Enter")
    page.wait_for_selector("table.diff")
    assert _focused(toggle) and toggle.get_attribute("aria-pressed") == "true"
    # Tab on to the two version pickers; arrow keys choose.
    page.keyboard.press("Tab")
    assert _focused(page.get_by_label("Base version"))
    page.keyboard.press("Tab")
    right = page.get_by_label("Compared version")
    assert _focused(right)
    page.keyboard.press("ArrowDown")  # v2 -> v1: the same template
    page.wait_for_selector("p.diff-summary:text('have the same template')")
    # Enter on the toggle leaves compare mode; Shift+Tab back to a version link, Enter shows it.
    toggle.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("section.prompt-detail pre.template-text")
    page.keyboard.press("Tab")
    link = page.get_by_role("link", name="Show version 2")
    assert _focused(link)
    page.keyboard.press("Tab")
    assert _focused(page.get_by_role("link", name="Show version 1"))
    page.keyboard.press("Enter")
    page.wait_for_selector("section.prompt-detail h2:text-is('Version 1')")
    assert page.locator("section.prompt-detail pre.template-text").text_content() == QA_V1
    _no_script_ran(page)


def test_a_version_links_to_the_run_it_came_from(page, prompts):
    name, run_id = prompts["linked"], prompts["run_id"]
    page.goto(f"/#/prompts/{name}")
    page.wait_for_selector("dd.version-runs a")
    assert page.locator('tr[data-version="1"] a.run-link').inner_text() == run_id[:8]
    link = page.locator("dd.version-runs a")
    page.wait_for_function(
        "() => document.querySelector('dd.version-runs a').textContent === 'prompt-tuning'"
    )
    assert link.get_attribute("href") == f"#/runs/{run_id}"
    link.click()
    page.wait_for_selector("h1:text('prompt-tuning')")
    assert run_id in page.url
    _no_script_ran(page)


def test_models_page_does_not_list_prompts(page, prompts):
    page.goto(f"/#/models?q={prompts['prefix']}")
    page.wait_for_selector(f'tr[data-model="{prompts["model"]}"]')
    assert _rows(page, "models", "model") == [prompts["model"]]
    _no_script_ran(page)


def test_a_model_or_an_unknown_name_is_not_shown_as_a_prompt(page, prompts):
    model = prompts["model"]
    page.goto(f"/#/prompts/{quote(model)}")
    page.wait_for_selector("text=is a registered model, not a prompt")
    page.get_by_role("link", name="Open it under Models.").click()
    page.wait_for_selector(f"h1:text-is('{model}')")
    page.goto(f"/#/prompts/{prompts['prefix']}-missing")
    alert = page.locator("main [role=alert]")
    alert.wait_for()
    assert "RESOURCE_DOES_NOT_EXIST" in alert.inner_text()
    _no_script_ran(page)


def test_a_run_page_links_the_prompt_versions_loaded_in_it(page, prompts, seeder):
    qa = prompts["qa"]
    exp = seeder.experiment(f"prompt-users-{prompts['prefix']}")
    run_id = seeder.run(exp, "uses-prompts")
    # What MLflow's load_prompt inside a run records on it.
    linked = json.dumps([{"name": qa, "version": "2"}, {"name": prompts["chat"], "version": "1"}])
    seeder.post("runs/set-tag", {"run_id": run_id, "key": "mlflow.linkedPrompts", "value": linked})
    page.goto(f"/#/runs/{run_id}")
    links = page.locator(".linked-prompts a")
    page.wait_for_selector("h1:text('uses-prompts')")
    links.first.wait_for()
    assert links.all_inner_texts() == [f"{qa} v2", f"{prompts['chat']} v1"]
    assert links.first.get_attribute("href") == f"#/prompts/{quote(qa, safe='')}?version=2"
    links.first.click()
    page.wait_for_selector('tr[data-version="2"].selected')
    assert "Context: {{ context }}" in page.locator("pre.template-text").first.inner_text()
    _no_script_ran(page)
