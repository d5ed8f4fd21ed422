// Compare evaluations: two genai.evaluate runs matched row by row on their inputs. Aggregate deltas per scorer on
// top, then every example with both outputs and, per scorer, both values and rationales; rows that got worse are
// red, better green. Filter by scorer and by change; the filters live in the URL.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {traceLink, valueText} from '../components/evalrows.js';
import {errorBox, experimentHref, fmtNumber, h, replace, routeHref, runHref, runMaps, runName} from '../dom.js';
import {GENAI_EVALUATE, RUN_TYPE} from '../components/evalrows.js';

const CHANGES = ['worse', 'better', 'changed', 'new', 'missing', 'same'];

const isEvaluation = (run) => runMaps(run).tags[RUN_TYPE] === GENAI_EVALUATE;

/**
 * The runs page's "Compare evaluations" button: shown when exactly two evaluation runs of the page are selected;
 * the older run is the baseline. `sync(selected, runs)` updates it.
 */
export function evalCompareButton() {
  let pair = null;
  const button = h('button', {type: 'button', class: 'eval-compare', hidden: true, onclick: () => {
    if (pair) location.hash = routeHref('/compare-evaluations', {baseline: pair[0], candidate: pair[1]});
  }}, 'Compare evaluations');
  function sync(selected, runs) {
    const picked = runs.filter((r) => selected.has(r.info.run_id) && isEvaluation(r));
    pair = selected.size === 2 && picked.length === 2
      ? picked.sort((a, b) => (a.info.start_time || 0) - (b.info.start_time || 0)).map((r) => r.info.run_id) : null;
    button.hidden = !pair;
  }
  return {element: button, sync};
}

function delta(value, lowerIsBetter) {
  if (value === null || value === undefined) return h('td', {class: 'num muted'}, '');
  const good = lowerIsBetter ? value < 0 : value > 0;
  const cls = value === 0 ? '' : good ? 'delta-up' : 'delta-down';
  return h('td', {class: 'num ' + cls}, (value > 0 ? '+' : '') + fmtNumber(value));
}

