// Model registry: the registered models (who is in Production / Staging), and one model's page where
// its description, tags, aliases, name and versions' stages are edited. A version's own page lives in
// model_version.js; the editing widgets in registry_edit.js.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, fmtTime, h, replace, routeHref, runHref} from '../dom.js';
import {act, aliasField, checkedField, descriptionEditor, keepFocus, modelNameProblem, stageControl, tagEditor,
  versionSelect} from './registry_edit.js';

export const modelHref = (name) => routeHref('/models/' + encodeURIComponent(name));
export const versionHref = (name, version) =>
  routeHref('/models/' + encodeURIComponent(name) + '/versions/' + encodeURIComponent(version));

export function aliasBadges(aliases, version) {
  return (aliases || []).filter((a) => version === undefined || String(a.version) === String(version))
    .map((a) => h('span', {class: 'badge alias'}, '@' + a.alias + (version === undefined ? ` → v${a.version}` : '')));
}

/** The newest version in `stage` among a model's latest_versions (one per stage), or null. */
function latestIn(model, stage) {
  return (model.latest_versions || []).filter((v) => v.current_stage === stage)
    .reduce((best, v) => (!best || Number(v.version) > Number(best.version) ? v : best), null);
}

const SORTS = {
  updated: (a, b) => Number(b.last_updated_timestamp || 0) - Number(a.last_updated_timestamp || 0),
  name: (a, b) => a.name.localeCompare(b.name),
};

async function renderList(root, query) {
  const search = h('input', {type: 'search', value: query.get('q') || '', 'aria-label': 'Search models', placeholder: 'Search models by name'});
  let sort = SORTS[query.get('sort')] ? query.get('sort') : 'updated';
  const thead = h('thead');
  const tbody = h('tbody');
  const message = h('div');
  replace(root, h('h1', {}, 'Models'), h('div', {class: 'toolbar'}, h('div', {class: 'grow'}, search)), message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'models'}, thead, tbody)));
  let models = [];
  const sortHeader = (label, key) => h('th', {scope: 'col', 'aria-sort': sort === key ? (key === 'name' ? 'ascending' : 'descending') : null},
    h('button', {type: 'button', class: 'sort', onclick: () => { sort = key; updateQuery({sort: key === 'updated' ? '' : key}); draw(); }},
      label + (sort === key ? (key === 'name' ? ' ▲' : ' ▼') : '')));
  const stageCell = (m, stage) => {
    const v = latestIn(m, stage);
    return h('td', {class: 'stage-' + stage.toLowerCase()}, v ? h('a', {href: versionHref(m.name, v.version),
      class: 'badge stage stage-' + stage.toLowerCase(), 'aria-label': `${m.name} version ${v.version} in ${stage}`}, 'v' + v.version) : '');
  };
  const draw = () => {
    replace(thead, h('tr', {}, sortHeader('Name', 'name'), h('th', {scope: 'col'}, 'Latest version'),
      h('th', {scope: 'col'}, 'Production'), h('th', {scope: 'col'}, 'Staging'), h('th', {scope: 'col'}, 'Aliases'),
      sortHeader('Last updated', 'updated'), h('th', {scope: 'col'}, 'Description')));
    const needle = search.value.trim().toLowerCase();
    const shown = models.filter((m) => !needle || m.name.toLowerCase().includes(needle)).sort(SORTS[sort]);
    replace(tbody, shown.length ? shown.map((m) => {
      const latest = (m.latest_versions || []).reduce((best, v) => (Number(v.version) > Number(best) ? v.version : best), 0);
      return h('tr', {dataset: {model: m.name}}, h('td', {class: 'wrap'}, h('a', {href: modelHref(m.name)}, m.name)),
        h('td', {}, latest ? 'v' + latest : ''), stageCell(m, 'Production'), stageCell(m, 'Staging'),
        h('td', {}, aliasBadges(m.aliases)), h('td', {}, fmtTime(m.last_updated_timestamp)),
        h('td', {class: 'wrap'}, m.description || ''));
    }) : h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No registered models.')));
  };
  search.addEventListener('input', () => { updateQuery({q: search.value}); draw(); });
  try { models = await api.searchAllRegisteredModels(); } catch (err) { replace(message, errorBox(err)); }
  draw();
}

