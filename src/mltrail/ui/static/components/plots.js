// Compare-view plots: parallel coordinates (params → metrics) and a scatter of any two columns.

import {h} from '../dom.js';
import {color, loadPlotly, plotlyText} from './chart.js';

function numeric(values) {
  return values.every((v) => v === undefined || v === null || v === '' || Number.isFinite(Number(v)));
}

/** One plotly parcoords dimension; text values become evenly spaced ticks. */
export function dimension(label, values) {
  if (numeric(values)) {
    return {label: plotlyText(label), values: values.map((v) => (v === undefined || v === '' ? NaN : Number(v)))};
  }
  const cats = [...new Set(values.map((v) => (v === undefined ? '(none)' : String(v))))].sort();
  return {label: plotlyText(label), values: values.map((v) => cats.indexOf(v === undefined ? '(none)' : String(v))),
    tickvals: cats.map((_, i) => i), ticktext: cats.map(plotlyText)};
}

function themed() {
  const css = getComputedStyle(document.documentElement);
  return {paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)', font: {color: css.getPropertyValue('--fg').trim() || '#222'}};
}

/** Parallel coordinates: each run a line through its params, then its metrics (colored by the last one). */
export async function parallelCoordinates(el, runs, columns) {
  const Plotly = await loadPlotly();
  const dims = columns.map((c) => dimension(c.label, runs.map((r) => c.get(r))));
  const last = dims[dims.length - 1];
  await Plotly.react(el, [{type: 'parcoords', dimensions: dims,
    line: {color: last ? last.values : [], colorscale: 'Viridis', showscale: true}}],
  {...themed(), margin: {l: 60, r: 60, t: 50, b: 30}, height: 360}, {displaylogo: false, responsive: true});
  el.dataset.dimensions = String(dims.length);
}

/** Scatter of two columns, one point per run, labelled with the run name on hover. */
export async function scatter(el, runs, xCol, yCol, nameOf) {
  const Plotly = await loadPlotly();
  const xs = runs.map((r) => xCol.get(r));
  const ys = runs.map((r) => yCol.get(r));
  await Plotly.react(el, [{type: 'scatter', mode: 'markers', x: xs, y: ys, text: runs.map((r) => plotlyText(nameOf(r))),
    hovertemplate: '%{text}<br>%{x}, %{y}<extra></extra>', marker: {size: 11, color: runs.map((_, i) => color(i))}}],
  {...themed(), margin: {l: 60, r: 20, t: 20, b: 50}, height: 360,
    xaxis: {title: {text: plotlyText(xCol.label)}}, yaxis: {title: {text: plotlyText(yCol.label)}}},
  {displaylogo: false, responsive: true});
  el.dataset.points = String(xs.length);
}

export function plotBox(label) {
  return h('div', {class: 'chart', role: 'img', 'aria-label': label});
}
