// Traces: an experiment's traces with request/response previews, latency, status, tokens, cost, session and
// user; a filter box speaking search_traces' grammar (OR, parentheses, full text), sortable columns, paging and
// totals of what matches, live while any trace changes (server-sent events). Two picked traces open side by side
// (components/tracecompare.js); one trace opens pages/trace.js. Every value is shown as text.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {debounce, errorBox, experimentHref, fmtElapsed, fmtTime, h, replace, routeHref} from '../dom.js';
import {costText, fmtCost, tokensText} from '../components/spandetail.js';
import {costOf, usageOf} from '../components/tracemodel.js';
import {renderTrace} from './trace.js';

const traceHref = (id) => routeHref('/traces/' + encodeURIComponent(id));

export {anyValue} from '../components/tracemodel.js';

/** The text of a chat request or completion (OpenAI's shapes, which most LLM traces carry), or null. */
function chatText(value) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const content = (m) => (m && typeof m.content === 'string' ? m.content : null);
  const choice = Array.isArray(value.choices) ? value.choices[0] : null;
  if (choice) return content(choice.message) ?? (typeof choice.text === 'string' ? choice.text : null);
  if (Array.isArray(value.messages) && value.messages.length) return content(value.messages[value.messages.length - 1]);
  return null;
}

/**
 * A request/response preview as readable text. MLflow stores previews as JSON (a string answer arrives as
 * "\"Paris\"") and cuts them at 1,000 characters: parse once, show a string as itself, a chat message as its
 * content and anything else as compact JSON; a cut (unparseable) preview is shown as it is.
 */
export function previewText(raw) {
  if (raw === null || raw === undefined || raw === '') return '';
  let value;
  try { value = JSON.parse(raw); } catch { return String(raw); }
  if (typeof value === 'string') return value;
  return chatText(value) ?? JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ');
}

/** MLflow 3's protobuf Duration ("1.200s") for people ("1.2s"); anything else as it is. */
export function durationText(raw) {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(String(raw || ''));
  return m ? fmtElapsed(Number(m[1]) * 1000) : String(raw || '');
}

const SORTS = {time: 'timestamp_ms', latency: 'execution_time_ms', status: 'status', tokens: 'total_tokens',
  cost: 'cost', session: 'session', user: 'user', name: 'name'};
