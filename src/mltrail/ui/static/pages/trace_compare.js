// Two traces side by side: their facts (state, latency, tokens, cost, session, user, spans, request, response) with
// the differences marked, and their span trees next to each other, each span with its type, duration, tokens and
// cost. Reached from the traces list ("Compare 2 traces") as #/compare-traces?ids=a,b. Every value is text.

import * as api from '../api.js';
import {errorBox, fmtElapsed, fmtTime, h, replace, routeHref} from '../dom.js';
import {costText, tokensText} from '../components/spandetail.js';
import {TraceModel} from '../components/tracemodel.js';
import {durationText, previewText, traceFacts} from './traces.js';

const MAX_SPANS = 2000;  // per side: the outline of a huge trace is cut (its own page shows all)

function facts(info, model) {
  const f = traceFacts(info);
  const tags = info.tags || {};
  return [
    ['Name', tags['mlflow.traceName'] || ''],
    ['State', info.state || ''],
    ['Latency', durationText(info.execution_duration)],
    ['Tokens', f.tokens ? tokensText(f.tokens) : ''],
    ['Cost', f.cost ? costText(f.cost) : ''],
    ['Session', f.session || ''],
    ['User', f.user || ''],
    ['Spans', model.order.length.toLocaleString('en-US')],
    ['Started', fmtTime(Date.parse(info.request_time))],
    ['Request', previewText(info.request_preview)],
    ['Response', previewText(info.response_preview)],
  ];
}

function outline(model) {
  const rows = [];
  const walk = (node, depth) => {
    if (rows.length >= MAX_SPANS) return;
    const {usage, cost} = node;
    const ms = node.end !== null && node.end !== undefined ? (node.end - node.start) / 1e6 : null;
    rows.push(h('li', {class: 'compare-span', dataset: {depth: String(Math.min(depth, 12))}},
      h('span', {class: 'span-name'}, node.name), ' ',
      node.type ? h('span', {class: 'badge'}, node.type) : null, ' ',
      h('span', {class: 'muted'}, [ms === null ? 'running' : fmtElapsed(ms), usage ? tokensText(usage) : null,
        cost ? costText(cost) : null].filter(Boolean).join(' · '))));
    for (const child of node.children) walk(child, depth + 1);
  };
  for (const root of model.roots) walk(root, 0);
  return h('ol', {class: 'compare-spans'}, rows);
}

export async function render(root, {query}) {
  const ids = (query.get('ids') || '').split(',').filter(Boolean);
  if (ids.length !== 2) {
    replace(root, errorBox({code: 'INVALID_PARAMETER_VALUE', message: 'Pick exactly two traces to compare (?ids=a,b).'}));
    return;
  }
  const [a, b] = await Promise.all(ids.map((id) => api.traceWithSpans(id)));
  const models = [new TraceModel(a.spans || []), new TraceModel(b.spans || [])];
  const [fa, fb] = [facts(a.trace_info || {}, models[0]), facts(b.trace_info || {}, models[1])];
  const link = (id) => h('a', {href: routeHref('/traces/' + encodeURIComponent(id))}, h('code', {}, id));
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › Compare traces'),
    h('h1', {}, 'Compare traces'),
    h('div', {class: 'table-wrap'}, h('table', {class: 'trace-compare'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, ''), h('th', {scope: 'col'}, link(ids[0])), h('th', {scope: 'col'}, link(ids[1])))),
      h('tbody', {}, fa.map(([label, left], i) => {
        const right = fb[i][1];
        return h('tr', {class: left === right ? '' : 'differs', dataset: {fact: label.toLowerCase()}},
          h('th', {scope: 'row'}, label), h('td', {class: 'left'}, left), h('td', {class: 'right'}, right));
      })))),
    h('h2', {}, 'Spans'),
    h('div', {class: 'compare-columns'}, outline(models[0]), outline(models[1])));
}
