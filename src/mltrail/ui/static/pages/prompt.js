// One prompt of the Prompt Registry: its versions (commit message, aliases, tags, source runs), the
// selected version's template with its {{variables}} marked, response format and model config, and
// a line diff between two versions' templates. Read-only; every template goes in as text.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {diffLines, diffTable} from '../components/diff.js';
import {errorBox, fmtTime, h, replace, runHref, runName} from '../dom.js';
import {aliasBadges, modelHref} from './models.js';
import {PROMPT_KEYS, PROMPT_FILTER, promptHref, userTags} from './prompts.js';

// MLflow's variable syntax (PROMPT_TEMPLATE_VARIABLE_PATTERN): {{ name }} or {{ dotted.name }}.
const VARIABLE = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}/g;
// Where MLflow clients have recorded the run(s) a version came from, besides the version's run_id.
const RUN_TAGS = ['mlflow.prompt.run_id', 'mlflow.prompt.run_ids', 'mlflow.prompt.associatedRunIds'];
const MAX_RUNS = 20;

const tagMap = (tags) => Object.fromEntries((tags || []).map((t) => [t.key, t.value]));

/**
 * A version's template: {type: 'chat', messages: [{role, content}]} or {type: 'text', text}.
 * A chat template whose JSON cannot be read is shown as its raw text rather than hidden.
 */
export function templateOf(version) {
  const tags = tagMap(version.tags);
  const raw = tags[PROMPT_KEYS.text] ?? '';
  if (tags[PROMPT_KEYS.type] === 'chat') {
    try {
      const messages = JSON.parse(raw);
      if (Array.isArray(messages) && messages.every((m) => m && typeof m === 'object' && typeof m.role === 'string')) {
        return {type: 'chat', messages: messages.map((m) => ({role: m.role,
          content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? null, null, 2)}))};
      }
    } catch { /* not JSON: fall through to text */ }
  }
  return {type: 'text', text: raw};
}

/** The template as plain lines, for the diff: a chat message starts with its [role] line. */
export function templateLines(template) {
  if (template.type === 'text') return template.text;
  return template.messages.map((m) => `[${m.role}]\n${m.content}`).join('\n');
}

/** Variable names in order of first use. */
export function variablesOf(template) {
  const texts = template.type === 'text' ? [template.text] : template.messages.map((m) => m.content);
  return [...new Set(texts.flatMap((t) => [...t.matchAll(VARIABLE)].map((m) => m[1])))];
}

/** Text with each {{variable}} wrapped in <mark>; everything stays a text node. */
function highlighted(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(VARIABLE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('mark', {class: 'var'}, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function templateView(template) {
  if (template.type === 'text') return h('pre', {class: 'template-text'}, highlighted(template.text));
  return h('ol', {class: 'chat-messages', 'aria-label': 'Chat messages'}, template.messages.map((m) =>
    h('li', {class: 'chat-message', dataset: {role: m.role}}, h('div', {class: 'chat-role'}, m.role),
      h('pre', {class: 'template-text'}, highlighted(m.content)))));
}

/** A JSON tag pretty-printed, or its raw text when it is not JSON. */
function jsonBlock(raw, cls) {
  let text = raw;
  try { text = JSON.stringify(JSON.parse(raw), null, 2); } catch { /* show as stored */ }
  return h('pre', {class: cls}, text);
}

export function runIdsOf(version) {
  const tags = tagMap(version.tags);
  const ids = [version.run_id, ...RUN_TAGS.flatMap((k) => String(tags[k] || '').split(','))].map((s) => (s || '').trim());
  return [...new Set(ids.filter(Boolean))].slice(0, MAX_RUNS);
}

function tagTable(tags, empty) {
  return tags.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'tags'}, h('tbody', {},
    tags.map((t) => h('tr', {dataset: {tag: t.key}}, h('th', {scope: 'row', class: 'wrap'}, t.key), h('td', {class: 'wrap'}, t.value))))))
    : h('p', {class: 'muted'}, empty);
}

