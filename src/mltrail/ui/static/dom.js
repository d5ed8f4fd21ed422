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

/**
 * A run's duration, end − start (a running run: now − start), for people: "850ms", "1.3s", "2m 5s", "1h 1m",
 * "2d 3h". Sub-minute runs keep their fraction, so quick runs never all read "0s".
 */
export function fmtDuration(startMs, endMs, nowMs = Date.now()) {
  if (startMs === null || startMs === undefined || startMs === '' || Number(startMs) <= 0) return '';
  const start = Number(startMs);
  const end = endMs ? Number(endMs) : nowMs;
  if (!Number.isFinite(start) || !Number.isFinite(end)) return '';
  return fmtElapsed(end - start);
}

/** Milliseconds for people: "850ms", "1.3s", "42s", "2m 5s", "1h 1m", "2d 3h". */
export function fmtElapsed(milliseconds) {
  const ms = Math.max(0, Number(milliseconds) || 0);
  if (ms < 1000) return Math.round(ms) + 'ms';
  if (ms < 60000) return String(ms < 10000 ? Math.floor(ms / 100) / 10 : Math.floor(ms / 1000)) + 's';
  let s = Math.floor(ms / 1000);
  const parts = [];
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) parts.push(d + 'd');
  if (hr) parts.push(hr + 'h');
  if (m && !d) parts.push(m + 'm');
  if (s && !d && !hr) parts.push(s + 's');
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
