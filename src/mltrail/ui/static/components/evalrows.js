// An evaluation run's rows (genai.evaluate): one row per example with every scorer's value, rationale and error,
// filterable by scorer and result. Shared cell helpers for the "Compare evaluations" page too.

import * as api from '../api.js';
import {errorBox, h, replace, routeHref} from '../dom.js';

export const RUN_TYPE = 'mlflow.runType';
export const GENAI_EVALUATE = 'genai_evaluate';

/** Short text of any JSON value: strings as they are, a one-key object as its value, the rest as JSON. */
export function valueText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && typeof value[keys[0]] === 'string') return value[keys[0]];
  }
  return JSON.stringify(value);
}

/** pass / fail / error / value: how a scorer's result reads (yes/true pass, no/false fail). */
export function resultOf(cell) {
  if (!cell) return 'none';
  if (cell.error) return 'error';
  const v = cell.value;
  if (v === true || (typeof v === 'string' && ['yes', 'true', 'pass'].includes(v.trim().toLowerCase()))) return 'pass';
  if (v === false || (typeof v === 'string' && ['no', 'false', 'fail'].includes(v.trim().toLowerCase()))) return 'fail';
  return 'value';
}

export function traceLink(traceId, label) {
  return traceId ? h('a', {href: routeHref('/traces/' + encodeURIComponent(traceId)), class: 'trace-link'}, label || 'trace') : null;
}

/** A scorer's cell: the value as a badge coloured by its result, then the rationale (or the error). */
export function scoreCell(cell) {
  if (!cell) return h('td', {class: 'score none muted'}, '—');
  const result = resultOf(cell);
  return h('td', {class: 'score ' + result, dataset: {result}},
    h('span', {class: 'badge result-' + result}, cell.error ? 'error' : valueText(cell.value)),
    cell.error ? h('div', {class: 'rationale error-text'}, cell.error)
      : cell.rationale ? h('div', {class: 'rationale'}, cell.rationale) : null);
}

/** The run page's section: the rows of a genai.evaluate run as a table, filterable by scorer result. */
export function evaluationRowsSection(runId) {
  const section = h('section', {'aria-label': 'Evaluation rows', class: 'eval-rows', hidden: true});
  const scorerSel = h('select', {'aria-label': 'Filter scorer', onchange: () => draw()});
  const resultSel = h('select', {'aria-label': 'Filter result', onchange: () => draw()},
    [['', 'Any result'], ['pass', 'Pass'], ['fail', 'Fail'], ['error', 'Error'], ['value', 'Other value'], ['none', 'Not scored']]
      .map(([v, label]) => h('option', {value: v}, label)));
  const count = h('span', {class: 'muted eval-count'});
  const holder = h('div', {class: 'table-wrap'});
  let data = null;

  function draw() {
    const scorer = scorerSel.value;
    const want = resultSel.value;
    const keep = (row) => !want || (scorer ? [scorer] : data.scorers).some((s) => resultOf(row.feedback[s]) === want);
    const rows = data.rows.filter(keep);
    count.textContent = `${rows.length} of ${data.rows.length} rows`;
    replace(holder, h('table', {class: 'eval-table eval-rows-table'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, '#'), h('th', {scope: 'col'}, 'Inputs'), h('th', {scope: 'col'}, 'Outputs'),
        h('th', {scope: 'col'}, 'Expectations'), data.scorers.map((s) => h('th', {scope: 'col', dataset: {scorer: s}}, s)))),
      h('tbody', {}, rows.map((row) => h('tr', {dataset: {traceId: row.trace_id}},
        h('td', {class: 'num'}, traceLink(row.trace_id, String(data.rows.indexOf(row) + 1))),
        h('td', {class: 'cell'}, valueText(row.inputs)), h('td', {class: 'cell'}, valueText(row.outputs)),
        h('td', {class: 'cell'}, Object.keys(row.expectations || {}).length ? valueText(row.expectations) : ''),
        data.scorers.map((s) => scoreCell(row.feedback[s])))))));
  }

  api.evaluationRows(runId).then((res) => {
    data = res;
    if (!data.rows.length) return;
    replace(scorerSel, h('option', {value: ''}, 'Any scorer'), data.scorers.map((s) => h('option', {value: s}, s)));
    replace(section, h('h2', {}, `Evaluation rows (${data.rows.length})`),
      h('div', {class: 'toolbar'}, scorerSel, resultSel, count), holder);
    section.hidden = false;
    draw();
  }).catch((err) => { replace(section, errorBox(err)); section.hidden = false; });
  return section;
}
