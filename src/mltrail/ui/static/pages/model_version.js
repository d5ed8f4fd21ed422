// One model version: stage, source and lineage back to the run and code that made it, the signature
// from its MLmodel file, and its editable description, tags and aliases.

import * as api from '../api.js';
import {errorBox, fmtTime, h, replace, runHref, runMaps, runName} from '../dom.js';
import {aliasBadges, modelHref} from './models.js';
import {act, aliasField, descriptionEditor, keepFocus, stageBadge, stageControl, tagEditor} from './registry_edit.js';

/**
 * The `signature:` block of an MLmodel file: {inputs, outputs, params} as parsed JSON (or null each).
 * MLflow writes each part as a YAML single-quoted JSON string, folded over lines when long; this reads
 * exactly that shape (a full YAML parser is not worth shipping for it).
 */
export function parseSignature(text) {
  const lines = String(text || '').split(/\r?\n/);
  const start = lines.findIndex((l) => /^signature:\s*$/.test(l));
  if (start < 0) return null;
  const block = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() && !/^\s/.test(line)) break;
    block.push(line);
  }
  const out = {inputs: null, outputs: null, params: null};
  let i = 0;
  while (i < block.length) {
    const m = block[i].match(/^(\s+)(inputs|outputs|params):\s?(.*)$/);
    i++;
    if (!m) continue;
    const parts = [m[3]];
    while (i < block.length && (block[i].trim() === '' || block[i].match(/^\s*/)[0].length > m[1].length)) parts.push(block[i++].trim());
    out[m[2]] = parseScalar(parts);
  }
  return out;
}

function parseScalar(parts) {
  // YAML line folding: a line break becomes a space, an empty line a newline.
  let raw = '';
  parts.forEach((p, k) => {
    if (k === 0) raw = p;
    else if (p === '') raw += '\n';
    else raw += (raw.endsWith('\n') ? '' : ' ') + p;
  });
  raw = raw.trim();
  if (raw === '' || raw === 'null' || raw === '~') return null;
  let json = raw;
  if (raw.startsWith("'") && raw.endsWith("'")) json = raw.slice(1, -1).replace(/''/g, "'");
  else if (raw.startsWith('"') && raw.endsWith('"')) json = JSON.parse(raw);
  try { return JSON.parse(json); } catch { return json; }
}

/** The flavor names of an MLmodel file (the keys under `flavors:`). */
export function parseFlavors(text) {
  const lines = String(text || '').split(/\r?\n/);
  const start = lines.findIndex((l) => /^flavors:\s*$/.test(l));
  if (start < 0) return [];
  const out = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() && !/^\s/.test(line)) break;
    const m = line.match(/^ {2}([^\s:][^:]*):/);
    if (m) out.push(m[1]);
  }
  return out;
}

function specType(spec) {
  if (spec.type === 'tensor' && spec['tensor-spec']) {
    const t = spec['tensor-spec'];
    return `tensor ${t.dtype} (${(t.shape || []).join(', ')})`;
  }
  if (spec.type === 'array' || spec.type === 'object' || spec.type === 'map') {
    const {name: _n, required: _r, ...rest} = spec;
    return JSON.stringify(rest);
  }
  return spec.type + (spec.shape ? ` (${spec.shape.join(', ')})` : '');
}

function specTable(caption, specs, withDefault) {
  if (!Array.isArray(specs) || !specs.length) return null;
  return h('div', {class: 'table-wrap'}, h('table', {class: 'signature signature-' + caption.toLowerCase()},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ['Name', 'Type', withDefault ? 'Default' : 'Required'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', {}, specs.map((s) => h('tr', {dataset: {name: s.name || ''}},
      h('td', {class: 'wrap'}, s.name || h('span', {class: 'muted'}, '(unnamed)')), h('td', {class: 'wrap'}, specType(s)),
      h('td', {}, withDefault ? JSON.stringify(s.default ?? null) : (s.required === false ? 'optional' : 'required')))))));
}

async function drawSignature(box, name, version) {
  let text;
  try {
    text = await api.modelVersionArtifactText(name, version, 'MLmodel');
  } catch (err) {
    replace(box, h('p', {class: 'muted'}, 'No MLmodel file for this version: ' + err.message));
    return [];
  }
  const sig = text === null ? null : parseSignature(text);
  if (!sig || (!sig.inputs && !sig.outputs)) replace(box, h('p', {class: 'muted'}, 'This model has no signature.'));
  else replace(box, specTable('Inputs', sig.inputs), specTable('Outputs', sig.outputs), specTable('Params', sig.params, true));
  return parseFlavors(text);
}

