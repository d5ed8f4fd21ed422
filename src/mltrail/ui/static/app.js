// The app shell: a hash router that maps "#/path?query" to one page module.
// Hash routing keeps every view a shareable URL without server-side routes.

import {errorBox, h, replace} from './dom.js';
import './components/user.js'; // who is logged in; hides what they may not do (auth on only)

const ROUTES = [
  [/^\/?$/, () => import('./pages/experiments.js'), () => ({})],
  [/^\/experiments\/([^/]+)$/, () => import('./pages/runs.js'), (m) => ({experimentIds: m[1].split(',').map(decodeURIComponent)})],
  [/^\/runs\/([^/]+)$/, () => import('./pages/run.js'), (m) => ({runId: decodeURIComponent(m[1])})],
  [/^\/compare$/, () => import('./pages/compare.js'), () => ({})],
  [/^\/compare-evaluations$/, () => import('./pages/eval_compare.js'), () => ({})],
  [/^\/models$/, () => import('./pages/models.js'), () => ({})],
  [/^\/experiments\/([^/]+)\/traces$/, () => import('./pages/traces.js'),
    (m) => ({experimentIds: m[1].split(',').map(decodeURIComponent)})],
  [/^\/traces\/([^/]+)$/, () => import('./pages/traces.js'), (m) => ({traceId: decodeURIComponent(m[1])})],
  [/^\/experiments\/([^/]+)\/sessions$/, () => import('./pages/sessions.js'),
    (m) => ({experimentIds: m[1].split(',').map(decodeURIComponent)})],
  [/^\/experiments\/([^/]+)\/sessions\/([^/]+)$/, () => import('./pages/sessions.js'),
    (m) => ({experimentIds: m[1].split(',').map(decodeURIComponent), sessionId: decodeURIComponent(m[2])})],
  [/^\/compare-traces$/, () => import('./pages/trace_compare.js'), () => ({})],
  [/^\/experiments\/([^/]+)\/datasets$/, () => import('./pages/datasets.js'),
    (m) => ({experimentIds: m[1].split(',').map(decodeURIComponent)})],
  [/^\/experiments\/([^/]+)\/review$/, () => import('./pages/review.js'), (m) => ({experimentId: decodeURIComponent(m[1])})],
  [/^\/review\/([^/]+)$/, () => import('./pages/review.js'), (m) => ({queueId: decodeURIComponent(m[1])})],
  [/^\/datasets\/([^/]+)$/, () => import('./pages/datasets.js'), (m) => ({datasetId: decodeURIComponent(m[1])})],
  [/^\/models\/([^/]+)$/, () => import('./pages/models.js'), (m) => ({modelName: decodeURIComponent(m[1])})],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, () => import('./pages/models.js'),
    (m) => ({modelName: decodeURIComponent(m[1]), version: decodeURIComponent(m[2])})],
  [/^\/prompts$/, () => import('./pages/prompts.js'), () => ({})],
  [/^\/prompts\/([^/]+)$/, () => import('./pages/prompt.js'), (m) => ({promptName: decodeURIComponent(m[1])})],
  // MLflow's own UI links (printed by the mlflow client) open the matching page here.
  [/^\/experiments\/[^/]+\/runs\/([^/]+)$/, () => import('./pages/run.js'), (m) => ({runId: decodeURIComponent(m[1])})],
  [/^\/compare-runs$/, () => import('./pages/compare.js'), () => ({})],
];

let cleanup = null;
let generation = 0;

/** The current route: path, its query and the path parameters. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  return {path, query};
}

/** Rewrite the query of the current URL without reloading the page (keeps the view shareable). */
export function updateQuery(changes) {
  const {path, query} = currentRoute();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) query.delete(key);
    else query.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const qs = query.toString();
  history.replaceState(null, '', '#' + path + (qs ? '?' + qs : ''));
}

async function render() {
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* a page's cleanup must not block navigation */ } cleanup = null; }
  const main = document.getElementById('main');
  const {path, query} = currentRoute();
  // Drop the previous page at once: stale content must never pass for the new page.
  main.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  for (const [pattern, load, paramsOf] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    try {
      const page = await load();
      if (gen !== generation) return;
      main.replaceChildren();
      const result = await page.render(main, {...paramsOf(match), query});
      if (gen !== generation) { if (typeof result === 'function') result(); return; }
      cleanup = typeof result === 'function' ? result : null;
    } catch (err) {
      if (gen === generation) replace(main, errorBox(err));
    }
    return;
  }
  replace(main, errorBox({code: 'NOT_FOUND', message: 'No such page: ' + path}));
}

window.addEventListener('hashchange', render);
render();
