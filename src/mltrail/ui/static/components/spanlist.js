// The span tree with a waterfall beside it, virtualised: only the rows in view (plus a margin) are in the
// DOM, so a trace of 10,000 spans opens and scrolls like one of ten. Every row is built from text nodes.

import {h, replace} from '../dom.js';
import {fmtMs} from './tracemodel.js';

export const ROW_HEIGHT = 26;
const OVERSCAN = 10;

/** Axis ticks for a span of `totalMs`: about five round steps. */
function ticks(totalMs) {
  const raw = totalMs / 5;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = 0; t <= totalMs + 1e-9 && out.length < 12; t += step) out.push(t);
  return out;
}

/** Where a bar's duration goes: after the bar, or inside a wide bar that reaches the right edge, else before it. */
function durStyle(left, width) {
  if (left + width <= 80) return `left:${left + width}%`;
  return width > 15 ? `left:${left}%` : `right:${100 - left}%;padding-right:4px`;
}


/**
 * A virtualised span list over a TraceModel. `onSelect(node)` runs when a row is chosen.
 * Returns {el, render(), select(id), selected()}; call render() after the model changes.
 */
export function spanList(model, {onSelect}) {
  const search = h('input', {type: 'search', class: 'span-search', placeholder: 'Search spans (name, inputs, outputs, attributes)',
    'aria-label': 'Search spans'});
  const count = h('span', {class: 'muted span-count', 'aria-live': 'polite'});
  const axis = h('div', {class: 'span-axis', 'aria-hidden': 'true'});
  const spacer = h('div', {class: 'span-spacer'});
  const rows = h('div', {class: 'span-rows span-tree', role: 'tree', 'aria-label': 'Spans'});
  const viewport = h('div', {class: 'span-viewport', tabindex: '0'}, spacer, rows);
  const el = h('div', {class: 'span-list panel'},
    h('div', {class: 'span-tools'}, search, count),
    h('div', {class: 'span-head'}, h('div', {class: 'span-head-name'}, 'Span'), axis), viewport);
  let selectedId = null;
  let frame = 0;
  let nowNs = null;

  const drawAxis = () => {
    const total = (model.t1 - model.t0) / 1e6;
    replace(axis, ticks(total).map((t) => h('span', {class: 'tick', style: `left:${(t / total) * 100}%`}, fmtMs(t))));
  };

  function row(node, index) {
    const span = model.t1 - model.t0;
    const end = node.end ?? nowNs ?? model.t1;
    const left = ((node.start - model.t0) / span) * 100;
    const width = Math.max(((end - node.start) / span) * 100, 0.15);
    const dur = fmtMs(node.durationMs(end));
    const hasKids = node.children.length > 0;
    const open = !model.collapsed.has(node.id) || model.query;
    const toggle = hasKids
      ? h('button', {type: 'button', class: 'span-toggle', 'aria-label': (open ? 'Collapse ' : 'Expand ') + node.name,
        onclick: (e) => { e.stopPropagation(); model.toggle(node.id); render(); }}, open ? '▾' : '▸')
      : h('span', {class: 'span-toggle'});
    const cls = ['span-row', 'status-' + node.status.toLowerCase(), node.end === null ? 'running' : '',
      node.id === selectedId ? 'selected' : '', model.matches.has(node.id) ? 'match' : ''].filter(Boolean).join(' ');
    const el = h('div', {class: cls, role: 'treeitem', 'aria-level': node.depth + 1, 'aria-selected': String(node.id === selectedId),
      'aria-expanded': hasKids ? String(Boolean(open)) : null, dataset: {spanId: node.id, index: String(index)},
      onclick: () => select(node.id)},
    h('div', {class: 'span-name', style: `padding-left:${Math.min(node.depth, 40) * 14 + 4}px`, title: node.name},
      toggle, h('button', {type: 'button', class: 'span-pick', tabindex: '-1', dataset: {span: node.name}},
        node.type ? h('span', {class: 'span-type type-' + String(node.type).toLowerCase().replace(/[^a-z_]/g, '')}, String(node.type)) : null,
        h('span', {class: 'span-label'}, node.name))),
    h('div', {class: 'span-track'},
      h('div', {class: 'span-bar', style: `left:${left}%;width:${width}%`, title: `${node.name}: ${dur}`}),
      h('span', {class: 'span-dur' + (left + width > 80 && width > 15 ? ' inside' : ''), style: durStyle(left, width)}, dur)));
    el.style.top = index * ROW_HEIGHT + 'px';
    return el;
  }

  function draw() {
    frame = 0;
    const n = model.visible.length;
    spacer.style.height = n * ROW_HEIGHT + 'px';
    viewport.style.height = `min(68vh, ${n * ROW_HEIGHT + 2}px)`;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(n, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    const out = [];
    for (let i = first; i < last; i++) out.push(row(model.visible[i], i));
    rows.replaceChildren(...out);
  }

  function render() {
    nowNs = model.running ? Math.max(model.t1, Date.now() * 1e6) : null;
    drawAxis();
    count.textContent = model.query ? `${model.matches.size} of ${model.order.length} spans match`
      : `${model.order.length} span${model.order.length === 1 ? '' : 's'}`;
    draw();
  }

  function select(id, {scroll = false} = {}) {
    const node = model.byId.get(id);
    if (!node) return;
    selectedId = id;
    if (scroll) {
      const i = model.visible.indexOf(node);
      if (i >= 0 && (i * ROW_HEIGHT < viewport.scrollTop || (i + 1) * ROW_HEIGHT > viewport.scrollTop + viewport.clientHeight)) {
        viewport.scrollTop = Math.max(0, i * ROW_HEIGHT - viewport.clientHeight / 2);
      }
    }
    draw();
    onSelect(node);
  }

  viewport.addEventListener('scroll', () => { if (!frame) frame = requestAnimationFrame(draw); }, {passive: true});
  viewport.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const i = model.visible.findIndex((x) => x.id === selectedId);
    const next = model.visible[Math.min(model.visible.length - 1, Math.max(0, i + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) select(next.id, {scroll: true});
  });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      model.setQuery(search.value);
      viewport.scrollTop = 0;
      render();
      const first = model.query ? model.visible.find((x) => model.matches.has(x.id)) : null;
      if (first) select(first.id);
    }, 150);
  });
  return {el, render, select, selected: () => selectedId, viewport};
}
