// Prompt Registry: the list of prompts, searched by name on the server and paged. A prompt is a
// registered model tagged mlflow.prompt.is_prompt = "true" (MLflow's storage format); its versions
// carry the template in tags. One prompt's page (versions, template, diff) lives in prompt.js.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {debounce, errorBox, fmtTime, h, replace, routeHref} from '../dom.js';

/** The version tags MLflow writes for a prompt (mlflow/prompt/constants.py). */
export const PROMPT_KEYS = {
  text: 'mlflow.prompt.text',
  type: '_mlflow_prompt_type',
  responseFormat: '_mlflow_prompt_response_format',
  modelConfig: '_mlflow_prompt_model_config',
};

/** The filter that asks the server for prompts (it leaves them out of model searches otherwise). */
export const PROMPT_FILTER = `tags.\`${api.PROMPT_TAG}\` = 'true'`;

const PAGE_SIZES = [10, 25, 50, 100];

export const promptHref = (name, params) => routeHref('/prompts/' + encodeURIComponent(name), params);

/** MLflow's bookkeeping tags (mlflow.prompt.*, _mlflow_*) are shown in their own places, not as tags. */
export const isInternalTag = (key) => key.startsWith('mlflow.prompt.') || key.startsWith('_mlflow_');

export const userTags = (tags) => (tags || []).filter((t) => !isInternalTag(t.key)).sort((a, b) => a.key.localeCompare(b.key));

/** A name search as a LIKE pattern: the user's %, _ and \ are literal characters, not wildcards. */
export function nameFilter(needle) {
  const text = needle.trim();
  if (!text) return PROMPT_FILTER;
  const pattern = '%' + text.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
  return `${PROMPT_FILTER} AND name ILIKE ${api.quoteFilter(pattern)}`;
}

function latestOf(prompt) {
  return (prompt.latest_versions || []).reduce((best, v) => (!best || Number(v.version) > Number(best.version) ? v : best), null);
}

export async function render(root, {query}) {
  const state = {
    needle: query.get('q') || '',
    pageSize: PAGE_SIZES.includes(Number(query.get('ps'))) ? Number(query.get('ps')) : 25,
    tokens: [null],  // tokens[i] opens page i
    page: 0,
  };
  let seq = 0;  // only the answer to the latest request is drawn
  let closed = false;  // set when the user leaves: a pending search must not rewrite another page's URL
  const search = h('input', {type: 'search', value: state.needle, 'aria-label': 'Search prompts', placeholder: 'Search prompts by name',
    autocomplete: 'off', spellcheck: 'false'});
  const message = h('div');
  const tbody = h('tbody');
  const prevBtn = h('button', {type: 'button', onclick: () => { state.page--; load(); }}, '‹ Previous');
  const nextBtn = h('button', {type: 'button', onclick: () => { state.page++; load(); }}, 'Next ›');
  const pageInfo = h('span', {class: 'muted', 'aria-live': 'polite'});
  const sizeSelect = h('select', {'aria-label': 'Prompts per page', onchange: () => { state.pageSize = Number(sizeSelect.value); reload(); }},
    PAGE_SIZES.map((n) => h('option', {value: n, selected: n === state.pageSize}, `${n} per page`)));
  document.title = 'Prompts · mltrail';

  replace(root, h('h1', {}, 'Prompts'),
    h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); reload(); }},
      h('div', {class: 'grow'}, search), h('button', {type: 'submit'}, 'Search')),
    message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'prompts'},
      h('thead', {}, h('tr', {}, ['Name', 'Latest version', 'Last modified', 'Tags', 'Commit message']
        .map((t) => h('th', {scope: 'col'}, t)))),
      tbody)),
    h('div', {class: 'pager'}, prevBtn, nextBtn, pageInfo, sizeSelect));

  const row = (p) => {
    const latest = latestOf(p);
    return h('tr', {dataset: {prompt: p.name}},
      h('td', {class: 'wrap'}, h('a', {href: promptHref(p.name), class: 'prompt-link'}, p.name)),
      h('td', {}, latest ? h('a', {href: promptHref(p.name, {version: latest.version}), 'aria-label': `${p.name} version ${latest.version}`},
        'v' + latest.version) : ''),
      h('td', {}, fmtTime(p.last_updated_timestamp)),
      h('td', {class: 'wrap tag-cell'}, userTags(p.tags).map((t) => h('span', {class: 'badge tag'}, `${t.key}: ${t.value}`))),
      h('td', {class: 'wrap'}, latest ? latest.description || '' : ''));
  };

  async function load() {
    if (closed) return;
    const mine = ++seq;
    state.needle = search.value;
    updateQuery({q: state.needle.trim(), ps: state.pageSize === 25 ? '' : state.pageSize});
    let prompts = [];
    try {
      const res = await api.searchRegisteredModels({filter: nameFilter(state.needle), maxResults: state.pageSize,
        pageToken: state.tokens[state.page] || undefined});
      if (mine !== seq || closed) return;
      prompts = res.registered_models || [];
      state.tokens[state.page + 1] = res.next_page_token || null;
      state.tokens.length = state.page + 2;
      replace(message);
    } catch (err) {
      if (mine !== seq || closed) return;
      replace(message, errorBox(err));
    }
    const empty = state.needle.trim() ? 'No prompt matches this search.' : 'No prompts yet. Register one with mlflow.genai.register_prompt().';
    replace(tbody, prompts.length ? prompts.map(row) : h('tr', {}, h('td', {colspan: 5, class: 'muted'}, empty)));
    prevBtn.disabled = state.page === 0;
    nextBtn.disabled = !state.tokens[state.page + 1];
    const first = state.page * state.pageSize;
    pageInfo.textContent = prompts.length ? `Prompts ${first + 1}–${first + prompts.length}` : '';
  }

  function reload() {
    state.tokens = [null];
    state.page = 0;
    return load();
  }

  search.addEventListener('input', debounce(() => { if (search.value !== state.needle) reload(); }, 250));
  await load();
  return () => { closed = true; };
}
