// Model registry (read-only): registered models, then one model's versions with their stages,
// aliases and links back to the runs that produced them.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, fmtTime, h, replace, routeHref, runHref} from '../dom.js';

const modelHref = (name) => routeHref('/models/' + encodeURIComponent(name));

function aliasBadges(aliases, version) {
  return (aliases || []).filter((a) => version === undefined || String(a.version) === String(version))
    .map((a) => h('span', {class: 'badge alias'}, '@' + a.alias + (version === undefined ? ` → v${a.version}` : '')));
}

async function renderList(root, query) {
  const search = h('input', {type: 'search', value: query.get('q') || '', 'aria-label': 'Search models', placeholder: 'Search models by name'});
  const tbody = h('tbody');
  const message = h('div');
  replace(root, h('h1', {}, 'Models'), h('div', {class: 'toolbar'}, h('div', {class: 'grow'}, search)), message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'models'},
      h('thead', {}, h('tr', {}, ['Name', 'Latest version', 'Aliases', 'Last updated', 'Description'].map((t) => h('th', {scope: 'col'}, t)))),
      tbody)));
  let models = [];
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = models.filter((m) => !needle || m.name.toLowerCase().includes(needle));
    replace(tbody, shown.length ? shown.map((m) => {
      const latest = (m.latest_versions || []).reduce((best, v) => (Number(v.version) > Number(best) ? v.version : best), 0);
      return h('tr', {dataset: {model: m.name}}, h('td', {class: 'wrap'}, h('a', {href: modelHref(m.name)}, m.name)),
        h('td', {}, latest ? 'v' + latest : ''), h('td', {}, aliasBadges(m.aliases)),
        h('td', {}, fmtTime(m.last_updated_timestamp)), h('td', {class: 'wrap'}, m.description || ''));
    }) : h('tr', {}, h('td', {colspan: 5, class: 'muted'}, 'No registered models.')));
  };
  search.addEventListener('input', () => { updateQuery({q: search.value}); draw(); });
  try { models = await api.searchAllRegisteredModels(); } catch (err) { replace(message, errorBox(err)); }
  draw();
}

async function renderModel(root, name, highlight) {
  const [model, versions] = await Promise.all([api.getRegisteredModel(name), api.modelVersions(name)]);
  document.title = name + ' · mltrail';
  const tags = (model.tags || []).map((t) => h('span', {class: 'badge'}, `${t.key}: ${t.value}`));
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/models'}, 'Models'), ' › ', name),
    h('h1', {}, name),
    model.description ? h('p', {class: 'note'}, model.description) : null,
    h('div', {class: 'toolbar'}, aliasBadges(model.aliases), tags),
    h('h2', {}, `Versions (${versions.length})`),
    h('div', {class: 'table-wrap'}, h('table', {class: 'versions'},
      h('thead', {}, h('tr', {}, ['Version', 'Aliases', 'Stage', 'Status', 'Created', 'Source run', 'Description']
        .map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, versions.map((v) => h('tr', {dataset: {version: String(v.version)}, class: String(v.version) === highlight ? 'selected' : null},
        h('td', {}, 'v' + v.version), h('td', {}, aliasBadges(model.aliases, v.version)),
        h('td', {}, v.current_stage || ''), h('td', {}, v.status || ''), h('td', {}, fmtTime(v.creation_timestamp)),
        h('td', {}, v.run_id ? h('a', {href: runHref(v.run_id), title: v.source || ''}, v.run_id.slice(0, 8)) : h('span', {class: 'muted', title: v.source || ''}, v.source || '')),
        h('td', {class: 'wrap'}, v.description || '')))))));
}

export async function render(root, {modelName, version, query}) {
  try {
    if (modelName) await renderModel(root, modelName, version);
    else await renderList(root, query);
  } catch (err) {
    replace(root, errorBox(err));
  }
}