/** "made by <script> at <commit>" from the run's mlflow.source.* tags. */
function lineage(tags) {
  const script = tags['mlflow.source.name'];
  const commit = tags['mlflow.source.git.commit'];
  const type = tags['mlflow.source.type'];
  const repo = tags['mlflow.source.git.repoURL'] || tags['mlflow.gitRepoURL'];
  if (!script && !commit) return null;
  return h('span', {class: 'lineage'}, 'made by ', script ? h('code', {class: 'source-name'}, script) : 'unknown code',
    commit ? [' at ', h('code', {class: 'source-commit', title: commit}, commit.slice(0, 12))] : null,
    type ? [' ', h('span', {class: 'badge source-type'}, type)] : null,
    repo ? [' in ', h('code', {class: 'source-repo'}, repo)] : null);
}

export async function renderVersion(root, name, version) {
  let mv;
  let model;
  let versions;
  const load = async () => {
    [mv, model, versions] = await Promise.all([api.getModelVersion(name, version), api.getRegisteredModel(name),
      api.modelVersions(name)]);
  };
  await load();
  document.title = `${name} v${version} · mltrail`;
  // MLflow 3 registers `models:/m-…` sources without a run_id: the logged model knows the run that made it.
  const logged = !mv.run_id && mv.model_id ? await api.getLoggedModel(mv.model_id).catch(() => null) : null;
  const runId = mv.run_id || (logged && logged.info && logged.info.source_run_id) || '';
  const run = runId ? await api.getRun(runId).catch(() => null) : null;

  const head = h('div', {class: 'version-title'});
  const headForm = h('div');
  const headMsg = h('div');
  const overview = h('dl', {class: 'kv version-overview'});
  const stageMsg = h('div');
  const descBox = h('div');
  const descMsg = h('div');
  const aliasBox = h('div');
  const aliasMsg = h('div');
  const tagBox = h('div');
  const tagMsg = h('div');
  const sigBox = h('div', {class: 'signature-box'}, h('p', {class: 'muted'}, 'Loading…'));
  const flavors = h('span');
  const usage = h('pre', {class: 'usage'});
  replace(root,
    h('div', {class: 'crumbs'}, h('a', {href: '#/models'}, 'Models'), ' › ', h('a', {href: modelHref(name)}, name), ' › ', 'Version ' + version),
    h('div', {class: 'toolbar model-head'}, head, h('span', {class: 'grow'}),
      h('button', {type: 'button', class: 'danger', onclick: startDelete}, 'Delete version')),
    headForm, headMsg,
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', 'aria-label': 'Overview'}, stageMsg, overview),
      h('section', {class: 'panel', 'aria-labelledby': 'desc-title'}, h('h2', {id: 'desc-title'}, 'Description'), descMsg, descBox)),
    h('div', {class: 'grid2'},
      h('section', {'aria-labelledby': 'alias-title'}, h('h2', {id: 'alias-title'}, 'Aliases'), aliasMsg, aliasBox),
      h('section', {'aria-labelledby': 'tags-title'}, h('h2', {id: 'tags-title'}, 'Tags'), tagMsg, tagBox)),
    h('section', {'aria-labelledby': 'sig-title'}, h('h2', {id: 'sig-title'}, 'Signature'), sigBox),
    h('section', {'aria-labelledby': 'use-title'}, h('h2', {id: 'use-title'}, 'Use this model'), usage));

  const reload = async (ok) => { await load(); keepFocus(root, drawAll, ok); };
  const tags = run ? runMaps(run).tags : {};

  function startDelete() {
    replace(headMsg);
    const cancel = h('button', {type: 'button', onclick: () => replace(headForm)}, 'Cancel');
    const held = (model.aliases || []).filter((a) => String(a.version) === String(version)).map((a) => '@' + a.alias);
    replace(headForm, h('div', {class: 'panel confirm', role: 'alertdialog', 'aria-labelledby': 'delete-q'},
      h('p', {id: 'delete-q'}, `Delete version ${version} of "${name}"?` + (held.length ? ` Its aliases (${held.join(', ')}) go with it.` : '')
        + ' This cannot be undone.'),
      h('div', {class: 'toolbar'}, h('button', {type: 'button', class: 'danger', onclick: async () => {
        try {
          await api.deleteModelVersion(name, version);
          location.hash = modelHref(name);
        } catch (err) { replace(headMsg, errorBox(err)); }
      }}, 'Yes, delete version'), cancel)));
    cancel.focus();
  }

  function drawOverview() {
    const item = (label, value, cls) => [h('dt', {}, label),
      h('dd', {class: cls}, value === '' || value == null ? h('span', {class: 'muted'}, '—') : value)];
    replace(overview,
      item('Stage', stageControl({version, current: mv.current_stage, others: versions,
        onApply: (stage, archive) => act(stageMsg, () => api.transitionModelVersionStage(name, version, stage, archive), reload)})),
      item('Status', (mv.status || '') + (mv.status_message ? ' — ' + mv.status_message : '')),
      item('Created', fmtTime(mv.creation_timestamp)),
      item('Last updated', fmtTime(mv.last_updated_timestamp)),
      // MLflow's CreateModelVersion carries no user: without one, the source run's user made the model.
      item('Registered by', mv.user_id || tags['mlflow.user'] || run?.info?.user_id || '', 'version-user'),
      item('Source', mv.source ? h('code', {}, mv.source) : '', 'version-source'),
      item('Run', runId ? h('a', {href: runHref(runId), class: 'run-link'}, run ? runName(run) : runId) : '', 'version-run'),
      mv.model_id ? item('Logged model', h('code', {}, (logged && logged.info && logged.info.name ? logged.info.name + ' · ' : '') + mv.model_id),
        'version-logged-model') : null,
      item('Lineage', lineage(tags), 'version-lineage'),
      item('Flavors', flavors));
  }

  function drawAliases() {
    const mine = (model.aliases || []).filter((a) => String(a.version) === String(version));
    const field = aliasField('alias-new');
    replace(aliasBox,
      mine.length ? h('ul', {class: 'alias-list'}, mine.map((a) => h('li', {dataset: {alias: a.alias}},
        h('span', {class: 'badge alias'}, '@' + a.alias), ' ',
        h('button', {type: 'button', class: 'danger', 'aria-label': `Remove alias ${a.alias}`, 'data-focus': 'alias-new',
          onclick: () => act(aliasMsg, () => api.deleteModelAlias(name, a.alias), reload)}, 'Remove'))))
        : h('p', {class: 'muted'}, 'No aliases on this version.'),
      h('form', {class: 'alias-form', onsubmit: (e) => {
        e.preventDefault();
        const alias = field.check();
        if (alias === null) { field.input.focus(); return; }
        act(aliasMsg, () => api.setModelAlias(name, alias, version), reload);
      }}, h('label', {for: 'alias-new'}, 'New alias'), h('div', {class: 'toolbar'}, field.input,
        h('button', {type: 'submit', 'data-focus': 'alias-new'}, 'Add alias')), field.hint,
      h('p', {class: 'hint'}, 'An alias held by another version moves to this one.')));
  }

  // A code snippet as text: the model URI by alias when the version has one (what serving code should pin).
  function drawUsage() {
    const alias = (model.aliases || []).find((a) => String(a.version) === String(version));
    const uri = `models:/${name}` + (alias ? '@' + alias.alias : '/' + version);
    usage.textContent = 'import mltrail as mlflow  # or: import mlflow\n\n'
      + `model = mlflow.pyfunc.load_model(${JSON.stringify(uri)})\npredictions = model.predict(data)\n`;
  }

  function drawAll(drafts = new Map()) {
    drawUsage();
    replace(head, h('h1', {}, `${name} · v${version}`), stageBadge(mv.current_stage), aliasBadges(model.aliases, version));
    drawOverview();
    replace(descBox, descriptionEditor({text: mv.description || '', label: 'Version description', draft: drafts.get('description'),
      onSave: (text) => act(descMsg, () => api.updateModelVersion(name, version, text), reload)}));
    drawAliases();
    replace(tagBox, tagEditor({tags: mv.tags, noun: 'tag', drafts,
      onSet: (key, value) => act(tagMsg, () => api.setModelVersionTag(name, version, key, value), reload),
      onDelete: (key) => act(tagMsg, () => api.deleteModelVersionTag(name, version, key), reload)}));
  }
  drawAll();
  drawSignature(sigBox, name, version).then((names) => { flavors.textContent = names.join(', '); })
    .catch((err) => replace(sigBox, errorBox(err)));
}
