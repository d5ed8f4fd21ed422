// Compare runs: params/metrics side by side (only differences), overlaid charts, parallel coordinates,
// a scatter of any two columns, and a side-by-side diff of one artifact across two runs.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {listAllFiles} from '../components/artifacts.js';
import {diffLines, diffTable} from '../components/diff.js';
import {metricPanel} from '../components/metricpanel.js';
import {drawParallel} from '../components/parcoords.js';
import {color} from '../components/chart.js';
import {plotBox, scatter} from '../components/plots.js';
import {errorBox, experimentHref, fmtNumber, h, replace, runHref, runMaps, runName} from '../dom.js';

/** "a,b" (ours) or '["a","b"]' (MLflow's compare-runs links). */
function parseRunIds(raw) {
  if (raw.startsWith('[')) {
    try { return JSON.parse(raw).map(String).filter(Boolean); } catch { return []; }
  }
  return raw.split(',').filter(Boolean);
}

export async function render(root, {query}) {
  const ids = parseRunIds(query.get('runs') || '');
  if (!ids.length) { replace(root, errorBox({code: 'INVALID_PARAMETER_VALUE', message: 'Choose runs to compare from a runs table.'})); return undefined; }
  const [runs, counts] = await Promise.all([Promise.all(ids.map((id) => api.getRun(id))),
    api.metricCounts(ids).catch(() => ({}))]);
  // One colour per run, by its place in the URL: the same on line charts, bars, scatter and parallel coordinates.
  const colorIndex = new Map(runs.map((r, i) => [r.info.run_id, i]));
  const maps = new Map(runs.map((r) => [r.info.run_id, runMaps(r)]));
  const union = (kind) => [...new Set(runs.flatMap((r) => Object.keys(maps.get(r.info.run_id)[kind])))].sort();
  const paramKeys = union('params');
  const metricKeys = union('metrics');
  const differs = (kind, key) => new Set(runs.map((r) => JSON.stringify(maps.get(r.info.run_id)[kind][key] ?? null))).size > 1;
  const columns = [...paramKeys.map((k) => ({id: 'params.' + k, label: k, get: (r) => maps.get(r.info.run_id).params[k]})),
    ...metricKeys.map((k) => ({id: 'metrics.' + k, label: k, get: (r) => maps.get(r.info.run_id).metrics[k]}))];
  const byId = (id) => columns.find((c) => c.id === id);

  document.title = `Compare ${runs.length} runs · mltrail`;
  const onlyDiff = h('input', {type: 'checkbox', checked: query.get('diff') === '1', onchange: () => { updateQuery({diff: onlyDiff.checked ? '1' : ''}); drawTable(); }});
  const tableHolder = h('div');

  function drawTable() {
    const head = h('tr', {}, h('th', {scope: 'col', class: 'key-col'}, ''), runs.map((r) => h('th', {scope: 'col', class: 'wrap',
      dataset: {runId: r.info.run_id}}, h('span', {class: 'swatch', style: `background:${color(colorIndex.get(r.info.run_id))}`}),
    h('a', {href: runHref(r.info.run_id)}, runName(r)))));
    const section = (label, kind, keys) => {
      const shown = keys.filter((k) => !onlyDiff.checked || differs(kind, k));
      return [h('tr', {class: 'section'}, h('th', {colspan: runs.length + 1, scope: 'colgroup'}, `${label} (${shown.length})`)),
        shown.map((k) => h('tr', {class: differs(kind, k) ? 'differs' : 'same', dataset: {key: kind + '.' + k}},
          h('th', {scope: 'row', class: 'wrap'}, k),
          runs.map((r) => {
            const v = maps.get(r.info.run_id)[kind][k];
            return h('td', {class: kind === 'metrics' ? 'num wrap' : 'wrap', dataset: {runId: r.info.run_id}},
              v === undefined ? '' : kind === 'metrics' ? fmtNumber(v) : String(v));
          })))];
    };
    replace(tableHolder, h('div', {class: 'table-wrap'}, h('table', {class: 'compare'},
      h('colgroup', {}, h('col', {class: 'key-col'}), runs.map(() => h('col'))), h('thead', {}, head),
      h('tbody', {}, section('Parameters', 'params', paramKeys), section('Metrics', 'metrics', metricKeys)))));
  }

  // Overlaid charts: one series per run that logged the metric.
  const panel = metricPanel({keys: metricKeys, query,
    seriesFor: (key) => runs.filter((r) => maps.get(r.info.run_id).metrics[key] !== undefined)
      .map((r) => ({runId: r.info.run_id, name: runName(r), startTime: r.info.start_time, colorIndex: colorIndex.get(r.info.run_id),
        value: maps.get(r.info.run_id).metrics[key], count: (counts[r.info.run_id] || {})[key]}))});

  // Parallel coordinates: params that vary, then metrics.
  const pcBox = plotBox('Parallel coordinates');
  pcBox.classList.add('pc-box');
  const pcDims = [...paramKeys.filter((k) => differs('params', k)).map((k) => byId('params.' + k)),
    ...metricKeys.map((k) => byId('metrics.' + k))].slice(0, 16);

  // Scatter of any two columns, chosen in the URL too.
  const options = (selected) => columns.map((c) => h('option', {value: c.id, selected: c.id === selected},
    (c.id.startsWith('params.') ? 'param: ' : 'metric: ') + c.label));
  const varying = paramKeys.filter((k) => differs('params', k));
  const defX = query.get('sx') || (varying[0] || paramKeys[0] ? 'params.' + (varying[0] || paramKeys[0]) : columns[0]?.id);
  const defY = query.get('sy') || (metricKeys[0] ? 'metrics.' + metricKeys[0] : columns[1]?.id);
  const xSel = h('select', {'aria-label': 'Scatter X', onchange: () => drawScatter()}, options(defX));
  const ySel = h('select', {'aria-label': 'Scatter Y', onchange: () => drawScatter()}, options(defY));
  const scBox = plotBox('Scatter plot');
  function drawScatter() {
    if (!byId(xSel.value) || !byId(ySel.value)) return;
    updateQuery({sx: xSel.value, sy: ySel.value});
    scatter(scBox, runs, byId(xSel.value), byId(ySel.value), runName).catch((err) => replace(scBox, errorBox(err)));
  }

  // Artifact diff across two runs.
  const runOpts = (sel) => runs.map((r) => h('option', {value: r.info.run_id, selected: r.info.run_id === sel}, runName(r)));
  const leftSel = h('select', {'aria-label': 'Left run'}, runOpts(query.get('da') || ids[0]));
  const rightSel = h('select', {'aria-label': 'Right run'}, runOpts(query.get('db') || ids[1] || ids[0]));
  const pathIn = h('input', {type: 'text', list: 'artifact-paths', value: query.get('dp') || '', 'aria-label': 'Artifact path',
    placeholder: 'e.g. model_output.txt'});
  const datalist = h('datalist', {id: 'artifact-paths'});
  const diffOut = h('div', {class: 'diff-out'});
  const diffForm = h('form', {class: 'toolbar', onsubmit: async (e) => {
    e.preventDefault();
    const path = pathIn.value.trim();
    if (!path) return;
    updateQuery({da: leftSel.value, db: rightSel.value, dp: path});
    replace(diffOut, h('p', {class: 'muted'}, 'Loading…'));
    try {
      const [a, b] = await Promise.all([api.artifactText(leftSel.value, path), api.artifactText(rightSel.value, path)]);
      if (a === null || b === null) { replace(diffOut, h('p', {class: 'muted'}, 'Too large to diff here.')); return; }
      const nameOf = (id) => runName(runs.find((r) => r.info.run_id === id));
      replace(diffOut, diffTable(diffLines(a, b), nameOf(leftSel.value), nameOf(rightSel.value)));
    } catch (err) { replace(diffOut, errorBox(err)); }
  }}, h('label', {}, 'Left ', leftSel), h('label', {}, 'Right ', rightSel), h('div', {class: 'grow'}, pathIn), datalist,
  h('button', {type: 'submit', class: 'primary'}, 'Diff'));

  const exps = [...new Set(runs.map((r) => r.info.experiment_id))];
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ', h('a', {href: experimentHref(exps)}, 'Runs'), ' › Compare'),
    h('h1', {}, `Comparing ${runs.length} runs`),
    h('label', {class: 'toolbar'}, onlyDiff, ' Only differences'),
    tableHolder,
    h('h2', {}, 'Metric charts'), panel.element,
    h('div', {class: 'grid2'},
      h('section', {'aria-label': 'Parallel coordinates'}, h('h2', {}, 'Parallel coordinates'), pcDims.length > 1 ? pcBox : h('p', {class: 'muted'}, 'Needs at least two varying columns.')),
      h('section', {'aria-label': 'Scatter'}, h('h2', {}, 'Scatter'), h('div', {class: 'toolbar'}, h('label', {}, 'X ', xSel), h('label', {}, 'Y ', ySel)), scBox)),
    h('section', {'aria-label': 'Artifact diff'}, h('h2', {}, 'Artifact diff'), diffForm, diffOut));
  drawTable();
  panel.redrawAll();
  if (pcDims.length > 1) drawParallel(pcBox, runs, pcDims, runName, (r) => color(colorIndex.get(r.info.run_id)));
  if (columns.length) drawScatter();
  // Offer the paths the first runs have in common (or not) as suggestions.
  Promise.all(ids.slice(0, 4).map((id) => listAllFiles(id, 300).catch(() => [])))
    .then((lists) => replace(datalist, [...new Set(lists.flat().map((f) => f.path))].sort().map((p) => h('option', {value: p}))));
  if (query.get('dp')) diffForm.requestSubmit();
  return () => panel.destroy();
}
