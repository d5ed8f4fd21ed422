// Metric charts on plotly.js (served from the installed plotly wheel, loaded on first use).

const PALETTE = ['#2563eb', '#e4572e', '#17a398', '#f3a712', '#8e44ad', '#d6336c', '#2f9e44', '#495057', '#0ca5e9', '#a35200'];
let plotlyPromise = null;

/** Load plotly.min.js once, by a <script src> from this origin (the CSP allows nothing else). */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = new URL('../vendor/plotly.min.js', import.meta.url).href;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { plotlyPromise = null; reject(new Error('Could not load the chart library')); };
      document.head.append(script);
    });
  }
  return plotlyPromise;
}

export const color = (i) => PALETTE[i % PALETTE.length];

/**
 * plotly.js reads a small HTML subset in titles, names and hover text (<b>, <a href>…);
 * entity-escape user values so a run named "<b>x</b>" shows those characters literally.
 */
export function plotlyText(value) {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Exponential moving average with TensorBoard's debiasing, weight in [0, 1). */
export function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

function xValues(history, axis, startTime) {
  if (axis === 'step') return history.step;
  if (axis === 'relative') return history.timestamp.map((t) => (t - startTime) / 1000);
  return history.timestamp.map((t) => new Date(t));
}

/**
 * Plotly traces for one series (one run's history of one metric): an optional min/max envelope
 * (so downsampled spikes stay visible), the raw line, and a smoothed line when asked.
 */
export function seriesTraces(history, {name: rawName, index, axis, smoothing, startTime, envelope = true}) {
  const name = plotlyText(rawName);
  const x = xValues(history, axis, startTime || 0);
  const c = color(index);
  const traces = [];
  if (history.downsampled && envelope) {
    traces.push({x, y: history.max, type: 'scatter', mode: 'lines', line: {width: 0, color: c}, hoverinfo: 'skip',
      showlegend: false, legendgroup: name, meta: 'envelope'});
    traces.push({x, y: history.min, type: 'scatter', mode: 'lines', line: {width: 0, color: c}, fill: 'tonexty',
      fillcolor: c + '33', hoverinfo: 'skip', showlegend: false, legendgroup: name, meta: 'envelope'});
  }
  const single = history.value.length === 1;
  const mode = single ? 'markers' : 'lines';
  if (smoothing > 0) {
    traces.push({x, y: history.value, type: 'scatter', mode, name, line: {color: c, width: 1}, opacity: 0.3,
      showlegend: false, legendgroup: name, hoverinfo: 'skip', meta: 'raw'});
    traces.push({x, y: smooth(history.value, smoothing), type: 'scatter', mode, name, line: {color: c, width: 2},
      legendgroup: name, meta: 'series'});
  } else {
    traces.push({x, y: history.value, type: 'scatter', mode, name, line: {color: c, width: 1.5}, legendgroup: name, meta: 'series'});
  }
  return traces;
}

export function themeLayout() {
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue('--fg').trim() || '#222';
  const grid = css.getPropertyValue('--border').trim() || '#ddd';
  return {paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)', font: {color: fg, size: 12},
    xaxis: {gridcolor: grid, zerolinecolor: grid}, yaxis: {gridcolor: grid, zerolinecolor: grid}};
}

export const AXIS_TITLES = {step: 'Step', time: 'Time', relative: 'Relative time (s)'};

/** Draw (or redraw in place) a chart; the element records how many series it shows. */
export async function drawChart(el, traces, {title, log, axis} = {}) {
  const Plotly = await loadPlotly();
  const base = themeLayout();
  const layout = {
    ...base,
    title: {text: plotlyText(title || ''), font: {size: 13}},
    margin: {l: 55, r: 15, t: 36, b: 40},
    height: 300,
    xaxis: {...base.xaxis, title: {text: AXIS_TITLES[axis] || ''}, type: axis === 'time' ? 'date' : 'linear'},
    yaxis: {...base.yaxis, type: log ? 'log' : 'linear'},
    legend: {orientation: 'h', y: -0.25},
    showlegend: traces.filter((t) => t.meta === 'series').length > 1,
    hovermode: 'closest',
  };
  await Plotly.react(el, traces, layout, {responsive: true, displaylogo: false});
  el.dataset.seriesCount = String(traces.filter((t) => t.meta === 'series').length);
  el.dataset.points = String(traces.filter((t) => t.meta === 'series').reduce((n, t) => n + t.x.length, 0));
}

/**
 * One bar per series ({name, value, colorIndex}): for metrics logged once per run (eval scores) compared
 * across runs. One trace for all bars (fast with hundreds of runs); bars sit at 0…n−1 and are labelled
 * with the run names, so two runs of the same name keep a bar each. The y axis starts at zero, and
 * all-zero values get a 0…1 axis instead of plotly's empty −1…1.
 */
export async function drawBars(el, bars, {title, log} = {}) {
  const Plotly = await loadPlotly();
  const base = themeLayout();
  const names = bars.map((b) => plotlyText(b.name));
  const label = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v));
  const trace = {type: 'bar', x: bars.map((_, i) => i), y: bars.map((b) => b.value), text: names,
    marker: {color: bars.map((b, i) => color(b.colorIndex ?? i))}, meta: 'series', hovertemplate: '%{text}: %{y}<extra></extra>',
    texttemplate: bars.length <= 20 ? bars.map((b) => label(b.value)) : undefined, textposition: 'outside', cliponaxis: false};
  const allZero = bars.every((b) => Number(b.value) === 0);
  const yaxis = {...base.yaxis, type: log ? 'log' : 'linear', rangemode: 'tozero'};
  if (allZero && !log) yaxis.range = [0, 1];
  const ticks = bars.length <= 40 ? {tickvals: bars.map((_, i) => i), ticktext: names} : {showticklabels: false};
  await Plotly.react(el, [trace], {...base, title: {text: plotlyText(title || ''), font: {size: 13}}, height: 300,
    margin: {l: 55, r: 15, t: 36, b: 60}, showlegend: false, yaxis,
    xaxis: {...base.xaxis, type: 'linear', ...ticks, zeroline: false}}, {responsive: true, displaylogo: false});
  el.dataset.seriesCount = String(bars.length);
  el.dataset.points = String(bars.length);
}

export function purge(el) {
  if (window.Plotly && el) window.Plotly.purge(el);
}
