// A trace's assessments (feedback and expectations, MLflow 3) and a form to add feedback from the page.
// The form posts MLflow's create-assessment call with source HUMAN and the logged-in user (or "anonymous"
// when logins are off), the same record `mlflow.log_feedback` writes.

import * as api from '../api.js';
import {errorBox, fmtTime, h, replace} from '../dom.js';

/** An assessment's value as text: feedback value (or its error), or expectation value. */
export function assessmentValue(a) {
  if (a.feedback) {
    if (a.feedback.error && (a.feedback.value === undefined || a.feedback.value === null)) {
      return 'error: ' + (a.feedback.error.error_message || a.feedback.error.error_code || '');
    }
    const v = a.feedback.value;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
  const e = a.expectation || {};
  if (e.serialized_value) return String(e.serialized_value.value ?? '');
  return typeof e.value === 'string' ? e.value : JSON.stringify(e.value ?? null);
}

function item(a) {
  const source = a.source || {};
  const kind = a.feedback ? 'feedback' : 'expectation';
  const value = assessmentValue(a);
  const cls = value === 'true' || value === 'yes' ? ' positive' : value === 'false' || value === 'no' ? ' negative' : '';
  return h('li', {class: 'assessment ' + kind, dataset: {assessmentId: a.assessment_id || '', name: a.assessment_name || ''}},
    h('div', {class: 'assessment-head'}, h('strong', {class: 'assessment-name'}, a.assessment_name || ''),
      h('span', {class: 'assessment-value' + cls}, value), h('span', {class: 'muted'}, kind)),
    a.rationale ? h('div', {class: 'assessment-rationale'}, a.rationale) : null,
    h('div', {class: 'muted small'}, [source.source_type, source.source_id].filter(Boolean).join(' · '),
      a.create_time ? ' · ' + fmtTime(Date.parse(a.create_time)) : '', a.span_id ? ' · span ' + a.span_id : ''));
}

let me = null;
/** The logged-in user's name, or "anonymous" when logins are off (asked once per page load). */
export async function currentUser() {
  if (me === null) {
    me = api.whoAmI().then((r) => (r && r.user && r.user.username) || 'anonymous').catch(() => 'anonymous');
  }
  return me;
}

/** The feedback value from the form: yes/no as booleans, numbers as numbers, text as text. */
function readValue(kind, raw) {
  if (kind === 'bool') return raw === 'yes';
  if (kind === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new Error('Enter a number.');
    return n;
  }
  if (!raw.trim()) throw new Error('Enter a value.');
  return raw;
}

/** The assessments section: the list, and the "add feedback" form under it. */
export function assessmentsPanel(traceId, assessments) {
  const list = h('ul', {class: 'assessments'});
  const empty = h('p', {class: 'muted'}, 'No assessments yet.');
  const show = (all) => {
    const valid = (all || []).filter((a) => a.valid !== false);
    replace(list, valid.map(item));
    empty.hidden = valid.length > 0;
  };
  show(assessments);
  const name = h('input', {type: 'text', name: 'name', value: 'user_feedback', required: true, 'aria-label': 'Feedback name', maxlength: 250});
  const kind = h('select', {name: 'kind', 'aria-label': 'Value type'},
    h('option', {value: 'bool'}, 'yes / no'), h('option', {value: 'number'}, 'number'), h('option', {value: 'text'}, 'text'));
  const yesNo = h('select', {name: 'bool', 'aria-label': 'Value'}, h('option', {value: 'yes'}, 'yes'), h('option', {value: 'no'}, 'no'));
  const text = h('input', {type: 'text', name: 'value', 'aria-label': 'Value', hidden: true});
  const rationale = h('textarea', {name: 'rationale', 'aria-label': 'Rationale', placeholder: 'Rationale (optional)', rows: 2});
  const message = h('div', {'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Add feedback');
  kind.addEventListener('change', () => {
    yesNo.hidden = kind.value !== 'bool';
    text.hidden = kind.value === 'bool';
    text.setAttribute('inputmode', kind.value === 'number' ? 'decimal' : 'text');
  });
  const form = h('form', {class: 'feedback-form panel', 'aria-label': 'Add feedback'},
    h('div', {class: 'feedback-row'}, h('label', {}, 'Name ', name), h('label', {}, 'Value ', kind, yesNo, text)),
    rationale, h('div', {class: 'feedback-row'}, submit, message));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(message);
    let value;
    try { value = readValue(kind.value, kind.value === 'bool' ? yesNo.value : text.value); } catch (err) {
      replace(message, errorBox(err));
      return;
    }
    submit.disabled = true;
    try {
      const user = await currentUser();
      const created = await api.createAssessment(traceId, {
        assessment_name: name.value.trim() || 'user_feedback', trace_id: traceId,
        source: {source_type: 'HUMAN', source_id: user}, feedback: {value},
        rationale: rationale.value.trim() || undefined,
      });
      list.append(item(created));
      empty.hidden = true;
      rationale.value = '';
      text.value = '';
      replace(message, h('span', {class: 'muted'}, 'Saved.'));
    } catch (err) { replace(message, errorBox(err)); } finally { submit.disabled = false; }
  });
  return {el: h('section', {class: 'trace-assessments'}, h('h2', {}, 'Assessments'), list, empty, form), update: show};
}
