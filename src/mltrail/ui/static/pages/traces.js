// Traces: an experiment's traces, live while any of them changes (server-sent events), and one trace
// (pages/trace.js). Every value is shown as text.

import * as api from '../api.js';
import {debounce, errorBox, experimentHref, fmtElapsed, fmtTime, h, replace, routeHref} from '../dom.js';
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

export async function renderList(root, experimentIds) {
  const tbody = h('tbody');
  const message = h('div');
  const more = h('button', {type: 'button', class: 'load-more', hidden: true}, 'Load more');
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ', h('a', {href: experimentHref(experimentIds)}, 'Runs'), ' › Traces'),
    h('h1', {}, 'Traces'), message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'traces'},
      h('thead', {}, h('tr', {}, ['Trace', 'Name', 'Time', 'Duration', 'State', 'Request', 'Response'].map((t) => h('th', {scope: 'col'}, t)))),
      tbody)), more);
  let token = null;
  let loading = false;
  const seen = new Set();  // a trace logged while paging shifts later pages; never show one twice
  async function page() {
    if (loading) return;  // a double click must not fetch the same page twice
    loading = true;
    more.disabled = true;
    try {
      const res = await api.searchTraces(experimentIds, {pageToken: token});
      for (const t of res.traces || []) {
        if (seen.has(t.trace_id)) continue;
        seen.add(t.trace_id);
        tbody.append(traceRow(t));
      }
      token = res.next_page_token || null;
      more.hidden = !token;
      if (!tbody.childNodes.length) tbody.append(h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No traces yet.')));
    } catch (err) { replace(message, errorBox(err)); } finally {
      loading = false;
      more.disabled = false;
    }
  }
  // Only with a next page token: without one the search would start over and repeat the first page.
  more.addEventListener('click', () => { if (token) page(); });
  await page();
  // Live: when the experiments' traces change, re-read the first page; rows update in place, new traces go on top.
  const refresh = debounce(async () => {
    try {
      const res = await api.searchTraces(experimentIds);
      let anchor = null;
      for (const t of res.traces || []) {
        const row = traceRow(t);
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

function traceRow(t) {
  const request = previewText(t.request_preview);
  const response = previewText(t.response_preview);
  const state = t.state || '';
  return h('tr', {dataset: {traceId: t.trace_id, state}},
    h('td', {}, h('a', {href: traceHref(t.trace_id)}, t.trace_id.slice(0, 14))),
    h('td', {}, (t.tags || {})['mlflow.traceName'] || ''),
    h('td', {}, fmtTime(Date.parse(t.request_time))),
    h('td', {title: t.execution_duration || ''}, state === 'IN_PROGRESS' ? 'running…' : durationText(t.execution_duration)),
    h('td', {}, h('span', {class: 'badge status-' + (state === 'OK' ? 'finished' : state === 'ERROR' ? 'failed' : 'running')}, state)),
    h('td', {class: 'preview-cell request', title: request}, request),
    h('td', {class: 'preview-cell response', title: response}, response));
}

export async function render(root, {experimentIds, traceId}) {
  return traceId ? renderTrace(root, traceId) : renderList(root, experimentIds);
}
