// A grid of metric charts with shared controls: x axis (step, time, relative time), smoothing, log scale.
// `series` lists what to draw per metric key: [{runId, name, startTime}]; histories come downsampled
// from /ajax-api/mltrail/metrics/history, so a million points arrive as a few thousand.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, h, replace} from '../dom.js';
import {drawBars, drawChart, loadPlotly, purge, seriesTraces} from './chart.js';

const MAX_CHARTS = 40;

export function metricPanel({keys, seriesFor, query}) {
  const state = {
    axis: ['step', 'time', 'relative'].includes(query.get('x')) ? query.get('x') : 'step',
    smoothing: Math.min(0.99, Math.max(0, Number(query.get('smooth')) || 0)),
    log: query.get('log') === '1',
    keys: [...keys],
  };
  // Fetch and parse plotly.js while the histories load, not after.
  if (state.keys.length) loadPlotly().catch(() => {});
  const cache = new Map();  // `${runId}\n${key}\n${axis}` -> history payload
  const charts = new Map();  // key -> element
  const grid = h('div', {class: 'charts'});
  const message = h('div');

  const axisSelect = h('select', {'aria-label': 'X axis', onchange: () => { state.axis = axisSelect.value; changed(); }},
    h('option', {value: 'step', selected: state.axis === 'step'}, 'Step'),
    h('option', {value: 'time', selected: state.axis === 'time'}, 'Time'),
    h('option', {value: 'relative', selected: state.axis === 'relative'}, 'Relative time'));
  const smoothInput = h('input', {type: 'range', min: 0, max: 0.99, step: 0.01, value: state.smoothing, 'aria-label': 'Smoothing',
    oninput: () => { state.smoothing = Number(smoothInput.value); smoothLabel.textContent = state.smoothing.toFixed(2); changed(); }});
  const smoothLabel = h('span', {class: 'muted'}, state.smoothing.toFixed(2));
  const logBox = h('input', {type: 'checkbox', checked: state.log, onchange: () => { state.log = logBox.checked; changed(); }});
  const controls = h('div', {class: 'toolbar chart-controls'},
    h('label', {}, 'X axis ', axisSelect),
    h('label', {}, 'Smoothing ', smoothInput, ' ', smoothLabel),
    h('label', {}, logBox, ' Log scale'),
    h('span', {class: 'hint'}, 'Drag to zoom, double-click to reset.'));

  function changed() {
    updateQuery({x: state.axis === 'step' ? '' : state.axis, smooth: state.smoothing ? state.smoothing : '', log: state.log ? '1' : ''});
    redrawAll();
  }

  async function history(runId, key, force) {
    const axis = state.axis === 'step' ? 'step' : 'time';
    const id = `${runId}\n${key}\n${axis}`;
    if (force || !cache.has(id)) cache.set(id, api.metricHistory(runId, key, axis));
    try { return await cache.get(id); } catch (err) { cache.delete(id); throw err; }
  }

  async function draw(key, force = false) {
    let el = charts.get(key);
    if (!el) {
      grid.querySelector(':scope > p.muted')?.remove();  // the "no metrics yet" placeholder
      el = h('div', {class: 'chart', dataset: {metric: key}, role: 'img', 'aria-label': 'Chart of ' + key});
      charts.set(key, el);
      grid.append(el);
    }
    try {
      const series = seriesFor(key);
      const histories = await Promise.all(series.map((s) => history(s.runId, key, force)));
      if (histories.length && histories.every((x) => x.value.length === 1 && x.total === 1)) {
        await drawBars(el, histories.map((x, i) => ({name: series[i].name, value: x.value[0]})), {title: key, log: state.log});
        return;
      }
      const traces = histories.flatMap((hist, i) => seriesTraces(hist, {name: series[i].name, index: i, axis: state.axis,
        smoothing: state.smoothing, startTime: series[i].startTime}));
      const total = histories.reduce((n, x) => n + x.total, 0);
      const sampled = histories.some((x) => x.downsampled);
      await drawChart(el, traces, {title: key + (sampled ? ` (${total.toLocaleString()} points, min/max envelope)` : ''),
        log: state.log, axis: state.axis});
    } catch (err) {
      replace(message, errorBox(err));
    }
  }

  function redrawAll() {
    return Promise.all(state.keys.slice(0, MAX_CHARTS).map((k) => draw(k)));
  }

  /** Re-fetch the given keys (new values were logged) and add charts for new keys. */
  function refresh(changedKeys, allKeys) {
    for (const k of allKeys) if (!state.keys.includes(k)) state.keys.push(k);
    return Promise.all(changedKeys.filter((k) => state.keys.indexOf(k) < MAX_CHARTS).map((k) => draw(k, true)));
  }

  function destroy() { for (const el of charts.values()) purge(el); }

  const element = h('section', {class: 'metric-panel'}, controls, message, grid,
    state.keys.length > MAX_CHARTS ? h('p', {class: 'muted'}, `Showing the first ${MAX_CHARTS} of ${state.keys.length} metrics.`) : null);
  if (!state.keys.length) replace(grid, h('p', {class: 'muted'}, 'No metrics logged yet.'));
  return {element, redrawAll, refresh, destroy, grid};
}
