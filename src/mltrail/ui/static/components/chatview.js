// Chat and LLM spans as a conversation: who said what, which tools were called with which arguments,
// and what they returned. Reads OpenAI's chat and Responses shapes, LangChain's messages and results
// (what mltrail's OpenAI and LangChain autologgers record) and MLflow's `mlflow.chat.messages` attribute.

import {h} from '../dom.js';
import {unwrapJson} from './tracemodel.js';

const ROLE_OF_TYPE = {human: 'user', ai: 'assistant', system: 'system', tool: 'tool', function: 'tool', chat: 'user',
  HumanMessage: 'user', AIMessage: 'assistant', SystemMessage: 'system', ToolMessage: 'tool', AIMessageChunk: 'assistant'};

const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const looksLikeMessage = (m) => isObj(m) && ('role' in m || (m.lc && isObj(m.kwargs)) || ('type' in m && 'content' in m));

/** Content parts (OpenAI/Anthropic/LangChain) as text; pictures and other parts as a short note. */
function contentText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return JSON.stringify(content, null, 2);
  return content.map((p) => {
    if (typeof p === 'string') return p;
    if (!isObj(p)) return JSON.stringify(p);
    if (typeof p.text === 'string') return p.text;
    if (p.type === 'image_url' || p.type === 'input_image' || p.type === 'image') return '[image]';
    return JSON.stringify(p, null, 2);
  }).join('\n');
}

function toolCall(c) {
  if (!isObj(c)) return {name: '', id: '', args: c};
  const fn = isObj(c.function) ? c.function : c;
  return {name: fn.name || c.name || '', id: c.id || c.call_id || '', args: unwrapJson(fn.arguments ?? c.args ?? c.input ?? '')};
}

/** One message in a common shape: {role, content, toolCalls, toolCallId, name}. */
export function normalizeMessage(raw) {
  let m = raw;
  let role = '';
  if (isObj(m) && m.lc && isObj(m.kwargs)) {  // LangChain's serialized form: {"lc": 1, "id": [..., "AIMessage"], "kwargs": {...}}
    role = ROLE_OF_TYPE[(m.id || []).slice(-1)[0]] || '';
    m = m.kwargs;
  }
  if (!isObj(m)) return {role: 'user', content: contentText(m), toolCalls: []};
  if (m.type === 'function_call') return {role: 'assistant', content: '', toolCalls: [toolCall(m)]};
  if (m.type === 'function_call_output') return {role: 'tool', content: contentText(m.output), toolCallId: m.call_id, toolCalls: []};
  role = m.role || role || ROLE_OF_TYPE[m.type] || (m.type === 'message' ? 'assistant' : String(m.type || 'user'));
  const calls = m.tool_calls || (isObj(m.additional_kwargs) && m.additional_kwargs.tool_calls) || [];
  return {role: String(role), content: contentText(m.content ?? m.text ?? ''), toolCalls: (Array.isArray(calls) ? calls : []).map(toolCall),
    toolCallId: m.tool_call_id || '', name: m.name || ''};
}

function inputMessages(inputs) {
  if (Array.isArray(inputs) && inputs.length && inputs.every(looksLikeMessage)) return inputs;
  if (Array.isArray(inputs) && Array.isArray(inputs[0]) && inputs[0].every(looksLikeMessage)) return inputs[0];
  if (!isObj(inputs)) return [];
  if (Array.isArray(inputs.messages)) return inputs.messages;
  const text = inputs.input ?? inputs.prompt;
  const out = [];
  if (typeof inputs.instructions === 'string') out.push({role: 'system', content: inputs.instructions});
  if (typeof text === 'string') out.push({role: 'user', content: text});
  else if (Array.isArray(text)) out.push(...text);
  if (Array.isArray(inputs.prompts)) out.push(...inputs.prompts.map((p) => ({role: 'user', content: p})));
  return out;
}

function outputMessages(outputs) {
  if (typeof outputs === 'string') return [{role: 'assistant', content: outputs}];
  if (looksLikeMessage(outputs)) return [outputs];
  if (!isObj(outputs)) return [];
  if (Array.isArray(outputs.choices)) {
    return outputs.choices.map((c) => (isObj(c) && c.message ? c.message : {role: 'assistant', content: isObj(c) ? c.text ?? '' : c}));
  }
  if (Array.isArray(outputs.generations)) {
    return outputs.generations.flat().map((g) => (isObj(g) && g.message ? g.message : {role: 'assistant', content: isObj(g) ? g.text ?? '' : g}));
  }
  if (Array.isArray(outputs.output)) return outputs.output.filter((o) => isObj(o) && o.type !== 'reasoning');
  if (typeof outputs.output_text === 'string') return [{role: 'assistant', content: outputs.output_text}];
  return [];
}

/** The conversation of a span, or null when the span does not carry one. */
export function conversationOf(node) {
  const recorded = node.attr('mlflow.chat.messages');
  if (Array.isArray(recorded) && recorded.length) return recorded.map(normalizeMessage);
  const chatType = node.type === 'CHAT_MODEL' || node.type === 'LLM';
  const ins = inputMessages(node.inputs);
  const outs = outputMessages(node.outputs);
  if (!chatType && !(isObj(node.inputs) && Array.isArray(node.inputs.messages))) return null;
  if (!ins.length && !outs.length) return null;
  return [...ins, ...outs].map(normalizeMessage);
}

const pretty = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));
const roleClass = (role) => 'role-' + (String(role).toLowerCase().replace(/[^a-z]/g, '') || 'other');

/** The conversation as message bubbles; every value is text. */
export function chatView(messages) {
  return h('div', {class: 'chat'}, messages.map((m) => h('div', {class: 'chat-msg ' + roleClass(m.role), dataset: {role: m.role}},
    h('div', {class: 'chat-head'}, h('span', {class: 'chat-role'}, m.role), m.name ? h('span', {class: 'muted'}, ' · ' + m.name) : null,
      m.toolCallId ? h('span', {class: 'muted'}, ' · result of ' + m.toolCallId) : null),
    m.content ? h('div', {class: 'chat-content'}, m.content) : null,
    m.toolCalls.map((c) => h('div', {class: 'tool-call'},
      h('div', {class: 'tool-call-head'}, 'Tool call ', h('code', {}, c.name || '?'), c.id ? h('span', {class: 'muted'}, ' · ' + c.id) : null),
      c.args === '' || c.args === undefined ? null : h('pre', {class: 'json'}, pretty(c.args)))))));
}
