// A trace's spans as a tree the trace page can draw: parents and children, a shared time axis,
// the rows visible under collapsed nodes or a search, tokens and cost. Spans arrive as MLflow's
// span JSON (attribute values are JSON strings); each value is parsed once, when first asked for.

import {fmtElapsed} from '../dom.js';

/** An OTLP AnyValue (the REST API's span JSON) as a plain JS value. */
export function anyValue(v) {
  if (!v || typeof v !== 'object') return v;
  if ('string_value' in v) return v.string_value;
  if ('int_value' in v) return Number(v.int_value);
  if ('double_value' in v) return v.double_value;
  if ('bool_value' in v) return v.bool_value;
  if ('array_value' in v) return (v.array_value.values || []).map(anyValue);
  if ('kvlist_value' in v) return Object.fromEntries((v.kvlist_value.values || []).map((kv) => [kv.key, anyValue(kv.value)]));
  if ('bytes_value' in v) return v.bytes_value;
  return null;
}

/** Parse a JSON string once; anything that is not JSON stays what it is. */
export function parseJson(value) {
  if (typeof value !== 'string') return value;
  try { return JSON.parse(value); } catch { return value; }
}

/**
 * A string holding a JSON object, array or string, parsed (once more): values that went through JSON twice
 * (OTLP exporters send MLflow's JSON attribute text as a string, which is then encoded again) read as
 * themselves, never as escaped JSON.
 */
export function unwrapJson(value) {
  if (typeof value !== 'string') return value;
  const t = value.trim();
  const quoted = t.length > 1 && t.startsWith('"') && t.endsWith('"');
  if (!(quoted || t.startsWith('{') || t.startsWith('['))) return value;
  try { return JSON.parse(t); } catch { return value; }
}

