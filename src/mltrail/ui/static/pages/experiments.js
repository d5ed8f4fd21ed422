// Experiments list: search, create, rename, delete, restore, and open one or several; each row shows the
// experiment's description (mlflow.note.content), its own tags and its run count (one request for all).

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {errorBox, experimentHref, fmtTime, h, replace} from '../dom.js';

const NOTE = 'mlflow.note.content';
const MAX_TAGS = 6;

/** An experiment's tags from the REST shape ([{key, value}]) as a map. */
const tagMap = (exp) => Object.fromEntries((exp.tags || []).map((t) => [t.key, t.value]));

export async function render(root, {query}) {
  const state = {
    q: query.get('q') || '',
    view: api.VIEW_TYPES.includes(query.get('view')) ? query.get('view') : 'ACTIVE_ONLY',
    selected: new Set(),
    experiments: [],
    summaries: {},  // experiment_id -> {runs, running, last_run_start}
  };
  const message = h('div');
  const search = h('input', {type: 'search', placeholder: 'Search experiments by name, description or tag', 'aria-label': 'Search experiments',
    value: state.q, oninput: () => { state.q = search.value; updateQuery({q: state.q}); draw(); }});
  const viewSelect = h('select', {'aria-label': 'Show', onchange: () => { state.view = viewSelect.value; updateQuery({view: state.view}); load(); }},
    h('option', {value: 'ACTIVE_ONLY', selected: state.view === 'ACTIVE_ONLY'}, 'Active'),
    h('option', {value: 'DELETED_ONLY', selected: state.view === 'DELETED_ONLY'}, 'Deleted'),
    h('option', {value: 'ALL', selected: state.view === 'ALL'}, 'All'));
  const newName = h('input', {type: 'text', placeholder: 'New experiment name', 'aria-label': 'New experiment name', name: 'name'});
  const createForm = h('form', {class: 'toolbar', onsubmit: async (e) => {
    e.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    try {
      await api.createExperiment(name);
      newName.value = '';
      replace(message);
      await load();
    } catch (err) { replace(message, errorBox(err)); }
  }}, h('div', {class: 'grow'}, newName), h('button', {type: 'submit', class: 'primary'}, 'Create'));
  const compareBtn = h('button', {type: 'button', disabled: true, onclick: () => {
    location.hash = experimentHref([...state.selected]);
  }}, 'Open selected');
  const tbody = h('tbody');
  const count = h('span', {class: 'muted'});
  replace(root,
    h('h1', {}, 'Experiments'),
    createForm,
    h('div', {class: 'toolbar'}, h('div', {class: 'grow'}, search), viewSelect, compareBtn, count),
    message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'experiments'},
      h('thead', {}, h('tr', {}, h('th', {}, h('span', {class: 'sr-only'}, 'Select')), h('th', {}, 'Name'), h('th', {}, 'ID'),
        h('th', {class: 'num'}, 'Runs'), h('th', {}, 'Tags'), h('th', {}, 'Created'), h('th', {}, 'Last update'),
        h('th', {}, 'Actions'))),
      tbody)));

  function updateCompare() {
    compareBtn.disabled = state.selected.size === 0;
    compareBtn.textContent = state.selected.size > 1 ? `Open ${state.selected.size} together` : 'Open selected';
  }

  function row(exp) {
    const id = exp.experiment_id;
    const deleted = exp.lifecycle_stage === 'deleted';
    const tags = tagMap(exp);
    const note = (tags[NOTE] || '').trim();
    const nameCell = h('td', {class: 'wrap name'}, h('a', {href: experimentHref([id])}, exp.name),
      deleted ? h('span', {class: 'badge'}, ' deleted') : null,
      note ? h('div', {class: 'muted exp-description', title: note}, note.length > 160 ? note.slice(0, 159) + '…' : note) : null);
    const own = Object.entries(tags).filter(([k]) => !k.startsWith('mlflow.')).sort(([a], [b]) => a.localeCompare(b));
    const tagCell = h('td', {class: 'tag-cell exp-tags'}, own.slice(0, MAX_TAGS).map(([k, v]) =>
      h('span', {class: 'badge tag', title: `${k}=${v}`}, v === '' ? k : `${k}: ${v.length > 40 ? v.slice(0, 39) + '…' : v}`)),
    own.length > MAX_TAGS ? h('span', {class: 'muted'}, ` +${own.length - MAX_TAGS}`) : null);
    const summary = state.summaries[String(id)];
    const runsCell = h('td', {class: 'num exp-runs', title: summary && summary.running ? `${summary.running} running` : null},
      String(summary ? summary.runs : 0), summary && summary.running ? h('span', {class: 'muted'}, ` (${summary.running} running)`) : null);
    const actions = h('td', {});
    const renameBtn = h('button', {type: 'button', onclick: () => startRename()}, 'Rename');
    const stageBtn = deleted
      ? h('button', {type: 'button', onclick: () => act(() => api.restoreExperiment(id))}, 'Restore')
      : h('button', {type: 'button', class: 'danger', onclick: () => {
        if (confirm(`Delete experiment "${exp.name}" and its runs?`)) act(() => api.deleteExperiment(id));
      }}, 'Delete');
    replace(actions, deleted ? null : renameBtn, ' ', stageBtn);
    function startRename() {
      const input = h('input', {type: 'text', value: exp.name, 'aria-label': 'New name'});
      const form = h('form', {class: 'toolbar', onsubmit: (e) => {
        e.preventDefault();
        act(() => api.renameExperiment(id, input.value.trim()));
      }}, input, h('button', {type: 'submit', class: 'primary'}, 'Save'),
      h('button', {type: 'button', onclick: () => draw()}, 'Cancel'));
      replace(nameCell, form);
      input.focus();
      input.select();
    }
    const box = h('input', {type: 'checkbox', 'aria-label': 'Select ' + exp.name, checked: state.selected.has(id),
      onchange: () => { if (box.checked) state.selected.add(id); else state.selected.delete(id); updateCompare(); }});
    return h('tr', {dataset: {id}}, h('td', {}, box), nameCell, h('td', {}, id), runsCell, tagCell, h('td', {}, fmtTime(exp.creation_time)),
      h('td', {}, fmtTime(exp.last_update_time)), actions);
  }

  async function act(fn) {
    try {
      await fn();
      replace(message);
      await load();
    } catch (err) { replace(message, errorBox(err)); }
  }

  function draw() {
    const needle = state.q.trim().toLowerCase();
    // Names, descriptions and tag values: what people remember an experiment by.
    const text = (e) => [e.name, ...(e.tags || []).filter((t) => t.key === NOTE || !t.key.startsWith('mlflow.'))
      .map((t) => `${t.key} ${t.value}`)].join('\n').toLowerCase();
    const shown = state.experiments.filter((e) => !needle || text(e).includes(needle));
    replace(tbody, shown.map(row));
    if (!shown.length) replace(tbody, h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No experiments.')));
    count.textContent = `${shown.length} of ${state.experiments.length}`;
    updateCompare();
  }

  async function load() {
    try {
      // Counts are extra: the list still shows when the server does not offer them.
      const [experiments, summaries] = await Promise.all([api.searchAllExperiments(state.view),
        api.experimentSummaries().catch(() => ({}))]);
      state.experiments = experiments;
      state.summaries = summaries;
      draw();
    } catch (err) { replace(message, errorBox(err)); }
  }
  await load();
  search.focus();
}
