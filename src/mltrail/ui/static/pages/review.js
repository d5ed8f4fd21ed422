// Human review (MLflow 3.14's review queues and label schemas). "#/experiments/<id>/review" lists an
// experiment's queues (with how many items are still pending) and its questions; "#/review/<queue id>"
// works through one queue trace by trace: the trace's request and response, one input per question
// (pass/fail, categorical, numeric, text, with an optional comment), and "Save and next", which records
// each answer as an assessment on the trace (Feedback or Expectation, source HUMAN, the reviewer as
// source id, what mlflow.log_feedback writes) and marks the item complete. "Skip" moves on, "Decline"
// marks it declined. Every value from the trace is shown as text.

import * as api from '../api.js';
import {assessmentValue, currentUser} from '../components/assessments.js';
import {errorBox, experimentHref, fmtTime, h, replace, routeHref} from '../dom.js';

const queueHref = (id, index) => routeHref('/review/' + encodeURIComponent(id), index ? {i: index} : undefined);
const none = () => h('span', {class: 'muted'}, '—');
const kindOf = (schema) => Object.keys(schema.input || {})[0] || 'text';

function crumbs(experimentId, ...tail) {
  return h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ',
    h('a', {href: experimentHref([experimentId])}, 'Runs'), ' › ',
    h('a', {href: routeHref(`/experiments/${encodeURIComponent(experimentId)}/review`)}, 'Review'), ...tail);
}

function inputText(schema) {
  const kind = kindOf(schema);
  const body = schema.input[kind] || {};
  if (kind === 'pass_fail') return `${body.positive_label} / ${body.negative_label}`;
  if (kind === 'categorical') return (body.multi_select ? 'any of: ' : 'one of: ') + (body.options || []).join(', ');
  if (kind === 'numeric') return 'number' + (body.min_value !== undefined || body.max_value !== undefined ? ` in [${body.min_value ?? '−∞'}, ${body.max_value ?? '∞'}]` : '');
  return 'text' + (body.max_length ? ` (≤ ${body.max_length} characters)` : '');
}