const COLUMNS = [
  ['', null], ['Trace', null], ['Name', 'name'], ['Time', 'time'], ['Latency', 'latency'], ['Status', 'status'],
  ['Tokens', 'tokens'], ['Cost', 'cost'], ['Session', 'session'], ['User', 'user'], ['Request', null], ['Response', null],
];
const DEFAULT_SORT = 'time:desc';
const quote = (value) => "'" + String(value).replace(/'/g, "''") + "'";

/** The traces list's tabs: traces and sessions of the same experiments. */
export function traceTabs(experimentIds, current) {
  const ids = experimentIds.map(encodeURIComponent).join(',');
  const tab = (label, path, key) => h('a', {href: routeHref(`/experiments/${ids}/${path}`), class: 'tab-link' + (key === current ? ' current' : ''),
    'aria-current': key === current ? 'page' : undefined}, label);
  return h('nav', {class: 'trace-tabs', 'aria-label': 'Traces views'}, tab('Traces', 'traces', 'traces'), tab('Sessions', 'sessions', 'sessions'));
}

/** "12 traces · 3,400 tokens · $0.0123": totals of the traces matching a filter. */
export function totalsText(t) {
  if (!t) return '';
  const parts = [`${t.trace_count.toLocaleString('en-US')} trace${t.trace_count === 1 ? '' : 's'}`];
  if (t.total_tokens) parts.push(tokensText({input: t.input_tokens, output: t.output_tokens, total: t.total_tokens}));
  if (t.total_cost) parts.push(costText({input: t.input_cost, output: t.output_cost, total: t.total_cost}));
  return parts.join(' · ');
}

export async function renderList(root, experimentIds, query = new URLSearchParams()) {
  const state = {filter: query.get('filter') || '', sort: query.get('sort') || DEFAULT_SORT};
  const tbody = h('tbody');
  const message = h('div', {class: 'filter-error'});
  const totals = h('p', {class: 'trace-totals muted', 'aria-live': 'polite'});
  const more = h('button', {type: 'button', class: 'load-more', hidden: true}, 'Load more');
  const compare = h('button', {type: 'button', class: 'compare-traces', disabled: true}, 'Compare 2 traces');
  const filterInput = h('input', {type: 'search', name: 'filter', value: state.filter, 'aria-label': 'Filter traces',
    placeholder: "trace.text ILIKE '%refund%' AND (trace.status = 'ERROR' OR trace.cost > 0.01)"});
  const head = h('tr');
  const picked = [];
  const orderBy = () => {
    const [key, dir] = state.sort.split(':');
    return [`${SORTS[key] || 'timestamp_ms'} ${dir === 'asc' ? 'ASC' : 'DESC'}`];
  };
  const drawHead = () => {
    const [key, dir] = state.sort.split(':');
    replace(head, COLUMNS.map(([label, sortKey]) => {
      if (!sortKey) return h('th', {scope: 'col'}, label);
      const active = key === sortKey;
      return h('th', {scope: 'col', 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none', dataset: {sort: sortKey}},
        h('button', {type: 'button', class: 'link sort', onclick: () => {
          state.sort = `${sortKey}:${active && dir === 'desc' ? 'asc' : 'desc'}`;
          reload();
        }}, label + (active ? (dir === 'asc' ? ' ▲' : ' ▼') : '')));
    }));
  };
  const onPick = (traceId, checked) => {
    const at = picked.indexOf(traceId);
    if (checked && at < 0) picked.push(traceId);
    if (!checked && at >= 0) picked.splice(at, 1);
    while (picked.length > 2) {  // keep the last two picked
      const dropped = picked.shift();
      const box = tbody.querySelector(`tr[data-trace-id="${CSS.escape(dropped)}"] input.pick`);
      if (box) box.checked = false;
    }
    compare.disabled = picked.length !== 2;
  };
  compare.addEventListener('click', () => {
    if (picked.length === 2) location.hash = routeHref('/compare-traces', {ids: picked.join(',')}).slice(1);
  });
  const filterHelp = h('details', {class: 'filter-help'}, h('summary', {}, 'Filter syntax'),
    h('p', {}, 'MLflow\'s search_traces grammar, with AND, OR and parentheses. Examples:'),
    h('ul', {}, [
      "trace.text ILIKE '%refund%'", "trace.status = 'ERROR' OR trace.execution_time_ms > 5000",
      "span.type = 'TOOL' AND span.name LIKE 'search%'", "span.attributes.`mlflow.llm.model` = 'gpt-4o'",
      "trace.session = 'chat-42'", "trace.user = 'ana@example.com'", "trace.total_tokens > 1000 AND trace.cost >= 0.01",
      "tags.reviewed = 'yes'", "metadata.`mlflow.sourceRun` = '<run id>'",
    ].map((example) => h('li', {}, h('button', {type: 'button', class: 'link', onclick: () => { filterInput.value = example; }},
      h('code', {}, example))))));
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ', h('a', {href: experimentHref(experimentIds)}, 'Runs'), ' › Traces'),
    h('h1', {}, 'Traces'), traceTabs(experimentIds, 'traces'),
    h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); state.filter = filterInput.value.trim(); reload(); }},
      h('div', {class: 'grow'}, filterInput), h('button', {type: 'submit'}, 'Search'), compare),
    filterHelp, message, totals,
    h('div', {class: 'table-wrap'}, h('table', {class: 'traces'}, h('thead', {}, head), tbody)), more);
  let token = null;
  let loading = false;
  let generation = 0;
  const seen = new Set();  // a trace logged while paging shifts later pages; never show one twice
  const search = (pageToken) => api.searchTraces(experimentIds, {pageToken, filter: state.filter || undefined, orderBy: orderBy()});
  async function page() {
    if (loading) return;  // a double click must not fetch the same page twice
    loading = true;
    more.disabled = true;
    const gen = generation;
    try {
      const res = await search(token);
      if (gen !== generation) return;
      replace(message);
      filterInput.removeAttribute('aria-invalid');
      for (const t of res.traces || []) {
        if (seen.has(t.trace_id)) continue;
        seen.add(t.trace_id);
        tbody.append(traceRow(t, picked, onPick));
      }
      token = res.next_page_token || null;
      more.hidden = !token;
      if (!tbody.childNodes.length) {
        tbody.append(h('tr', {}, h('td', {colspan: COLUMNS.length, class: 'muted'}, state.filter ? 'No traces match this filter.' : 'No traces yet.')));
      }
    } catch (err) {
      if (gen !== generation) return;
      // The server's own explanation of a bad filter, right under the box.
      filterInput.setAttribute('aria-invalid', 'true');
      replace(message, errorBox(err));
      more.hidden = true;
    } finally {
      loading = false;
      more.disabled = false;
    }
  }
  const loadTotals = async () => {
    try { replace(totals, totalsText(await api.traceTotals(experimentIds, state.filter || undefined))); } catch { replace(totals); }
  };
  async function reload() {
    generation += 1;
    loading = false;
    token = null;
    seen.clear();
    picked.length = 0;
    compare.disabled = true;
    tbody.replaceChildren();
    updateQuery({filter: state.filter, sort: state.sort === DEFAULT_SORT ? '' : state.sort});
    drawHead();
    await Promise.all([page(), loadTotals()]);
  }
  // Only with a next page token: without one the search would start over and repeat the first page.
  more.addEventListener('click', () => { if (token) page(); });
  await reload();
  // Live: when the experiments' traces change, re-read the first page; rows update in place, new traces go on top
  // (newest-first order only: in another order a new trace's place is not the top).
  const refresh = debounce(async () => {
    loadTotals();
    if (state.sort !== DEFAULT_SORT) return;
    try {
      const gen = generation;
      const res = await search();
      if (gen !== generation) return;
      let anchor = null;
      for (const t of res.traces || []) {
        const row = traceRow(t, picked, onPick);
        const old = tbody.querySelector(`tr[data-trace-id="${CSS.escape(t.trace_id)}"]`);
        if (old) old.replaceWith(row);
        else if (anchor) anchor.after(row);
        else tbody.prepend(row);
        anchor = row;
        seen.add(t.trace_id);
      }
      const placeholder = tbody.querySelector('td[colspan]');
      if (placeholder && seen.size) placeholder.parentElement.remove();
    } catch { /* the next change tries again */ }
  }, 200);
  const source = new EventSource(api.tracesEventsUrl(experimentIds));
  source.addEventListener('traces', refresh);
  return () => source.close();
}

