// Sessions: the conversations (MLflow's mlflow.trace.session metadata) of an experiment, most recent first, each
// with its user, turn count, tokens and cost; and one session read turn by turn (the user's message, the answer,
// and each turn's latency, tokens, cost and trace), with the session's totals. Every value is shown as text.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, experimentHref, fmtTime, h, replace, routeHref} from '../dom.js';
import {costText, fmtCost, tokensText} from '../components/spandetail.js';
import {durationText, previewText, totalsText, traceFacts, traceTabs} from './traces.js';

const quote = (value) => "'" + String(value).replace(/'/g, "''") + "'";
const sessionHref = (exp, id) => routeHref(`/experiments/${encodeURIComponent(exp)}/sessions/${encodeURIComponent(id)}`);
const MAX_TURNS = 2000;  // one page of the conversation view; longer sessions say so

function crumbs(experimentIds, ...tail) {
  const ids = experimentIds.map(encodeURIComponent).join(',');
  return h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ', h('a', {href: experimentHref(experimentIds)}, 'Runs'),
    ' › ', h('a', {href: routeHref(`/experiments/${ids}/traces`)}, 'Traces'), ...tail);
}

async function renderSessions(root, experimentIds, query) {
  const state = {filter: query.get('filter') || ''};
  const tbody = h('tbody');
  const message = h('div', {class: 'filter-error'});
  const more = h('button', {type: 'button', class: 'load-more', hidden: true}, 'Load more');
  const filterInput = h('input', {type: 'search', name: 'filter', value: state.filter, 'aria-label': 'Filter the traces of sessions',
    placeholder: "trace.user = 'ana@example.com'"});
  replace(root, crumbs(experimentIds, ' › Sessions'), h('h1', {}, 'Sessions'), traceTabs(experimentIds, 'sessions'),
    h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); state.filter = filterInput.value.trim(); reload(); }},
      h('div', {class: 'grow'}, filterInput), h('button', {type: 'submit'}, 'Search')),
    message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'sessions'},
      h('thead', {}, h('tr', {}, ['Session', 'User', 'Turns', 'Tokens', 'Cost', 'Errors', 'Started', 'Last turn']
        .map((t) => h('th', {scope: 'col'}, t)))), tbody)), more);
  let token = null;
  let generation = 0;
  async function page() {
    const gen = generation;
    more.disabled = true;
    try {
      const res = await api.traceSessions(experimentIds, {filter: state.filter || undefined, pageToken: token});
      if (gen !== generation) return;
      replace(message);
      filterInput.removeAttribute('aria-invalid');
      for (const s of res.sessions || []) tbody.append(sessionRow(experimentIds[0], s, experimentIds));
      token = res.next_page_token || null;
      more.hidden = !token;
      if (!tbody.childNodes.length) {
        tbody.append(h('tr', {}, h('td', {colspan: 8, class: 'muted'},
          'No sessions yet: give traces a session with mlflow.update_current_trace(session_id=...) or the OTel attribute session.id.')));
      }
    } catch (err) {
      if (gen !== generation) return;
      filterInput.setAttribute('aria-invalid', 'true');
      replace(message, errorBox(err));
    } finally {
      more.disabled = false;
    }
  }
  async function reload() {
    generation += 1;
    token = null;
    tbody.replaceChildren();
    updateQuery({filter: state.filter});
    await page();
  }
  more.addEventListener('click', () => { if (token) page(); });
  await reload();
}

