// DOM helpers. Every user value goes in as a text node or an attribute value,
// never through innerHTML, so a run named "<script>alert(1)</script>" is just text.

/**
 * Build an element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child).
 * Attributes whose value is null/undefined/false are skipped; "on*" functions become listeners.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'indeterminate') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, numbers, nested arrays); strings become text nodes. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link to a route inside the app; parts are URI-encoded so ids cannot break out of the path. */
export function routeHref(path, params) {
  const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString() : '';
  return '#' + path + (qs ? '?' + qs : '');
}

export function runHref(runId) {
  return routeHref('/runs/' + encodeURIComponent(runId));
}

export function experimentHref(ids, params) {
  return routeHref('/experiments/' + ids.map(encodeURIComponent).join(','), params);
}

/** A short message box; role=alert so screen readers announce errors. */
export function errorBox(err) {
  const code = err && err.code ? err.code + ': ' : '';
  return h('div', {class: 'error', role: 'alert'}, code + (err && err.message ? err.message : String(err)));
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(startMs, endMs) {
  if (!startMs) return '';
  const end = endMs ? Number(endMs) : Date.now();
  let s = Math.max(0, Math.round((end - Number(startMs)) / 1000));
  if (s < 60) return s + 's';
  const parts = [];
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) parts.push(d + 'd');
  if (hr) parts.push(hr + 'h');
  if (m) parts.push(m + 'm');
  if (s && !d) parts.push(s + 's');
  return parts.join(' ');
}

/** Metric values arrive as numbers or as "NaN"/"Infinity" strings (MLflow's JSON). */
export function fmtNumber(value) {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

export function statusBadge(status) {
  return h('span', {class: 'badge status-' + String(status || '').toLowerCase()}, status || '');
}

/** Key/value maps of a run JSON from the REST API. */
export function runMaps(run) {
  const data = run.data || {};
  const toMap = (list) => Object.fromEntries((list || []).map((x) => [x.key, x.value]));
  return {params: toMap(data.params), metrics: toMap(data.metrics), tags: toMap(data.tags),
    metricList: data.metrics || []};
}

export function runName(run) {
  return (run.info && (run.info.run_name || run.info.run_id)) || '';
}

/** Debounce a function: call it once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
