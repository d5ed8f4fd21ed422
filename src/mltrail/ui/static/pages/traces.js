// Traces: an experiment's traces, and one trace as a span tree with each span's inputs,
// outputs and attributes. Spans arrive as OTLP JSON; every value is shown as text.

import * as api from '../api.js';
import {errorBox, experimentHref, fmtElapsed, fmtTime, h, replace, routeHref} from '../dom.js';

const traceHref = (id) => routeHref('/traces/' + encodeURIComponent(id));

/** An OTLP AnyValue as a plain JS value. */
export function anyValue(v) {
  if (!v || typeof v !== 'object') return v;
  if ('string_value' in v) return v.string_value;
  if ('int_value' in v) return Number(v.int_value);
  if ('double_value' in v) return v.double_value;
  if ('bool_value' in v) return v.bool_value;
  if ('array_value' in v) return (v.array_value.values || []).map(anyValue);
  if ('kvlist_value' in v) return Object.fromEntries((v.kvlist_value.values || []).map((kv) => [kv.key, anyValue(kv.value)]));
  if ('bytes_value' in v) return v.bytes_value;
  return null;
}

function attributesOf(span) {
  const attrs = span.attributes;
  if (Array.isArray(attrs)) return Object.fromEntries(attrs.map((a) => [a.key, anyValue(a.value)]));
  return attrs || {};
}

/** JSON-encoded attribute strings (MLflow's own span format) shown decoded. */
function decoded(value) {
  if (typeof value !== 'string') return value;
  try { return JSON.parse(value); } catch { return value; }
}

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

const pretty = (value) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));
const durationMs = (span) => (Number(span.end_time_unix_nano) - Number(span.start_time_unix_nano)) / 1e6;

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
        const request = previewText(t.request_preview);
        const response = previewText(t.response_preview);
        tbody.append(h('tr', {dataset: {traceId: t.trace_id}},
          h('td', {}, h('a', {href: traceHref(t.trace_id)}, t.trace_id.slice(0, 14))),
          h('td', {}, (t.tags || {})['mlflow.traceName'] || ''),
          h('td', {}, fmtTime(Date.parse(t.request_time))),
          h('td', {title: t.execution_duration || ''}, durationText(t.execution_duration)),
          h('td', {}, h('span', {class: 'badge status-' + (t.state === 'OK' ? 'finished' : t.state === 'ERROR' ? 'failed' : 'running')}, t.state || '')),
          h('td', {class: 'preview-cell request', title: request}, request),
          h('td', {class: 'preview-cell response', title: response}, response)));
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
}

function spanDetail(span) {
  const attrs = attributesOf(span);
  const inputs = decoded(attrs['mlflow.spanInputs']);
  const outputs = decoded(attrs['mlflow.spanOutputs']);
  const rest = Object.entries(attrs).filter(([k]) => k !== 'mlflow.spanInputs' && k !== 'mlflow.spanOutputs');
  const status = span.status && span.status.code ? span.status.code.replace('STATUS_CODE_', '') : '';
  return [
    h('h2', {}, span.name),
    h('dl', {class: 'kv'}, h('dt', {}, 'Type'), h('dd', {}, decoded(attrs['mlflow.spanType']) || ''),
      h('dt', {}, 'Duration'), h('dd', {}, durationMs(span).toFixed(1) + ' ms'),
      h('dt', {}, 'Status'), h('dd', {}, status + (span.status && span.status.message ? ': ' + span.status.message : ''))),
    h('h2', {}, 'Inputs'), h('pre', {class: 'span-inputs'}, inputs === undefined ? '' : pretty(inputs)),
    h('h2', {}, 'Outputs'), h('pre', {class: 'span-outputs'}, outputs === undefined ? '' : pretty(outputs)),
    h('details', {}, h('summary', {}, `Attributes (${rest.length})`),
      h('div', {class: 'table-wrap'}, h('table', {}, h('tbody', {}, rest.map(([k, v]) =>
        h('tr', {}, h('td', {class: 'wrap'}, k), h('td', {class: 'wrap'}, pretty(decoded(v))))))))),
    (span.events || []).length ? [h('h2', {}, 'Events'), h('pre', {}, JSON.stringify(span.events, null, 2))] : null,
  ];
}

export async function renderTrace(root, traceId) {
  const trace = await api.getTrace(traceId);
  const info = trace.trace_info || {};
  const spans = trace.spans || (trace.data && trace.data.spans) || [];
  const children = new Map();
  const ids = new Set(spans.map((s) => s.span_id));
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => Number(a.start_time_unix_nano) - Number(b.start_time_unix_nano));
  const detail = h('div', {class: 'panel span-detail'});
  const tree = h('ul', {class: 'span-tree', role: 'tree'});
  let current = null;
  const select = (span, btn) => {
    if (current) current.removeAttribute('aria-current');
    current = btn;
    btn.setAttribute('aria-current', 'true');
    replace(detail, spanDetail(span));
  };
  const buttons = [];
  const walk = (parent, depth) => {
    for (const span of children.get(parent) || []) {
      const btn = h('button', {type: 'button', dataset: {span: span.name}, onclick: () => select(span, btn)},
        span.name, ' ', h('span', {class: 'muted'}, durationMs(span).toFixed(1) + ' ms'));
      btn.style.paddingLeft = (depth * 1.1 + 0.2) + 'rem';
      buttons.push([span, btn]);
      tree.append(h('li', {role: 'treeitem'}, btn));
      walk(span.span_id, depth + 1);
    }
  };
  walk('', 0);
  const exp = info.trace_location && info.trace_location.mlflow_experiment ? info.trace_location.mlflow_experiment.experiment_id : null;
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), exp ? [' › ', h('a', {href: routeHref(`/experiments/${encodeURIComponent(exp)}/traces`)}, 'Traces')] : null),
    h('h1', {}, (info.tags || {})['mlflow.traceName'] || traceId),
    h('div', {class: 'toolbar'}, h('code', {}, traceId), h('span', {class: 'badge'}, info.state || ''),
      h('span', {class: 'muted'}, durationText(info.execution_duration)), h('span', {class: 'muted'}, fmtTime(Date.parse(info.request_time)))),
    h('div', {class: 'artifacts'}, h('nav', {class: 'panel tree', 'aria-label': 'Spans'}, tree), detail));
  if (buttons.length) select(...buttons[0]);
  else replace(detail, h('p', {class: 'muted'}, 'This trace has no spans.'));
}

export async function render(root, {experimentIds, traceId}) {
  if (traceId) await renderTrace(root, traceId);
  else await renderList(root, experimentIds);
}
