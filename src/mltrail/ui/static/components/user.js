// Who is logged in, and hiding what they may not do (servers run with --app-name basic-auth).
//
// The browser's Basic-auth dialog is the login. This module asks the server who the user is
// (GET /ajax-api/mltrail/auth/me; with auth off it says so, and then nothing here does anything),
// shows the name in the top bar, and hides delete / rename / edit buttons on pages about an
// experiment, run or model the user may not change. The server checks every request anyway:
// hiding only spares the user a "Permission denied".

const ME = '/ajax-api/mltrail/auth/me';
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

function hide(buttons, allowed) {
  for (const b of buttons) {
    if (allowed) continue;
    b.hidden = true;
    b.style.display = 'none';
    b.dataset.authHidden = 'true';
  }
}

const byText = (root, ...labels) => [...root.querySelectorAll('button')].filter((b) => labels.includes(b.textContent.trim()));

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
    rows.forEach(([tr, ], i) => {
      hide(byText(tr, 'Rename'), perms[i].can_update);
      hide([...tr.querySelectorAll('button.danger'), ...byText(tr, 'Restore')], perms[i].can_delete);
    });
    return;
  }
  if (!kind) return;
  const perms = await permissions(kind, ids);
  const canUpdate = perms.every((p) => p.can_update);
  const canDelete = perms.every((p) => p.can_delete);
  // A run's tags and notes are updates; deleting runs, experiments and models needs DELETE.
  hide(main.querySelectorAll('button.danger'), kind === 'runs' ? canUpdate : canDelete);
  hide(byText(main, 'Restore'), canDelete);
  hide(byText(main, 'Rename', 'Edit', 'Add tag', 'Add alias', 'Set alias', 'Save'), canUpdate);
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