// ------------------------------------------------------------------ the experiment's queues
async function renderQueues(root, experimentId) {
  const [page, schemas] = await Promise.all([api.listReviewQueues(experimentId), api.listLabelSchemas(experimentId)]);
  const queues = page.review_queues || [];
  const pending = await Promise.all(queues.map((q) => api.reviewQueueItems(q.queue_id).then((items) => ({
    open: items.filter((i) => i.status === 'PENDING').length, total: items.length}))));
  const rows = queues.map((q, n) => h('tr', {'data-queue-id': q.queue_id},
    h('td', {}, h('a', {href: queueHref(q.queue_id)}, q.name)),
    h('td', {}, q.queue_type === 'USER' ? 'user' : 'custom'),
    h('td', {}, (q.users || []).join(', ') || none()),
    h('td', {class: 'num queue-pending'}, `${pending[n].open} / ${pending[n].total}`),
    h('td', {}, fmtTime(Number(q.creation_time_ms)))));
  const schemaRows = schemas.map((s) => h('tr', {'data-schema-id': s.schema_id},
    h('td', {}, s.name, s.is_default ? h('span', {class: 'muted'}, ' (default)') : null),
    h('td', {}, String(s.type || '').toLowerCase()), h('td', {}, inputText(s)), h('td', {class: 'wrap'}, s.instruction || none())));
  const table = (head, body, empty) => h('div', {class: 'table-wrap'}, h('table', {},
    h('thead', {}, h('tr', {}, head.map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', {}, body.length ? body : h('tr', {}, h('td', {colspan: head.length, class: 'muted'}, empty)))));
  replace(root, crumbs(experimentId), h('h1', {}, 'Review queues'),
    table(['Queue', 'Type', 'Reviewers', 'Pending / items', 'Created'], rows,
      'No review queues yet: create one with mlflow.genai.review_queues.create_review_queue(...).'),
    h('h2', {}, 'Questions (label schemas)'),
    table(['Name', 'Type', 'Input', 'Instruction'], schemaRows, 'No questions yet.'));
}

// ------------------------------------------------------------------ one question's input
function questionField(schema) {
  const kind = kindOf(schema);
  const body = schema.input[kind] || {};
  const id = 'q-' + schema.schema_id;
  const label = h('legend', {}, schema.name);
  let control;
  let read;
  if (kind === 'pass_fail') {
    const radio = (value, text) => h('label', {}, h('input', {type: 'radio', name: id, value}), ' ', text);
    control = h('div', {class: 'feedback-row'}, radio('true', body.positive_label), radio('false', body.negative_label));
    read = () => { const on = control.querySelector('input:checked'); return on ? on.value === 'true' : undefined; };
  } else if (kind === 'categorical' && body.multi_select) {
    control = h('div', {class: 'feedback-row'}, (body.options || []).map((o) => h('label', {}, h('input', {type: 'checkbox', value: o}), ' ', o)));
    read = () => { const on = [...control.querySelectorAll('input:checked')].map((c) => c.value); return on.length ? on : undefined; };
  } else if (kind === 'categorical') {
    control = h('select', {name: id, 'aria-label': schema.name}, h('option', {value: ''}, '—'),
      (body.options || []).map((o) => h('option', {value: o}, o)));
    read = () => control.value || undefined;
  } else if (kind === 'numeric') {
    control = h('input', {type: 'number', name: id, 'aria-label': schema.name, step: 'any',
      min: body.min_value ?? undefined, max: body.max_value ?? undefined});
    read = () => {
      if (control.value.trim() === '') return undefined;
      const n = Number(control.value);
      if (!Number.isFinite(n)) throw new Error(`${schema.name}: enter a number.`);
      if ((body.min_value !== undefined && n < body.min_value) || (body.max_value !== undefined && n > body.max_value)) {
        throw new Error(`${schema.name}: enter a number between ${body.min_value ?? '−∞'} and ${body.max_value ?? '∞'}.`);
      }
      return n;
    };
  } else {
    control = h('textarea', {name: id, 'aria-label': schema.name, rows: 2, maxlength: body.max_length || undefined});
    read = () => control.value.trim() || undefined;
  }
  const comment = schema.enable_comment
    ? h('textarea', {class: 'review-comment', 'aria-label': schema.name + ' comment', rows: 1, placeholder: 'Comment (optional)'}) : null;
  const el = h('fieldset', {class: 'review-question panel', dataset: {schema: schema.name}}, label,
    schema.instruction ? h('p', {class: 'muted'}, schema.instruction) : null, control, comment);
  return {el, schema, read, comment: () => (comment && comment.value.trim()) || undefined};
}

function rootSpanText(spans, key, fallback) {
  const root = (spans || []).find((s) => !s.parent_span_id) || {};
  const raw = (root.attributes || {})[key];
  let value = raw === undefined ? fallback : raw;
  if (typeof value === 'string') { try { value = JSON.parse(value); } catch { /* plain text */ } }
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return text === undefined || text === null || text === '' ? none() : h('pre', {class: 'wrap'}, text);
}

// ------------------------------------------------------------------ working through one queue
async function renderQueue(root, queueId, query) {
  const queue = await api.getReviewQueue(queueId);
  const exp = queue.experiment_id;
  const [allSchemas, items, user] = await Promise.all([api.listLabelSchemas(exp), api.reviewQueueItems(queueId), currentUser()]);
  // A user queue asks every question of the experiment; a custom queue the ones attached to it.
  const schemas = queue.queue_type === 'USER' ? allSchemas : allSchemas.filter((s) => (queue.schema_ids || []).includes(s.schema_id));
  const order = [...items].reverse(); // oldest attached first
  const head = [crumbs(exp, ' › ', queue.name), h('h1', {}, 'Review: ' + queue.name)];
  if (!order.length) return replace(root, ...head, h('p', {class: 'muted'}, 'This queue has no items yet.'));
  const firstOpen = order.findIndex((i) => i.status === 'PENDING');
  const asked = Number(query.get('i'));
  const index = Number.isInteger(asked) && asked >= 1 && asked <= order.length ? asked - 1 : Math.max(firstOpen, 0);
  const item = order[index];
  const trace = await api.traceWithSpans(item.item_id);
  const info = trace.trace_info || {};
  const fields = schemas.map(questionField);
  const message = h('div', {'aria-live': 'polite'});
  const done = order.filter((i) => i.status !== 'PENDING').length;
  const go = (href) => {
    if (location.hash === href) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = href;
  };
  const next = () => go(queueHref(queueId, index + 2 <= order.length ? index + 2 : 1));
  const nextOpen = () => go(queueHref(queueId)); // the first item still pending (fresh from the server)
  const save = h('button', {type: 'submit', class: 'primary'}, 'Save and next');
  const skip = h('button', {type: 'button'}, 'Skip');
  const decline = h('button', {type: 'button'}, 'Decline');
  const form = h('form', {class: 'review-form', 'aria-label': 'Answers'}, fields.map((f) => f.el),
    h('div', {class: 'feedback-row'}, save, skip, decline, message));
  form.noValidate = true; // the answers are checked here, with messages naming the question
  skip.onclick = next;
  decline.onclick = async () => {
    try { await api.setReviewItemStatus(queueId, item.item_id, 'DECLINED', user); nextOpen(); } catch (err) { replace(message, errorBox(err)); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(message);
    let answers;
    try {
      answers = fields.map((f) => ({f, value: f.read()})).filter((a) => a.value !== undefined);
    } catch (err) { replace(message, errorBox(err)); return; }
    if (!answers.length) { replace(message, errorBox(new Error('Answer at least one question, or use Skip.'))); return; }
    save.disabled = true;
    try {
      for (const {f, value} of answers) {
        const kind = String(f.schema.type).toUpperCase() === 'EXPECTATION' ? 'expectation' : 'feedback';
        await api.createAssessment(item.item_id, {assessment_name: f.schema.name, trace_id: item.item_id,
          source: {source_type: 'HUMAN', source_id: user}, [kind]: {value}, rationale: f.comment()});
      }
      await api.setReviewItemStatus(queueId, item.item_id, 'COMPLETE', user);
      nextOpen();
    } catch (err) { replace(message, errorBox(err)); } finally { save.disabled = false; }
  });
  const previous = (info.assessments || []).filter((a) => a.valid !== false);
  replace(root, ...head,
    h('p', {class: 'muted review-progress'}, `Item ${index + 1} of ${order.length} · ${done} done · status `,
      h('strong', {class: 'review-status'}, item.status.toLowerCase()),
      item.completed_by ? ` by ${item.completed_by}` : '', ' · ',
      h('a', {href: routeHref('/traces/' + encodeURIComponent(item.item_id))}, 'open trace')),
    h('section', {class: 'panel review-trace', 'aria-label': 'Trace'},
      h('h2', {}, 'Request'), rootSpanText(trace.spans, 'mlflow.spanInputs', info.request_preview),
      h('h2', {}, 'Response'), rootSpanText(trace.spans, 'mlflow.spanOutputs', info.response_preview)),
    previous.length ? h('section', {class: 'panel'}, h('h2', {}, 'Answers so far'),
      h('ul', {class: 'assessments'}, previous.map((a) => h('li', {}, h('strong', {}, a.assessment_name), ': ', assessmentValue(a),
        h('span', {class: 'muted'}, ' · ' + ((a.source || {}).source_id || '')))))) : null,
    schemas.length ? form : h('p', {class: 'muted'}, 'This queue asks no questions: attach label schemas to it.'));
}

export async function render(root, {experimentId, queueId, query}) {
  if (queueId) return renderQueue(root, queueId, query);
  return renderQueues(root, experimentId);
}
