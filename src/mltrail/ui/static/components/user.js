// Who is logged in, and hiding what they may not do (servers run with --app-name basic-auth).
//
// The browser's Basic-auth dialog is the login. This module asks the server who the user is
// (GET /ajax-api/mltrail/auth/me; with auth off it says so, and then nothing here does anything),
// shows the name in the top bar, and hides delete / rename / edit buttons on pages about an
// experiment, run or model the user may not change. The server checks every request anyway:
// hiding only spares the user a "Permission denied".

import {ROOT} from '../root.js';

const ME = ROOT + '/ajax-api/mltrail/auth/me';
const cache = new Map(); // "experiments:1" / "runs:abc" / "models:name" -> permission

async function ask(query) {
  const res = await fetch(ME + (query ? '?' + new URLSearchParams(query) : ''), {headers: {Accept: 'application/json'}});
  if (res.status === 404) return null;
  if (!res.ok) throw new Error('HTTP ' + res.status);
  return res.json();
}

/** Permissions of the current user on ``ids`` of one kind (experiments, runs, models), cached per page load. */
async function permissions(kind, ids) {
  const missing = ids.filter((id) => !cache.has(kind + ':' + id));
  if (missing.length) {
    const body = await ask({[kind === 'models' ? 'models' : kind.slice(0, -1) + '_ids']: missing.join(',')});
    for (const [id, perm] of Object.entries((body && body[kind]) || {})) cache.set(kind + ':' + id, perm);
  }
  return ids.map((id) => cache.get(kind + ':' + id) || {can_read: false, can_update: false, can_delete: false});
}

const UPDATE_LABEL = /^(Rename|Edit|Save|Save name|Add .+|Move to .+)$/;

/** The capability a button needs on the page's resource, or null for buttons anyone may use. */
function needs(button, kind) {
  const text = button.textContent.trim();
  if (text === 'Restore') return 'can_delete';
  if (button.classList.contains('danger')) {
    // Deleting experiments, runs, models and versions needs DELETE; removing a tag or an alias is an update.
    const deletes = kind === 'experiments' || /^(Delete (model|version)|Yes, delete .+)$/.test(text);
    return deletes ? 'can_delete' : 'can_update';
  }
  return UPDATE_LABEL.test(text) ? 'can_update' : null;
}

function hideUnless(root, kind, perm) {
  for (const b of root.querySelectorAll('button')) {
    const need = needs(b, kind);
    if (!need || perm[need]) continue;
    b.hidden = true;
    b.style.display = 'none';
    b.dataset.authHidden = 'true';
    // An always-visible "Add ..." form is useless without its button: hide its inputs too.
    if (b.type === 'submit' && b.form && /^Add /.test(b.textContent.trim())) {
      b.form.hidden = true;
      b.form.style.display = 'none';
    }
  }
}

/** What the page in #main is about: [kind, ids]. */
function subjectOfPage() {
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  let m;
  if ((m = path.match(/^\/experiments\/([^/]+)$/))) return ['experiments', m[1].split(',').map(decodeURIComponent)];
  if ((m = path.match(/^\/(?:experiments\/[^/]+\/)?runs\/([^/]+)$/))) return ['runs', [decodeURIComponent(m[1])]];
  if ((m = path.match(/^\/(?:models|prompts)\/([^/]+)/))) return ['models', [decodeURIComponent(m[1])]];
  if (path === '/') return ['experiment-list', []];
  return [null, []];
}

async function applyToPage(main) {
  const [kind, ids] = subjectOfPage();
  if (kind === 'experiment-list') {
    const rows = [...main.querySelectorAll('tr')].map((tr) => {
      const link = tr.querySelector('a[href^="#/experiments/"]');
      return link ? [tr, decodeURIComponent(link.getAttribute('href').split('/')[2] || '')] : null;
    }).filter(Boolean);
    const perms = await permissions('experiments', rows.map(([, id]) => id));
    rows.forEach(([tr], i) => hideUnless(tr, 'experiments', perms[i]));
    return;
  }
  if (!kind) return;
  const perms = await permissions(kind, ids);
  const all = (cap) => perms.every((p) => p[cap]);
  hideUnless(main, kind, {can_update: all('can_update'), can_delete: all('can_delete')});
}

function showUser(user) {
  const bar = document.querySelector('.topbar');
  if (!bar || !user || bar.querySelector('.current-user')) return;
  const el = document.createElement('span');
  el.className = 'current-user';
  el.title = user.is_admin ? 'Administrator' : 'Logged in';
  el.textContent = user.username + (user.is_admin ? ' (admin)' : '');
  el.setAttribute('aria-label', 'Logged in as ' + user.username);
  el.style.marginLeft = 'auto';
  bar.appendChild(el);
}

async function start() {
  let me;
  try { me = await ask(); } catch { return; }
  if (!me || !me.auth) return; // auth is off
  showUser(me.user);
  const main = document.getElementById('main');
  if (!main) return;
  let pending = false;
  const run = () => {
    if (pending) return;
    pending = true;
    // After the page finished drawing this tick (and after every redraw), check its buttons.
    setTimeout(() => { pending = false; applyToPage(main).catch(() => {}); }, 0);
  };
  new MutationObserver(run).observe(main, {childList: true, subtree: true});
  window.addEventListener('hashchange', () => cache.clear());
  run();
}

start();