/** Span durations for people, sub-millisecond ones included: "0.42ms", "3.1ms", "250ms", "1.5s", "2m 5s". */
export const fmtMs = (ms) => (ms === 0 ? '0' : ms < 1 ? ms.toFixed(2) + 'ms'
  : ms < 1000 ? (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + 'ms' : fmtElapsed(ms));

const num = (x) => (x === null || x === undefined || x === '' ? null : Number(x));

/** One span, from stored span JSON or the REST API's OTLP JSON. */
export class SpanNode {
  constructor(doc) {
    this.id = doc.span_id;
    this.parentId = doc.parent_span_id || null;
    this.name = doc.name || '';
    this.start = num(doc.start_time_unix_nano) || 0;
    this.end = num(doc.end_time_unix_nano);
    const status = doc.status || {};
    this.status = String(status.code || 'UNSET').replace('STATUS_CODE_', '');
    this.statusMessage = status.message || '';
    this.raw = Array.isArray(doc.attributes)  // REST JSON: [{key, value: AnyValue}] (values already decoded)
      ? Object.fromEntries(doc.attributes.map((a) => [a.key, JSON.stringify(anyValue(a.value))]))
      : (doc.attributes || {});
    this.events = (doc.events || []).map((e) => ({
      name: e.name || '', time: num(e.timestamp ?? e.time_unix_nano),
      attributes: Array.isArray(e.attributes) ? Object.fromEntries(e.attributes.map((a) => [a.key, anyValue(a.value)])) : (e.attributes || {}),
    }));
    this.parsed = new Map();
    this.children = [];
    this.depth = 0;
    this.searchText = null;
  }

  /** One attribute, decoded once. */
  attr(key) {
    if (!this.parsed.has(key)) this.parsed.set(key, key in this.raw ? unwrapJson(parseJson(this.raw[key])) : undefined);
    return this.parsed.get(key);
  }

  get type() { return this.attr('mlflow.spanType') || ''; }
  get inputs() { return unwrapJson(this.attr('mlflow.spanInputs')); }
  get outputs() { return unwrapJson(this.attr('mlflow.spanOutputs')); }
  get usage() { return usageOf(this.attr('mlflow.chat.tokenUsage')); }
  get cost() { return costOf(this.attr('mlflow.llm.cost')); }
  /** Duration in ms; a span still running counts up to `now` (ns). */
  durationMs(nowNs) { return ((this.end ?? nowNs ?? this.start) - this.start) / 1e6; }

  /** Lower-cased text searched by the span search: name, type and every attribute value. */
  text() {
    if (this.searchText === null) this.searchText = (this.name + '\n' + Object.values(this.raw).join('\n')).toLowerCase();
    return this.searchText;
  }
}

/** Token usage ({input_tokens, output_tokens, total_tokens}) from a parsed attribute or metadata, or null. */
export function usageOf(value) {
  const u = unwrapJson(value);
  if (!u || typeof u !== 'object') return null;
  const pick = (k) => (typeof u[k] === 'number' ? u[k] : null);
  const out = {input: pick('input_tokens'), output: pick('output_tokens'), total: pick('total_tokens')};
  if (out.total === null && (out.input !== null || out.output !== null)) out.total = (out.input || 0) + (out.output || 0);
  return out.total === null ? null : out;
}

/** Cost ({input_cost, output_cost, total_cost} or a number) as {input, output, total}, or null. */
export function costOf(value) {
  const c = unwrapJson(value);
  if (typeof c === 'number') return {input: null, output: null, total: c};
  if (!c || typeof c !== 'object') return null;
  const pick = (k) => (typeof c[k] === 'number' ? c[k] : null);
  const out = {input: pick('input_cost'), output: pick('output_cost'), total: pick('total_cost')};
  if (out.total === null && (out.input !== null || out.output !== null)) out.total = (out.input || 0) + (out.output || 0);
  return out.total === null ? null : out;
}

/** The spans of one trace as a tree; `merge` adds or replaces spans as a live trace grows. */
export class TraceModel {
  constructor(docs) {
    this.byId = new Map();
    this.collapsed = new Set();
    this.query = '';
    this.merge(docs || []);
  }

  merge(docs) {
    for (const d of docs) {
      const node = new SpanNode(d);
      if (node.id) this.byId.set(node.id, node);
    }
    this.rebuild();
  }

  rebuild() {
    this.roots = [];
    for (const n of this.byId.values()) n.children = [];
    for (const n of this.byId.values()) {
      const parent = n.parentId ? this.byId.get(n.parentId) : null;
      (parent ? parent.children : this.roots).push(n);
    }
    const byStart = (a, b) => a.start - b.start;
    this.roots.sort(byStart);
    this.order = [];  // depth-first, children by start time
    const stack = this.roots.slice().reverse().map((n) => [n, 0]);
    while (stack.length) {  // iterative: a 10,000-deep chain must not overflow the call stack
      const [n, depth] = stack.pop();
      n.depth = depth;
      this.order.push(n);
      n.children.sort(byStart);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push([n.children[i], depth + 1]);
    }
    let t0 = Infinity; let t1 = -Infinity; this.running = false;
    for (const n of this.order) {
      t0 = Math.min(t0, n.start);
      if (n.end === null) this.running = true;
      t1 = Math.max(t1, n.end ?? n.start);
    }
    this.t0 = Number.isFinite(t0) ? t0 : 0;
    this.t1 = Number.isFinite(t1) ? Math.max(t1, this.t0 + 1) : this.t0 + 1;
    this.refilter();
  }

  setQuery(q) { this.query = q.trim().toLowerCase(); this.refilter(); }
  toggle(id) { if (this.collapsed.has(id)) this.collapsed.delete(id); else this.collapsed.add(id); this.refilter(); }

  /** The rows to draw: every span not under a collapsed one; with a search, the matches and their ancestors. */
  refilter() {
    this.matches = new Set();
    let keep = null;
    if (this.query) {
      keep = new Set();
      for (const n of this.order) {
        if (!n.text().includes(this.query)) continue;
        this.matches.add(n.id);
        for (let p = n; p && !keep.has(p.id); p = p.parentId ? this.byId.get(p.parentId) : null) keep.add(p.id);
      }
    }
    this.visible = [];
    let skipDepth = Infinity;
    for (const n of this.order) {
      if (n.depth > skipDepth) continue;
      skipDepth = Infinity;
      if (keep && !keep.has(n.id)) { skipDepth = n.depth; continue; }
      this.visible.push(n);
      if (!keep && this.collapsed.has(n.id)) skipDepth = n.depth;
    }
  }

  /** Totals over the spans: tokens and cost summed where spans carry them. */
  spanTotals() {
    let tokens = null; let cost = null;
    for (const n of this.order) {
      const u = n.usage; const c = n.cost;
      if (u) tokens = {input: (tokens?.input || 0) + (u.input || 0), output: (tokens?.output || 0) + (u.output || 0), total: (tokens?.total || 0) + u.total};
      if (c) cost = {input: null, output: null, total: (cost?.total || 0) + c.total};
    }
    return {tokens, cost};
  }
}
