// One trace: a header with its totals (duration, spans, tokens, cost, state), the span tree with a
// waterfall on one time axis (virtualised: any number of spans), the selected span's detail, and the
// trace's assessments with a form to add feedback. A trace still in progress grows on the page over
// server-sent events. Every value from the trace is shown as text.

import * as api from '../api.js';
import {errorBox, fmtElapsed, fmtTime, h, replace, routeHref} from '../dom.js';
import {assessmentsPanel} from '../components/assessments.js';
import {spanList} from '../components/spanlist.js';
import {costText, spanDetail, tokensText} from '../components/spandetail.js';
import {TraceModel, costOf, usageOf} from '../components/tracemodel.js';

/** MLflow 3's protobuf Duration ("1.200s") as milliseconds, or null. */
function durationMs(raw) {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(String(raw || ''));
  return m ? Number(m[1]) * 1000 : null;
}

/** Spans of a trace whose spans live in its traces.json artifact (not in the database): the REST answer. */
async function artifactSpans(traceId, info) {
  const tags = info.tags || {};
  if (tags['mlflow.trace.spansLocation'] === 'TRACKING_STORE' || !tags['mlflow.artifactLocation']) return [];
  const trace = await api.getTrace(traceId);
  return trace.spans || [];
}

const fact = (label, value, cls) => h('div', {class: 'trace-fact ' + (cls || '')}, h('span', {class: 'muted'}, label), h('strong', {}, value));

function summary(info, model) {
  const meta = info.trace_metadata || {};
  const sums = model.spanTotals();
  const tokens = usageOf(meta['mlflow.trace.tokenUsage']) || sums.tokens;
  const cost = costOf(meta['mlflow.trace.cost']) || sums.cost;
  const running = info.state === 'IN_PROGRESS';
  const ms = durationMs(info.execution_duration) ?? (model.order.length ? (model.t1 - model.t0) / 1e6 : null);
  const state = running ? 'IN_PROGRESS' : info.state || '';
  return [
    fact('State', h('span', {class: 'badge status-' + (state === 'OK' ? 'finished' : state === 'ERROR' ? 'failed' : 'running')}, state), 'trace-state'),
    fact('Duration', ms === null ? '–' : fmtElapsed(ms) + (running ? ' so far' : ''), 'trace-duration'),
    fact('Spans', model.order.length.toLocaleString('en-US'), 'trace-spans'),
    fact('Tokens', tokensText(tokens) || '–', 'trace-tokens'),
    fact('Cost', costText(cost) || '–', 'trace-cost'),
    fact('Started', fmtTime(Date.parse(info.request_time)) || '–'),
    ...sessionFacts(info, meta),
  ];
}

/** The trace's session (a link to the conversation) and end user, when it has them. */
function sessionFacts(info, meta) {
  const exp = info.trace_location && info.trace_location.mlflow_experiment ? info.trace_location.mlflow_experiment.experiment_id : null;
  const session = meta['mlflow.trace.session'];
  const user = meta['mlflow.trace.user'];
  const out = [];
  if (session) {
    out.push(fact('Session', exp
      ? h('a', {href: routeHref(`/experiments/${encodeURIComponent(exp)}/sessions/${encodeURIComponent(session)}`)}, session)
      : session, 'trace-session'));
  }
  if (user) out.push(fact('User', user, 'trace-user'));
  return out;
}

export async function renderTrace(root, traceId) {
  const data = await api.traceWithSpans(traceId);
  let info = data.trace_info || {};
  let docs = data.spans || [];
  if (!docs.length) docs = await artifactSpans(traceId, info).catch(() => []);
  const model = new TraceModel(docs);
  const nowNs = () => (model.running ? Math.max(model.t1, Date.now() * 1e6) : null);
  const detail = h('div', {class: 'panel span-detail'});
  const showDetail = (node) => replace(detail, spanDetail(node, model.t0, nowNs()));
  const list = spanList(model, {onSelect: showDetail});
  const head = h('div', {class: 'trace-summary panel'});
  const title = h('h1', {});
  const assessments = assessmentsPanel(traceId, info.assessments || []);
  const message = h('div');
  const exp = info.trace_location && info.trace_location.mlflow_experiment ? info.trace_location.mlflow_experiment.experiment_id : null;
  const redraw = () => {
    const root0 = model.roots[0];
    replace(title, (info.tags || {})['mlflow.traceName'] || (root0 && root0.name) || traceId);
    replace(head, summary(info, model));
    list.render();
  };
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'),
      exp ? [' › ', h('a', {href: routeHref(`/experiments/${encodeURIComponent(exp)}/traces`)}, 'Traces')] : null, ' › ', h('code', {}, traceId)),
    title, head, message,
    h('div', {class: 'trace-layout'}, list.el, detail), assessments.el);
  redraw();
  if (model.visible.length) list.select(model.visible[0].id);
  else replace(detail, h('p', {class: 'muted'}, 'This trace has no spans yet.'));

  if (info.state !== 'IN_PROGRESS') return undefined;
  // Live: the trace grows over server-sent events until it ends; running spans' bars grow with the clock.
  const source = new EventSource(api.traceEventsUrl(traceId));
  const clock = setInterval(() => { if (model.running || info.state === 'IN_PROGRESS') redraw(); }, 1000);
  const stop = () => { source.close(); clearInterval(clock); };
  source.addEventListener('trace', (e) => {
    const payload = JSON.parse(e.data);
    info = payload.trace_info || info;
    const changed = new Set((payload.spans || []).map((d) => d.span_id));
    if (changed.size) model.merge(payload.spans);
    assessments.update(info.assessments || []);
    redraw();
    const selected = list.selected();
    if (selected === null && model.visible.length) list.select(model.visible[0].id);
    else if (changed.has(selected)) showDetail(model.byId.get(selected));
    if (info.state !== 'IN_PROGRESS') stop();
  });
  source.addEventListener('gone', () => { stop(); replace(message, errorBox({code: 'RESOURCE_DOES_NOT_EXIST', message: 'This trace was deleted.'})); });
  return stop;
}