/** The session, user, tokens and cost of a trace info (MLflow's metadata keys), each null when absent. */
export function traceFacts(t) {
  const meta = t.trace_metadata || {};
  return {session: meta['mlflow.trace.session'] || null, user: meta['mlflow.trace.user'] || null,
    tokens: usageOf(meta['mlflow.trace.tokenUsage']), cost: costOf(meta['mlflow.trace.cost'])};
}

function traceRow(t, picked, onPick) {
  const request = previewText(t.request_preview);
  const response = previewText(t.response_preview);
  const state = t.state || '';
  const facts = traceFacts(t);
  const exp = t.trace_location && t.trace_location.mlflow_experiment ? t.trace_location.mlflow_experiment.experiment_id : null;
  const box = h('input', {type: 'checkbox', class: 'pick', 'aria-label': 'Pick for comparison', checked: picked.includes(t.trace_id),
    onchange: (e) => onPick(t.trace_id, e.target.checked)});
  return h('tr', {dataset: {traceId: t.trace_id, state}},
    h('td', {}, box),
    h('td', {}, h('a', {href: traceHref(t.trace_id)}, t.trace_id.slice(0, 14))),
    h('td', {}, (t.tags || {})['mlflow.traceName'] || ''),
    h('td', {}, fmtTime(Date.parse(t.request_time))),
    h('td', {class: 'num latency', title: t.execution_duration || ''}, state === 'IN_PROGRESS' ? 'running…' : durationText(t.execution_duration)),
    h('td', {}, h('span', {class: 'badge status-' + (state === 'OK' ? 'finished' : state === 'ERROR' ? 'failed' : 'running')}, state)),
    h('td', {class: 'num tokens', title: facts.tokens ? tokensText(facts.tokens) : ''}, facts.tokens ? facts.tokens.total.toLocaleString('en-US') : ''),
    h('td', {class: 'num cost', title: facts.cost ? costText(facts.cost) : ''}, facts.cost ? fmtCost(facts.cost.total) : ''),
    h('td', {class: 'session'}, facts.session && exp
      ? h('a', {href: routeHref(`/experiments/${encodeURIComponent(exp)}/sessions/${encodeURIComponent(facts.session)}`)}, facts.session)
      : facts.session || ''),
    h('td', {class: 'user'}, facts.user && exp
      ? h('a', {href: routeHref(`/experiments/${encodeURIComponent(exp)}/traces`, {filter: `trace.user = ${quote(facts.user)}`})}, facts.user)
      : facts.user || ''),
    h('td', {class: 'preview-cell request', title: request}, request),
    h('td', {class: 'preview-cell response', title: response}, response));
}

export async function render(root, {experimentIds, traceId, query}) {
  return traceId ? renderTrace(root, traceId) : renderList(root, experimentIds, query);
}