async function renderModel(root, name) {
  let model;
  let versions;
  const load = async () => {
    [model, versions] = await Promise.all([api.getRegisteredModel(name), api.modelVersions(name)]);
  };
  await load();
  document.title = name + ' · mltrail';

  const title = h('h1', {});
  const headerMsg = h('div');
  const headerForm = h('div');
  const descBox = h('div');
  const descMsg = h('div');
  const aliasBox = h('div');
  const aliasMsg = h('div');
  const tagBox = h('div');
  const tagMsg = h('div');
  const versionsTitle = h('h2', {id: 'versions-title'});
  const versionMsg = h('div');
  const versionBody = h('tbody');
  const tools = h('div', {class: 'toolbar'},
    h('button', {type: 'button', onclick: startRename}, 'Rename'),
    h('button', {type: 'button', class: 'danger', onclick: startDelete}, 'Delete model'));

  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/models'}, 'Models'), ' › ', name),
    h('div', {class: 'toolbar model-head'}, title, h('span', {class: 'grow'}), tools), headerForm, headerMsg,
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', 'aria-labelledby': 'desc-title'}, h('h2', {id: 'desc-title'}, 'Description'), descMsg, descBox),
      h('section', {class: 'panel', 'aria-labelledby': 'alias-title'}, h('h2', {id: 'alias-title'}, 'Aliases'), aliasMsg, aliasBox)),
    h('section', {'aria-labelledby': 'tags-title'}, h('h2', {id: 'tags-title'}, 'Tags'), tagMsg, tagBox),
    h('section', {'aria-labelledby': 'versions-title'}, versionsTitle, versionMsg,
      h('div', {class: 'table-wrap'}, h('table', {class: 'versions'},
        h('thead', {}, h('tr', {}, ['Version', 'Aliases', 'Stage', 'Status', 'Created', 'Last updated', 'Source run', 'Description']
          .map((t) => h('th', {scope: 'col'}, t)))),
        versionBody))));

  const reload = async (ok) => { await load(); keepFocus(root, drawAll, ok); };

  function startRename() {
    const {input, hint, check} = checkedField('rename', modelNameProblem, {value: name, 'aria-label': 'New model name'});
    replace(headerMsg);
    replace(headerForm, h('form', {class: 'toolbar panel rename-form', onsubmit: async (e) => {
      e.preventDefault();
      const next = check();
      if (next === null || next === name) { input.focus(); return; }
      try {
        await api.renameRegisteredModel(name, next);
        location.hash = modelHref(next);  // the URL follows the new name
      } catch (err) {
        replace(headerMsg, errorBox(err));
        input.focus();
      }
    }, onkeydown: (e) => { if (e.key === 'Escape') replace(headerForm); }},
    h('label', {class: 'grow'}, 'New name ', input), h('button', {type: 'submit', class: 'primary'}, 'Save name'),
    h('button', {type: 'button', onclick: () => replace(headerForm)}, 'Cancel'), hint));
    input.select();
  }

  function startDelete() {
    replace(headerMsg);
    const cancel = h('button', {type: 'button', onclick: () => replace(headerForm)}, 'Cancel');
    replace(headerForm, h('div', {class: 'panel confirm', role: 'alertdialog', 'aria-labelledby': 'delete-q'},
      h('p', {id: 'delete-q'}, `Delete the model "${name}" and all its ${versions.length} version(s)? This cannot be undone.`),
      h('div', {class: 'toolbar'}, h('button', {type: 'button', class: 'danger', onclick: async () => {
        try {
          await api.deleteRegisteredModel(name);
          location.hash = '#/models';
        } catch (err) { replace(headerMsg, errorBox(err)); await reload().catch(() => {}); }
      }}, 'Yes, delete model'), cancel)));
    cancel.focus();
  }

  function drawAliases() {
    const aliases = [...(model.aliases || [])].sort((a, b) => a.alias.localeCompare(b.alias));
    const rows = aliases.map((a) => {
      const move = versionSelect(versions, a.version, `Version of alias ${a.alias}`, 'alias-' + a.alias);
      move.addEventListener('change', () => act(aliasMsg, () => api.setModelAlias(name, a.alias, move.value), reload));
      return h('tr', {dataset: {alias: a.alias}}, h('th', {scope: 'row'}, h('span', {class: 'badge alias'}, '@' + a.alias)),
        h('td', {}, move),
        h('td', {}, h('button', {type: 'button', class: 'danger', 'aria-label': `Remove alias ${a.alias}`, 'data-focus': 'alias-new',
          onclick: () => act(aliasMsg, () => api.deleteModelAlias(name, a.alias), reload)}, 'Remove')));
    });
    const field = aliasField('alias-new');
    const target = versionSelect(versions, versions.length ? versions[0].version : '', 'Version for the new alias', 'alias-target', 'alias-target');
    replace(aliasBox,
      rows.length ? h('table', {class: 'aliases'}, h('tbody', {}, rows)) : h('p', {class: 'muted'}, 'No aliases.'),
      versions.length ? h('form', {class: 'alias-form', onsubmit: (e) => {
        e.preventDefault();
        const alias = field.check();
        if (alias === null) { field.input.focus(); return; }
        act(aliasMsg, () => api.setModelAlias(name, alias, target.value), reload);
      }}, h('label', {for: 'alias-new'}, 'New alias'), h('div', {class: 'toolbar'}, field.input, target,
        h('button', {type: 'submit', 'data-focus': 'alias-new'}, 'Add alias')), field.hint) : null);
  }

  function drawVersions() {
    versionsTitle.textContent = `Versions (${versions.length})`;
    replace(versionBody, versions.length ? versions.map((v) => h('tr', {dataset: {version: String(v.version), stage: v.current_stage || 'None'}},
    h('td', {}, h('a', {href: versionHref(name, v.version), class: 'version-link', 'aria-label': `Open version ${v.version}`}, 'v' + v.version)),
    h('td', {}, aliasBadges(model.aliases, v.version)),
    h('td', {class: 'stage-cell'}, stageControl({version: v.version, current: v.current_stage, others: versions,
      onApply: (stage, archive) => act(versionMsg, () => api.transitionModelVersionStage(name, v.version, stage, archive), reload)})),
    h('td', {}, v.status || ''), h('td', {}, fmtTime(v.creation_timestamp)), h('td', {}, fmtTime(v.last_updated_timestamp)),
    h('td', {}, v.run_id ? h('a', {href: runHref(v.run_id), class: 'run-link', title: v.source || ''}, v.run_id.slice(0, 8))
      : h('span', {class: 'muted', title: v.source || ''}, v.source || '')),
    h('td', {class: 'wrap'}, v.description || '')))
      : h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No versions yet.')));
  }

  function drawAll(drafts = new Map()) {
    title.textContent = name;
    replace(descBox, descriptionEditor({text: model.description || '', label: 'Model description', draft: drafts.get('description'),
      onSave: (text) => act(descMsg, () => api.updateRegisteredModel(name, text), reload)}));
    replace(tagBox, tagEditor({tags: model.tags, noun: 'tag', drafts,
      onSet: (key, value) => act(tagMsg, () => api.setRegisteredModelTag(name, key, value), reload),
      onDelete: (key) => act(tagMsg, () => api.deleteRegisteredModelTag(name, key), reload)}));
    drawAliases();
    drawVersions();
  }
  drawAll();
}

export async function render(root, {modelName, version, query}) {
  try {
    if (modelName && version) {
      await (await import('./model_version.js')).renderVersion(root, modelName, version);
    } else if (modelName) await renderModel(root, modelName);
    else await renderList(root, query);
  } catch (err) {
    replace(root, errorBox(err));
  }
}