function sessionRow(exp, s, experimentIds) {
  const usage = {input: s.input_tokens, output: s.output_tokens, total: s.total_tokens};
  const cost = {input: s.input_cost, output: s.output_cost, total: s.total_cost};
  // With several experiments the session's page lists the turns of all of them.
  const href = experimentIds.length > 1
    ? routeHref(`/experiments/${experimentIds.map(encodeURIComponent).join(',')}/sessions/${encodeURIComponent(s.session_id)}`)
    : sessionHref(exp, s.session_id);
  return h('tr', {dataset: {sessionId: s.session_id}},
    h('td', {}, h('a', {href}, s.session_id)),
    h('td', {class: 'user'}, s.user || ''),
    h('td', {class: 'num turns'}, s.trace_count.toLocaleString('en-US')),
    h('td', {class: 'num tokens', title: s.total_tokens ? tokensText(usage) : ''}, s.total_tokens ? s.total_tokens.toLocaleString('en-US') : ''),
    h('td', {class: 'num cost', title: s.total_cost ? costText(cost) : ''}, s.total_cost ? fmtCost(s.total_cost) : ''),
    h('td', {class: 'num errors'}, s.error_count ? String(s.error_count) : ''),
    h('td', {}, fmtTime(s.first_timestamp_ms)),
    h('td', {}, fmtTime(s.last_timestamp_ms)));
}

async function renderSession(root, experimentIds, sessionId) {
  const filter = `trace.session = ${quote(sessionId)}`;
  const turns = h('ol', {class: 'session-turns'});
  const totals = h('p', {class: 'trace-totals muted'});
  const message = h('div');
  replace(root, crumbs(experimentIds, ' › ', h('a', {href: routeHref(`/experiments/${experimentIds.map(encodeURIComponent).join(',')}/sessions`)}, 'Sessions'),
    ' › ', h('code', {}, sessionId)), h('h1', {}, 'Session ', h('code', {}, sessionId)), totals, message, turns);
  try {
    const [sum] = await Promise.all([api.traceTotals(experimentIds, filter), (async () => {
      let token = null;
      let count = 0;
      do {
        const res = await api.searchTraces(experimentIds, {filter, pageToken: token, orderBy: ['timestamp_ms ASC'], maxResults: 500});
        for (const t of res.traces || []) turns.append(turn(t, ++count));
        token = res.next_page_token || null;
      } while (token && count < MAX_TURNS);
      if (token) replace(message, h('p', {class: 'muted'}, `Showing the first ${MAX_TURNS.toLocaleString('en-US')} turns.`));
    })()]);
    replace(totals, totalsText(sum));
    if (!turns.childNodes.length) replace(message, h('p', {class: 'muted'}, 'This session has no traces.'));
  } catch (err) {
    replace(message, errorBox(err));
  }
}

/** A turn's message: a request like {"question": "..."} (one text field) reads as its text; else the preview. */
export function turnText(raw) {
  let value = null;
  try { value = JSON.parse(raw); } catch { /* a cut preview: shown as it is */ }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const texts = Object.values(value).filter((v) => typeof v === 'string');
    if (Object.keys(value).length === 1 && texts.length === 1) return texts[0];
  }
  return previewText(raw);
}

function turn(t, n) {
  const facts = traceFacts(t);
  const state = t.state || '';
  const bits = [
    fmtTime(Date.parse(t.request_time)), durationText(t.execution_duration),
    facts.tokens ? tokensText(facts.tokens) : null, facts.cost ? costText(facts.cost) : null, facts.user,
  ].filter(Boolean);
  return h('li', {class: 'session-turn', dataset: {traceId: t.trace_id, state}},
    h('div', {class: 'turn-head'}, h('strong', {}, `Turn ${n}`), ' ',
      h('span', {class: 'badge status-' + (state === 'OK' ? 'finished' : state === 'ERROR' ? 'failed' : 'running')}, state), ' ',
      h('span', {class: 'muted turn-facts'}, bits.join(' · ')), ' ',
      h('a', {href: routeHref('/traces/' + encodeURIComponent(t.trace_id))}, 'trace ›')),
    h('div', {class: 'chat-msg role-user turn-request'}, h('span', {class: 'muted'}, 'User'), h('p', {}, turnText(t.request_preview))),
    h('div', {class: 'chat-msg role-assistant turn-response'}, h('span', {class: 'muted'}, 'Assistant'), h('p', {}, turnText(t.response_preview))));
}

export async function render(root, {experimentIds, sessionId, query}) {
  return sessionId ? renderSession(root, experimentIds, sessionId) : renderSessions(root, experimentIds, query);
}
