// Parallel coordinates drawn as plain SVG: one axis per column (params, then metrics), one line per run.
// plotly's parcoords needs WebGL, which headless or GPU-less browsers lack; this needs nothing but SVG.
// Labels are set with textContent, so column and run names are never parsed as markup.

const SVG = 'http://www.w3.org/2000/svg';
// Stops of a blue→green→yellow scale, light enough at both ends to read on light and dark backgrounds.
const VIRIDIS = [[70, 110, 220], [33, 160, 150], [94, 201, 98], [240, 200, 30]];

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + (VIRIDIS[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const isNum = (v) => v !== undefined && v !== null && v !== '' && Number.isFinite(Number(v));

/** An axis: maps a run's value to [0, 1] (0 = bottom) and lists its tick labels. */
export function axisFor(values) {
  const present = values.filter((v) => v !== undefined && v !== null && v !== '');
  if (present.length && present.every(isNum)) {
    const nums = present.map(Number);
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    const pos = (v) => (isNum(v) ? (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)) : null);
    const fmt = (v) => String(Number(v.toPrecision(4)));
    return {pos, ticks: hi === lo ? [[0.5, fmt(lo)]] : [[0, fmt(lo)], [1, fmt(hi)]]};
  }
  const cats = [...new Set(present.map(String))].sort();
  const pos = (v) => {
    if (v === undefined || v === null || v === '') return null;
    const i = cats.indexOf(String(v));
    return cats.length === 1 ? 0.5 : i / (cats.length - 1);
  };
  const every = Math.max(1, Math.ceil(cats.length / 8));
  return {pos, ticks: cats.map((c, i) => [cats.length === 1 ? 0.5 : i / (cats.length - 1), c]).filter((_, i) => i % every === 0)};
}

/**
 * Draw into `container`: columns are [{label, get(run)}], one line per run. `colorOf(run)` gives each run its
 * colour (the page's run colour, shared with its line charts); without it lines are coloured by the last column.
 * A legend under the plot names each run's colour.
 */
export function drawParallel(container, runs, columns, nameOf, colorOf) {
  const width = Math.max(320, container.clientWidth || 600);
  const height = 340;
  const pad = {l: 40, r: 40, t: 52, b: 24};
  const axes = columns.map((c) => axisFor(runs.map((r) => c.get(r))));
  const xAt = (i) => pad.l + (columns.length === 1 ? 0 : (i * (width - pad.l - pad.r)) / (columns.length - 1));
  const yAt = (p) => pad.t + (1 - p) * (height - pad.t - pad.b);
  const svg = el('svg', {viewBox: `0 0 ${width} ${height}`, width: '100%', height, class: 'parcoords', role: 'img'});
  svg.append(el('title', {}, 'Parallel coordinates of ' + runs.length + ' runs'));
  const lines = el('g', {fill: 'none', 'stroke-width': 1.6, 'stroke-opacity': 0.85});
  const last = axes[axes.length - 1];
  runs.forEach((run) => {
    const points = [];
    columns.forEach((c, i) => {
      const p = axes[i].pos(c.get(run));
      if (p !== null) points.push(`${xAt(i).toFixed(1)},${yAt(p).toFixed(1)}`);
    });
    if (points.length < 2) return;
    const colorT = last.pos(columns[columns.length - 1].get(run));
    const stroke = colorOf ? colorOf(run) : colorT === null ? '#888' : viridis(colorT);
    const line = el('polyline', {points: points.join(' '), stroke, class: 'pc-line'});
    line.append(el('title', {}, nameOf(run)));
    lines.append(line);
  });
  svg.append(lines);
  columns.forEach((c, i) => {
    const g = el('g', {class: 'pc-axis', 'font-size': 11, fill: 'currentColor'});
    g.append(el('line', {x1: xAt(i), x2: xAt(i), y1: pad.t, y2: height - pad.b, stroke: 'currentColor', 'stroke-opacity': 0.5}));
    const anchor = i === 0 ? 'start' : i === columns.length - 1 ? 'end' : 'middle';
    // Alternate label heights so neighbouring names do not overlap.
    g.append(el('text', {x: xAt(i), y: pad.t - (i % 2 ? 10 : 28), 'text-anchor': anchor, 'font-weight': 600}, c.label));
    for (const [p, label] of axes[i].ticks) {
      g.append(el('text', {x: xAt(i) + 4, y: yAt(p) + 4, 'font-size': 10}, label.length > 18 ? label.slice(0, 17) + '…' : label));
    }
    svg.append(g);
  });
  const legend = document.createElement('ul');
  legend.className = 'pc-legend';
  if (colorOf) {
    for (const run of runs) {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colorOf(run);
      item.append(swatch, nameOf(run));  // a string argument becomes a text node
      legend.append(item);
    }
  }
  container.replaceChildren(svg, ...(colorOf ? [legend] : []));
  container.dataset.dimensions = String(columns.length);
  container.dataset.lines = String(lines.childNodes.length);
}