function aggregatesTable(data, lower) {
  return h('div', {class: 'table-wrap'}, h('table', {class: 'eval-aggregates'},
    h('thead', {}, h('tr', {}, ['Scorer', 'Baseline', 'Candidate', 'Δ', ...CHANGES].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, data.scorers.map((s) => {
      const a = data.aggregates[s];
      return h('tr', {dataset: {scorer: s}}, h('th', {scope: 'row'}, s),
        h('td', {class: 'num'}, a.baseline_mean === null ? '' : fmtNumber(a.baseline_mean)),
        h('td', {class: 'num'}, a.candidate_mean === null ? '' : fmtNumber(a.candidate_mean)),
        delta(a.delta, lower.includes(s)),
        CHANGES.map((c) => h('td', {class: 'num change-' + c + (a[c] ? '' : ' muted'), dataset: {change: c}}, String(a[c]))));
    }))));
}

function metricsTable(metrics) {
  const keys = Object.keys(metrics);
  if (!keys.length) return null;
  return h('details', {class: 'eval-metrics'}, h('summary', {}, `Logged metrics (${keys.length})`),
    h('div', {class: 'table-wrap'}, h('table', {},
      h('thead', {}, h('tr', {}, ['Metric', 'Baseline', 'Candidate', 'Δ'].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, keys.map((k) => h('tr', {}, h('th', {scope: 'row'}, k),
        h('td', {class: 'num'}, fmtNumber(metrics[k].baseline)), h('td', {class: 'num'}, fmtNumber(metrics[k].candidate)),
        delta(metrics[k].delta, false)))))));
}

function scoreCell(cell) {
  if (!cell) return h('td', {class: 'score muted'}, '');
  const side = (value, error, rationale, label) => h('div', {class: 'side'},
    h('span', {class: 'muted'}, label + ' '), h('span', {class: 'badge'}, error ? 'error' : valueText(value)),
    error ? h('div', {class: 'rationale error-text'}, error) : rationale ? h('div', {class: 'rationale'}, rationale) : null);
  return h('td', {class: 'score change-' + cell.change, dataset: {change: cell.change}},
    h('div', {class: 'change-label'}, cell.change),
    side(cell.baseline, cell.baseline_error, cell.baseline_rationale, 'A'),
    side(cell.candidate, cell.candidate_error, cell.candidate_rationale, 'B'));
}

function rowClass(row, scorers) {
  const changes = scorers.map((s) => row.scores[s] && row.scores[s].change);
  return changes.includes('worse') ? 'row-worse' : changes.includes('better') ? 'row-better' : '';
}

export async function render(root, {query}) {
  const baseline = query.get('baseline') || '';
  const candidate = query.get('candidate') || '';
  if (!baseline || !candidate) {
    replace(root, errorBox({code: 'INVALID_PARAMETER_VALUE', message: 'Select two evaluation runs on a runs page to compare.'}));
    return undefined;
  }
  const lower = (query.get('lower') || '').split(',').filter(Boolean);
  const [data, baseRun, candRun] = await Promise.all([api.compareEvaluations(baseline, candidate, lower),
    api.getRun(baseline), api.getRun(candidate)]);
  document.title = `Compare evaluations · ${runName(baseRun)} → ${runName(candRun)} · mltrail`;

  const scorerSel = h('select', {'aria-label': 'Filter scorer', onchange: () => draw()},
    h('option', {value: ''}, 'Any scorer'), data.scorers.map((s) => h('option', {value: s, selected: s === query.get('scorer')}, s)));
  const changeSel = h('select', {'aria-label': 'Filter change', onchange: () => draw()},
    h('option', {value: ''}, 'Any change'), CHANGES.map((c) => h('option', {value: c, selected: c === query.get('change')}, c)));
  const lowerInput = h('input', {type: 'text', value: lower.join(','), 'aria-label': 'Lower is better',
    placeholder: 'scorers where lower is better, e.g. latency'});
  const count = h('span', {class: 'muted eval-count'});
  const holder = h('div', {class: 'table-wrap'});

  function draw() {
    const scorer = scorerSel.value;
    const change = changeSel.value;
    updateQuery({scorer, change});
    const shown = data.rows.filter((row) => !change
      || (scorer ? [scorer] : data.scorers).some((s) => row.scores[s] && row.scores[s].change === change));
    count.textContent = `${shown.length} of ${data.rows.length} rows`;
    const columns = scorer ? [scorer] : data.scorers;
    replace(holder, h('table', {class: 'eval-table eval-compare-table'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Inputs'), h('th', {scope: 'col'}, 'Baseline output'),
        h('th', {scope: 'col'}, 'Candidate output'), columns.map((s) => h('th', {scope: 'col', dataset: {scorer: s}}, s)))),
      h('tbody', {}, shown.map((row) => h('tr', {class: rowClass(row, columns), dataset: {key: row.key, status: row.status}},
        h('td', {class: 'cell'}, valueText(row.inputs), row.status !== 'matched' ? h('div', {class: 'badge'}, row.status) : null),
        h('td', {class: 'cell'}, valueText(row.baseline_outputs), ' ', traceLink(row.baseline_trace_id)),
        h('td', {class: 'cell'}, valueText(row.candidate_outputs), ' ', traceLink(row.candidate_trace_id)),
        columns.map((s) => scoreCell(row.scores[s])))))));
  }

  const swap = h('a', {class: 'button', href: routeHref('/compare-evaluations', {baseline: candidate, candidate: baseline, lower: lower.join(',')})}, 'Swap');
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ',
      h('a', {href: experimentHref([baseRun.info.experiment_id])}, 'Runs'), ' › Compare evaluations'),
    h('h1', {}, 'Compare evaluations'),
    h('p', {class: 'eval-sides'}, 'Baseline (A) ', h('a', {href: runHref(baseline)}, runName(baseRun)),
      ' → candidate (B) ', h('a', {href: runHref(candidate)}, runName(candRun)), ' ', swap),
    h('section', {'aria-label': 'Aggregate deltas'}, h('h2', {}, 'Per scorer'), aggregatesTable(data, lower), metricsTable(data.metrics)),
    h('form', {class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      location.hash = routeHref('/compare-evaluations', {baseline, candidate, lower: lowerInput.value.replace(/\s+/g, '')});
    }}, scorerSel, changeSel, h('div', {class: 'grow'}, lowerInput), h('button', {type: 'submit'}, 'Apply'), count),
    h('section', {'aria-label': 'Rows'}, holder));
  draw();
  return undefined;
}
