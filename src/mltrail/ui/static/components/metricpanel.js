// A grid of metric charts with shared controls: x axis (step, time, relative time), smoothing, log scale.
// `seriesFor(key)` lists what to draw per metric key: [{runId, name, startTime, colorIndex, value, count}];
// colorIndex is the run's place in its page (so a run keeps one colour on every chart); value and count,
// when known, let a metric logged once per run be drawn as bars without fetching anything. Histories come
// downsampled from /ajax-api/mltrail/metrics/history (one run) or history-bulk (many runs, one request per key).

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, h, replace} from '../dom.js';
import {drawBars, drawChart, loadPlotly, purge, seriesTraces} from './chart.js';

const MAX_CHARTS = 40;
const ENVELOPE_MAX_RUNS = 10;
const BULK_RUNS = 200;  // the server's limit of runs per history-bulk request
const EMPTY = {total: 0, downsampled: false, step: [], timestamp: [], value: []};

/**
 * `lazy`: draw a chart only once it comes near the viewport (the experiment charts view, where dozens of
 * metrics times hundreds of runs would otherwise all be fetched and drawn up front).
 */
export function metricPanel({keys, seriesFor, query, lazy = false}) {
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

  /** The histories of one key for every series, from the cache or in as few requests as possible. */
  async function histories(key, series, force) {
    const axis = state.axis === 'step' ? 'step' : 'time';
    const idOf = (runId) => `${runId}\n${key}\n${axis}`;
    const missing = series.filter((x) => force || !cache.has(idOf(x.runId)));
    if (missing.length === 1 && series.length === 1) {
      cache.set(idOf(missing[0].runId), api.metricHistory(missing[0].runId, key, axis));
    } else if (missing.length) {
      // Many runs share a chart: fewer points each keeps the whole chart near a few tens of thousands.
      const maxPoints = Math.max(100, Math.min(2000, Math.floor(40000 / series.length)));
      for (let i = 0; i < missing.length; i += BULK_RUNS) {
        const part = missing.slice(i, i + BULK_RUNS).map((x) => x.runId);
        const request = api.metricHistoryBulk(part, key, axis, maxPoints);
        for (const runId of part) {
          cache.set(idOf(runId), request.then((res) => res.runs.find((r) => r.run_id === runId) || EMPTY));
        }
      }
    }
    try {
      return await Promise.all(series.map((x) => cache.get(idOf(x.runId))));
    } catch (err) {
      series.forEach((x) => cache.delete(idOf(x.runId)));
      throw err;
    }
  }

  function chartElement(key) {
    let el = charts.get(key);
    if (!el) {
      grid.querySelector(':scope > p.muted')?.remove();  // the "no metrics yet" placeholder
      el = h('div', {class: 'chart', dataset: {metric: key}, role: 'img', 'aria-label': 'Chart of ' + key});
      charts.set(key, el);
      grid.append(el);
    }
    return el;
  }

  // Lazy panels: keys whose chart has come near the viewport; the others wait for the observer.
  const seen = new Set();
  const observer = lazy && window.IntersectionObserver ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const key = entry.target.dataset.metric;
      observer.unobserve(entry.target);
      seen.add(key);
      if (charts.get(key) === entry.target) draw(key);
    }
  }, {rootMargin: '400px 0px'}) : null;

  /** Draw now, or (lazy, not yet seen) when the chart scrolls near. */
  function schedule(key, force = false) {
    const el = chartElement(key);
    if (!observer || seen.has(key)) return draw(key, force);
    observer.observe(el);
    return Promise.resolve();
  }

  async function draw(key, force = false) {
    const el = chartElement(key);
    try {
      const series = seriesFor(key);
      const colorOf = (i) => series[i].colorIndex ?? i;
      const barsOf = (values) => values.map((value, i) => ({name: series[i].name, value, colorIndex: colorOf(i)}));
      // Logged once per run (an evaluation's scores): bars from the values the page already has.
      if (!force && series.length && series.every((x) => x.count !== undefined && x.count <= 1 && x.value !== undefined)) {
        await drawBars(el, barsOf(series.map((x) => x.value)), {title: key, log: state.log});
        return;
      }
      const loaded = await histories(key, series, force);
      if (loaded.length && loaded.every((x) => x.value.length === 1 && x.total === 1)) {
        await drawBars(el, barsOf(loaded.map((x) => x.value[0])), {title: key, log: state.log});
        return;
      }
      // Envelopes help one or a few runs; over many they only bury the lines (and triple the traces to draw).
      const envelope = series.length <= ENVELOPE_MAX_RUNS;
      const traces = loaded.flatMap((hist, i) => seriesTraces(hist, {name: series[i].name, index: colorOf(i), axis: state.axis,
        smoothing: state.smoothing, startTime: series[i].startTime, envelope}));
      const total = loaded.reduce((n, x) => n + x.total, 0);
      const sampled = loaded.some((x) => x.downsampled);
      await drawChart(el, traces, {title: key + (sampled ? ` (${total.toLocaleString()} points${envelope ? ', min/max envelope' : ', downsampled'})` : ''),
        log: state.log, axis: state.axis});
    } catch (err) {
      replace(message, errorBox(err));
    }
  }

  function redrawAll() {
    return Promise.all(state.keys.slice(0, MAX_CHARTS).map((k) => schedule(k)));
  }

  /** Re-fetch the given keys (new values were logged) and add charts for new keys. */
  function refresh(changedKeys, allKeys) {
    for (const k of allKeys) if (!state.keys.includes(k)) state.keys.push(k);
    return Promise.all(changedKeys.filter((k) => state.keys.indexOf(k) < MAX_CHARTS).map((k) => schedule(k, true)));
  }

  /** Show exactly these keys, in this order (a filter changed): drops other charts, keeps fetched histories. */
  function setKeys(keys) {
    state.keys = [...keys];
    const shown = new Set(state.keys.slice(0, MAX_CHARTS));
    for (const [k, el] of charts) {
      if (!shown.has(k)) { if (observer) observer.unobserve(el); purge(el); el.remove(); charts.delete(k); }
    }
    for (const k of shown) if (charts.has(k)) grid.append(charts.get(k));  // existing charts in the new order
    drawNote();
    return redrawAll().then(() => { for (const k of shown) grid.append(charts.get(k)); });
  }

  function destroy() {
    if (observer) observer.disconnect();
    for (const el of charts.values()) purge(el);
  }

  const note = h('p', {class: 'muted'});
  function drawNote() {
    note.textContent = state.keys.length > MAX_CHARTS ? `Showing the first ${MAX_CHARTS} of ${state.keys.length} metrics.` : '';
    if (!state.keys.length && !charts.size) replace(grid, h('p', {class: 'muted'}, 'No metrics logged yet.'));
  }
  const element = h('section', {class: 'metric-panel'}, controls, message, grid, note);
  drawNote();
  return {element, redrawAll, refresh, setKeys, destroy, grid};
}