export async function render(root, {promptName: name, query}) {
  const filter = `name = ${api.quoteFilter(name)} AND ${PROMPT_FILTER}`;
  const [prompt, versions] = await Promise.all([api.getRegisteredModel(name), api.searchAllModelVersions(filter)]);
  document.title = name + ' · prompts · mltrail';
  if (!api.isPrompt(prompt)) {
    replace(root, h('div', {class: 'crumbs'}, h('a', {href: '#/prompts'}, 'Prompts'), ' › ', name), h('h1', {}, name),
      h('p', {}, `"${name}" is a registered model, not a prompt. `, h('a', {href: modelHref(name)}, 'Open it under Models.')));
    return;
  }
  const byVersion = new Map(versions.map((v) => [String(v.version), v]));
  const pick = (v, fallback) => (byVersion.has(String(v)) ? String(v) : fallback);
  const newest = versions.length ? String(versions[0].version) : null;
  const state = {selected: pick(query.get('version'), newest), compare: null};
  const pair = (query.get('compare') || '').split(',');
  if (versions.length > 1 && pair.length === 2 && byVersion.has(pair[0]) && byVersion.has(pair[1])) state.compare = pair;

  const detail = h('section', {class: 'prompt-detail', 'aria-labelledby': 'template-title'});
  const compareBtn = h('button', {type: 'button', class: 'compare-toggle', 'aria-pressed': 'false', disabled: versions.length < 2,
    title: versions.length < 2 ? 'Needs two versions' : null, onclick: () => (state.compare ? showVersion(state.selected) : startCompare())},
  'Compare versions');
  const comparePick = h('span', {class: 'toolbar compare-pick'});  // the two version pickers, right after the toggle
  const rows = versions.map((v) => {
    const link = h('a', {href: promptHref(name, {version: v.version}), class: 'version-link', 'aria-label': `Show version ${v.version}`,
      onclick: (e) => {
        if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;  // new tab/window: let the browser open it
        e.preventDefault();
        showVersion(String(v.version));
      }}, 'v' + v.version);
    return h('tr', {dataset: {version: String(v.version)}},
      h('td', {}, link), h('td', {class: 'wrap commit'}, v.description || ''), h('td', {}, fmtTime(v.creation_timestamp)),
      h('td', {}, aliasBadges(prompt.aliases, v.version)),
      h('td', {class: 'wrap tag-cell'}, userTags(v.tags).map((t) => h('span', {class: 'badge tag'}, `${t.key}: ${t.value}`))),
      h('td', {}, runIdsOf(v).map((id) => h('a', {href: runHref(id), class: 'run-link badge', title: id}, id.slice(0, 8)))));
  });
  const aliases = [...(prompt.aliases || [])].sort((a, b) => a.alias.localeCompare(b.alias));

  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/prompts'}, 'Prompts'), ' › ', name),
    h('h1', {}, name),
    prompt.description ? h('p', {class: 'note prompt-description'}, prompt.description) : null,
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', 'aria-labelledby': 'alias-title'}, h('h2', {id: 'alias-title'}, 'Aliases'),
        aliases.length ? h('ul', {class: 'alias-list'}, aliases.map((a) => h('li', {dataset: {alias: a.alias}},
          h('span', {class: 'badge alias'}, '@' + a.alias), ' → ',
          h('a', {href: promptHref(name, {version: a.version}), onclick: (e) => {
            if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || !byVersion.has(String(a.version))) return;
            e.preventDefault();
            showVersion(String(a.version));
          }}, 'v' + a.version))))
          : h('p', {class: 'muted'}, 'No aliases.')),
      h('section', {class: 'panel', 'aria-labelledby': 'ptags-title'}, h('h2', {id: 'ptags-title'}, 'Tags'),
        tagTable(userTags(prompt.tags), 'No tags.'))),
    h('section', {'aria-labelledby': 'versions-title'},
      h('div', {class: 'toolbar versions-head'}, h('h2', {id: 'versions-title'}, `Versions (${versions.length})`), h('span', {class: 'grow'}), compareBtn, comparePick),
      h('div', {class: 'table-wrap'}, h('table', {class: 'versions prompt-versions'},
        h('thead', {}, h('tr', {}, ['Version', 'Commit message', 'Created', 'Aliases', 'Tags', 'Source run']
          .map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', {colspan: 6, class: 'muted'}, 'This prompt has no versions.')))))),
    detail);

  function markRows() {
    for (const tr of rows) {
      const on = !state.compare && tr.dataset.version === state.selected;
      tr.classList.toggle('selected', on);
      const link = tr.querySelector('a.version-link');
      if (on) link.setAttribute('aria-current', 'true'); else link.removeAttribute('aria-current');
    }
    compareBtn.setAttribute('aria-pressed', String(Boolean(state.compare)));
  }

  // The URL names what the user chose (a version, a comparison), so it can be shared or reloaded.
  const syncUrl = () => updateQuery({version: state.compare ? '' : state.selected, compare: state.compare ? state.compare.join(',') : ''});

  function showVersion(version) {
    state.selected = version;
    state.compare = null;
    replace(comparePick);
    markRows();
    syncUrl();
    drawVersion();
  }

  function startCompare() {
    // The selected version against the one before it (or the newest two when the oldest is selected).
    const i = Math.max(versions.findIndex((v) => String(v.version) === state.selected), 0);
    const newer = i < versions.length - 1 ? i : i - 1;
    state.compare = [String(versions[newer + 1].version), String(versions[newer].version)];
    drawCompare();
  }

  function drawVersion() {
    const v = byVersion.get(state.selected);
    if (!v) { replace(detail); return; }
    const tags = tagMap(v.tags);
    const template = templateOf(v);
    const vars = variablesOf(template);
    const runs = runIdsOf(v);
    const runList = h('ul', {class: 'run-list'}, runs.map((id) => h('li', {}, h('a', {href: runHref(id), class: 'run-link'}, id))));
    const kwargs = vars.filter((x) => !x.includes('.'));
    const usage = `import mlflow\n\nprompt = mlflow.genai.load_prompt(${JSON.stringify(`prompts:/${name}/${v.version}`)})\n`
      + (kwargs.length ? `filled = prompt.format(${kwargs.map((x) => `${x}=...`).join(', ')})\n` : '');
    replace(detail,
      h('div', {class: 'version-title'}, h('h2', {id: 'template-title'}, `Version ${v.version}`),
        h('span', {class: 'badge prompt-type'}, template.type), aliasBadges(prompt.aliases, v.version)),
      h('dl', {class: 'kv version-overview'},
        h('dt', {}, 'Commit message'), h('dd', {class: 'commit'}, v.description || h('span', {class: 'muted'}, '—')),
        h('dt', {}, 'Created'), h('dd', {}, fmtTime(v.creation_timestamp)),
        v.user_id ? [h('dt', {}, 'Registered by'), h('dd', {}, v.user_id)] : null,
        runs.length ? [h('dt', {}, runs.length > 1 ? 'Source runs' : 'Source run'), h('dd', {class: 'version-runs'}, runList)] : null),
      h('h3', {}, 'Template'), templateView(template),
      h('h3', {}, 'Variables'),
      vars.length ? h('ul', {class: 'variables'}, vars.map((x) => h('li', {}, h('code', {}, x)))) : h('p', {class: 'muted'}, 'No variables.'),
      tags[PROMPT_KEYS.responseFormat] ? [h('h3', {}, 'Response format'), jsonBlock(tags[PROMPT_KEYS.responseFormat], 'response-format')] : null,
      tags[PROMPT_KEYS.modelConfig] ? [h('h3', {}, 'Model config'), jsonBlock(tags[PROMPT_KEYS.modelConfig], 'model-config')] : null,
      h('h3', {}, 'Version tags'), tagTable(userTags(v.tags), 'No tags on this version.'),
      h('h3', {}, 'Use this version'), h('pre', {class: 'usage'}, usage));
    // Run names replace the ids once known; a run that cannot be read keeps its id.
    runs.forEach((id, k) => api.getRun(id).then((run) => {
      const a = runList.children[k] && runList.children[k].firstChild;
      if (a) { a.textContent = runName(run); a.title = id; }
    }).catch(() => {}));
  }

  function drawCompare() {
    const options = (selected) => versions.map((v) => h('option', {value: String(v.version), selected: String(v.version) === selected},
      'v' + v.version + (v.description ? ' · ' + v.description.slice(0, 60) : '')));
    const left = h('select', {'aria-label': 'Base version', class: 'compare-left'}, options(state.compare[0]));
    const right = h('select', {'aria-label': 'Compared version', class: 'compare-right'}, options(state.compare[1]));
    const out = h('div', {class: 'diff-box'});
    const draw = () => {
      state.compare = [left.value, right.value];
      markRows();
      syncUrl();
      const [a, b] = state.compare.map((x) => byVersion.get(x));
      const rowsOf = diffLines(templateLines(templateOf(a)), templateLines(templateOf(b)));
      replace(out, rowsOf.some((r) => r.type !== 'same') ? diffTable(rowsOf, 'v' + a.version, 'v' + b.version)
        : h('p', {class: 'muted diff-summary'}, `v${a.version} and v${b.version} have the same template.`));
    };
    left.addEventListener('change', draw);
    right.addEventListener('change', draw);
    replace(comparePick, h('label', {}, 'Base ', left), h('label', {}, 'compared with ', right));
    replace(detail, h('h2', {id: 'template-title'}, 'Compare templates'), out);
    draw();
  }

  markRows();
  if (state.compare) drawCompare(); else drawVersion();
}
