// Compare-view plots: a scatter of any two columns (parallel coordinates live in parcoords.js).

import {h} from '../dom.js';
import {color, loadPlotly, plotlyText, themeLayout} from './chart.js';

/** Scatter of two columns, one point per run, labelled with the run name on hover. */
export async function scatter(el, runs, xCol, yCol, nameOf) {
  const Plotly = await loadPlotly();
  const theme = themeLayout();
  const xs = runs.map((r) => xCol.get(r));
  const ys = runs.map((r) => yCol.get(r));
  await Plotly.react(el, [{type: 'scatter', mode: 'markers', x: xs, y: ys, text: runs.map((r) => plotlyText(nameOf(r))),
    hovertemplate: '%{text}<br>%{x}, %{y}<extra></extra>', marker: {size: 11, color: runs.map((_, i) => color(i))}}],
  {...theme, margin: {l: 60, r: 20, t: 20, b: 50}, height: 360,
    xaxis: {...theme.xaxis, title: {text: plotlyText(xCol.label)}}, yaxis: {...theme.yaxis, title: {text: plotlyText(yCol.label)}}},
  {displaylogo: false, responsive: true});
  el.dataset.points = String(xs.length);
}

export function plotBox(label) {
  return h('div', {class: 'chart', role: 'img', 'aria-label': label});
}
