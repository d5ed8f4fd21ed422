// The selected span: what it is, how long it took, its tokens and cost, the conversation of a chat span,
// inputs and outputs as pretty JSON (parsed once, never shown as an escaped string), attributes, and its
// events with exceptions called out. Everything is text nodes.

import {h} from '../dom.js';
import {chatView, conversationOf} from './chatview.js';
import {fmtMs} from './tracemodel.js';

const SHOWN_ELSEWHERE = new Set(['mlflow.spanInputs', 'mlflow.spanOutputs']);

/** A value as readable text: strings as they are, anything else as indented JSON. */
export const pretty = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

const fmtInt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
/** Costs in dollars with enough digits for per-call fractions of a cent. */
export const fmtCost = (c) => '$' + (c >= 1 ? c.toFixed(2) : c >= 0.01 ? c.toFixed(4) : Number(c.toPrecision(3)).toString());

/** "1,234 tokens (1,000 in · 234 out)", or null. */
export function tokensText(u) {
  if (!u) return null;
  const parts = [u.input !== null ? fmtInt(u.input) + ' in' : null, u.output !== null ? fmtInt(u.output) + ' out' : null].filter(Boolean);
  return `${fmtInt(u.total)} tokens` + (parts.length ? ` (${parts.join(' · ')})` : '');
}

export function costText(c) {
  if (!c) return null;
  const parts = [c.input !== null ? fmtCost(c.input) + ' in' : null, c.output !== null ? fmtCost(c.output) + ' out' : null].filter(Boolean);
  return fmtCost(c.total) + (parts.length ? ` (${parts.join(' · ')})` : '');
}

const LONG_TEXT = 100_000;

/** A <pre> of a value's text; past LONG_TEXT characters it shows the start and a button for the rest. */
function textBlock(cls, text) {
  const pre = h('pre', {class: 'json ' + cls}, text.length > LONG_TEXT ? text.slice(0, LONG_TEXT) : text);
  if (text.length <= LONG_TEXT) return pre;
  const more = h('button', {type: 'button', class: 'link show-all'}, `Show all ${text.length.toLocaleString('en-US')} characters`);
  more.addEventListener('click', () => { pre.textContent = text; more.remove(); });
  return [pre, more];
}

function block(title, cls, value) {
  if (value === undefined) return null;
  return [h('h3', {}, title), textBlock(cls, pretty(value))];
}

function eventsView(events, startNs) {
  if (!events.length) return null;
  return [h('h3', {}, `Events (${events.length})`), events.map((e) => {
    const a = e.attributes || {};
    const isException = e.name === 'exception';
    return h('div', {class: 'span-event' + (isException ? ' exception' : '')},
      h('div', {}, h('strong', {}, e.name), e.time ? h('span', {class: 'muted'}, ' at +' + fmtMs((e.time - startNs) / 1e6)) : null),
      isException ? [h('div', {class: 'exception-title'}, String(a['exception.type'] || 'Exception') + ': ' + String(a['exception.message'] || '')),
        a['exception.stacktrace'] ? h('pre', {class: 'stack'}, String(a['exception.stacktrace'])) : null]
        : Object.keys(a).length ? h('pre', {class: 'json'}, pretty(a)) : null);
  })];
}

/** The detail panel's content for one span (`traceStartNs`: offset reference). */
export function spanDetail(node, traceStartNs, nowNs) {
  const conversation = conversationOf(node);
  const tokens = tokensText(node.usage);
  const cost = costText(node.cost);
  const attrs = Object.keys(node.raw).filter((k) => !SHOWN_ELSEWHERE.has(k)).sort();
  const model = node.attr('mlflow.llm.model') ?? node.attr('model');
  return [
    h('h2', {class: 'span-title'}, node.name),
    h('dl', {class: 'kv span-facts'},
      h('dt', {}, 'Type'), h('dd', {}, node.type || '–'),
      h('dt', {}, 'Status'), h('dd', {}, h('span', {class: 'badge status-' + node.status.toLowerCase()}, node.end === null ? 'RUNNING' : node.status),
        node.statusMessage ? ' ' + node.statusMessage : ''),
      h('dt', {}, 'Duration'), h('dd', {class: 'span-duration'}, fmtMs(node.durationMs(nowNs)) + (node.end === null ? ' so far' : '')),
      h('dt', {}, 'Started'), h('dd', {}, node.start === traceStartNs ? 'at the start' : '+' + fmtMs((node.start - traceStartNs) / 1e6)),
      typeof model === 'string' ? [h('dt', {}, 'Model'), h('dd', {}, model)] : null,
      tokens ? [h('dt', {}, 'Tokens'), h('dd', {class: 'span-tokens'}, tokens)] : null,
      cost ? [h('dt', {}, 'Cost'), h('dd', {class: 'span-cost'}, cost)] : null),
    conversation ? [h('h3', {}, 'Conversation'), chatView(conversation)] : null,
    conversation
      ? h('details', {class: 'raw-io'}, h('summary', {}, 'Inputs and outputs as JSON'),
        block('Inputs', 'span-inputs', node.inputs), block('Outputs', 'span-outputs', node.outputs))
      : [block('Inputs', 'span-inputs', node.inputs), block('Outputs', 'span-outputs', node.outputs)],
    eventsView(node.events, node.start),
    attrs.length ? h('details', {class: 'span-attributes'}, h('summary', {}, `Attributes (${attrs.length})`),
      h('div', {class: 'table-wrap'}, h('table', {}, h('tbody', {}, attrs.map((k) =>
        h('tr', {}, h('th', {scope: 'row', class: 'wrap'}, k), h('td', {class: 'wrap'}, textBlock('attr-value', pretty(node.attr(k)))))))))) : null,
  ];
}
