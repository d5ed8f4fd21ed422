// Runs table for one or several experiments: columns, sort, filter, paging, nesting, selection, CSV;
// and a Charts tab: one chart per metric with every selected (or else every listed) run side by side.

import * as api from '../api.js';
import {updateQuery} from '../app.js';
import {color} from '../components/chart.js';
import {columnChooser, defaultColumns, storeColumns, storedColumns} from '../components/columns.js';
import {metricPanel} from '../components/metricpanel.js';
import {debounce, errorBox, fmtDuration, fmtNumber, fmtTime, h, replace, routeHref, runHref, runMaps, runName,
  statusBadge} from '../dom.js';
import {evalCompareButton} from './eval_compare.js';

const BASE = [
  {id: 'name', label: 'Run name', order: 'attributes.run_name'},
  {id: 'created', label: 'Created', order: 'attributes.start_time'},
  {id: 'duration', label: 'Duration'},
  {id: 'status', label: 'Status', order: 'attributes.status'},
  {id: 'user', label: 'User', order: 'attributes.user_id'},
];
const PAGE_SIZES = [50, 100, 250, 500];
const LEGEND_OPEN_RUNS = 20;
const PARENT_TAG = 'mlflow.parentRunId';

function orderKey(column) {
  const base = BASE.find((b) => b.id === column);
  if (base) return base.order || null;
  const dot = column.indexOf('.');
  return `${column.slice(0, dot)}.\`${column.slice(dot + 1)}\``;
}

function parseSort(raw) {
  if (!raw) return {column: 'created', desc: true};
  const i = raw.lastIndexOf(':');
  return i > 0 ? {column: raw.slice(0, i), desc: raw.slice(i + 1) !== 'asc'} : {column: raw, desc: true};
}

/** Put each child run right under its parent when both are on the page. */
export function nestRuns(runs) {
  const byId = new Map(runs.map((r) => [r.info.run_id, r]));
  const children = new Map();
  const top = [];
  for (const run of runs) {
    const parent = runMaps(run).tags[PARENT_TAG];
    if (parent && byId.has(parent) && parent !== run.info.run_id) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(run);
    } else top.push(run);
  }
  const out = [];
  const seen = new Set();
  const walk = (run, depth) => {
    if (seen.has(run.info.run_id)) return;
    seen.add(run.info.run_id);
    out.push({run, depth, childCount: (children.get(run.info.run_id) || []).length});
    for (const child of children.get(run.info.run_id) || []) walk(child, depth + 1);
  };
  top.forEach((r) => walk(r, 0));
  runs.forEach((r) => walk(r, 0));  // cycles in bad data still show every run once
  return out;
}

export async function render(root, {experimentIds, query}) {
  const state = {
    filter: query.get('filter') || '',
    view: api.VIEW_TYPES.includes(query.get('view')) ? query.get('view') : 'ACTIVE_ONLY',
    sort: parseSort(query.get('sort')),
    pageSize: PAGE_SIZES.includes(Number(query.get('ps'))) ? Number(query.get('ps')) : 100,
    selected: new Set((query.get('sel') || '').split(',').filter(Boolean)),
    columns: null,
    keys: {params: [], metrics: [], tags: []},
    tokens: [null],  // page tokens: tokens[i] opens page i
    page: 0,
    runs: [],
    collapsed: new Set(),
    tab: query.get('tab') === 'charts' ? 'charts' : 'table',
    chartFilter: query.get('mf') || '',
  };
  const title = h('h1', {}, 'Runs');
  const crumbs = h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' · ',
    h('a', {href: routeHref(`/experiments/${experimentIds.map(encodeURIComponent).join(',')}/traces`)}, 'Traces'), ' · ',
    h('a', {href: routeHref(`/experiments/${experimentIds.map(encodeURIComponent).join(',')}/datasets`)}, 'Datasets'),
    experimentIds.length === 1 ? [' · ', h('a', {href: routeHref(`/experiments/${encodeURIComponent(experimentIds[0])}/review`)}, 'Review')] : null);
  const filterInput = h('input', {type: 'search', value: state.filter, name: 'filter', 'aria-label': 'Filter runs',
    placeholder: "Filter, e.g. metrics.loss < 0.5 AND params.model = 'gpt-4o' OR tags.team = 'nlp'"});
  const filterError = h('div', {class: 'filter-error'});
  const viewSelect = h('select', {'aria-label': 'Show runs', onchange: () => { state.view = viewSelect.value; reload(); }},
    ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'].map((v) => h('option', {value: v, selected: state.view === v},
      {ACTIVE_ONLY: 'Active', DELETED_ONLY: 'Deleted', ALL: 'All'}[v])));
  const columnsBtn = h('button', {type: 'button', 'aria-expanded': 'false', onclick: () => toggleColumns()}, 'Columns');
  const compareBtn = h('button', {type: 'button', class: 'primary', onclick: () => {
    location.hash = routeHref('/compare', {runs: [...state.selected].join(',')});
  }}, 'Compare');
  const evalCompare = evalCompareButton();  // two evaluation runs selected: compare them row by row
  const deleteBtn = h('button', {type: 'button', class: 'danger', onclick: () => bulk(api.deleteRun, 'Delete')}, 'Delete');
  const restoreBtn = h('button', {type: 'button', onclick: () => bulk(api.restoreRun, 'Restore')}, 'Restore');
  const csvLink = h('a', {class: 'button', download: 'runs.csv'}, 'Download CSV');
  const columnsHolder = h('div');
  const message = h('div');
  const thead = h('thead');
  const tbody = h('tbody');
  const prevBtn = h('button', {type: 'button', onclick: () => { state.page--; load(); }}, '‹ Previous');
  const nextBtn = h('button', {type: 'button', onclick: () => { state.page++; load(); }}, 'Next ›');
  const pageInfo = h('span', {class: 'muted'});
  const sizeSelect = h('select', {'aria-label': 'Runs per page', onchange: () => { state.pageSize = Number(sizeSelect.value); reload(); }},
    PAGE_SIZES.map((n) => h('option', {value: n, selected: n === state.pageSize}, `${n} per page`)));

  const tabButton = (id, label) => h('button', {type: 'button', role: 'tab', id: 'tab-' + id, class: 'tab',
    'aria-selected': String(state.tab === id), 'aria-controls': 'view-' + id, onclick: () => showTab(id)}, label);
  const tabs = h('div', {class: 'tabs', role: 'tablist', 'aria-label': 'View'}, tabButton('table', 'Table'), tabButton('charts', 'Charts'));
  const tableView = h('div', {id: 'view-table', role: 'tabpanel', 'aria-labelledby': 'tab-table', hidden: state.tab !== 'table'},
    h('div', {class: 'table-wrap'}, h('table', {class: 'runs'}, thead, tbody)));
  const chartsInfo = h('span', {class: 'muted charts-info'});
  const chartFilterInput = h('input', {type: 'search', value: state.chartFilter, 'aria-label': 'Filter metrics',
    placeholder: 'Filter metrics by name', oninput: debounce(() => {
      state.chartFilter = chartFilterInput.value.trim();
      updateQuery({mf: state.chartFilter});
      if (charts) charts.panel.setKeys(charts.keys.filter(keyShown));
    }, 200)});
  const chartsBody = h('div');
  const chartsView = h('div', {id: 'view-charts', role: 'tabpanel', 'aria-labelledby': 'tab-charts', hidden: state.tab !== 'charts'},
    h('div', {class: 'toolbar'}, h('div', {class: 'grow'}, chartFilterInput), chartsInfo), chartsBody);
  let charts = null;  // {panel, keys, runIds} of the charts view on screen

  replace(root, crumbs, title, tabs,
    h('form', {class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); state.filter = filterInput.value.trim(); reload(); }},
      h('div', {class: 'grow'}, filterInput), h('button', {type: 'submit'}, 'Search'), viewSelect, columnsBtn),
    filterError, columnsHolder,
    h('div', {class: 'toolbar'}, compareBtn, evalCompare.element, deleteBtn, restoreBtn, csvLink, h('span', {class: 'selcount muted'})),
    message,
    tableView, chartsView,
    h('div', {class: 'pager'}, prevBtn, nextBtn, pageInfo, sizeSelect));

  function showTab(id) {
    state.tab = id;
    updateQuery({tab: id === 'charts' ? 'charts' : ''});
    for (const btn of tabs.querySelectorAll('[role=tab]')) btn.setAttribute('aria-selected', String(btn.id === 'tab-' + id));
    tableView.hidden = id !== 'table';
    chartsView.hidden = id !== 'charts';
    if (id === 'charts') drawCharts();
  }

  const keyShown = (key) => !state.chartFilter || key.toLowerCase().includes(state.chartFilter.toLowerCase());

  /** The charts view: the selected runs of this page, or all of them; one colour per run on every chart. */
  async function drawCharts() {
    const picked = state.runs.filter((r) => state.selected.has(r.info.run_id));
    const shown = picked.length ? picked : state.runs;
    const runIds = shown.map((r) => r.info.run_id);
    if (charts && charts.runIds.join() === runIds.join()) return;  // the same runs are drawn already
    if (charts) { charts.panel.destroy(); charts = null; }
    const noun = `run${shown.length === 1 ? '' : 's'}`;
    chartsInfo.textContent = !shown.length ? '' : picked.length ? `${shown.length} selected ${noun}` : `${shown.length} ${noun} on this page`;
    if (!shown.length) { replace(chartsBody, h('p', {class: 'muted'}, 'No runs to chart.')); return; }
    const maps = new Map(shown.map((r) => [r.info.run_id, runMaps(r)]));
    const keys = [...new Set(shown.flatMap((r) => Object.keys(maps.get(r.info.run_id).metrics)))].sort();
    // How many values each metric holds decides bars (one per run) or lines, before fetching any history.
    const counts = await api.metricCounts(runIds).catch(() => ({}));
    const panel = metricPanel({keys: keys.filter(keyShown), query, lazy: true,
      seriesFor: (key) => shown.map((r, i) => [r, i]).filter(([r]) => maps.get(r.info.run_id).metrics[key] !== undefined)
        .map(([r, i]) => ({runId: r.info.run_id, name: runName(r), startTime: r.info.start_time, colorIndex: i,
          value: maps.get(r.info.run_id).metrics[key], count: (counts[r.info.run_id] || {})[key]}))});
    charts = {panel, keys, runIds};
    const legend = h('ul', {class: 'pc-legend run-legend'}, shown.map((r, i) => h('li', {},
      h('span', {class: 'swatch', style: `background:${color(i)}`}), runName(r))));
    // A long legend folds away: the charts matter more than a wall of names.
    replace(chartsBody, shown.length > LEGEND_OPEN_RUNS ? h('details', {}, h('summary', {}, `Run colours (${shown.length})`), legend)
      : legend, panel.element);
    await panel.redrawAll();
  }

  // Experiment names for the title (and a column when several experiments share the table).
  const multi = experimentIds.length > 1;
  const experimentNames = new Map();
  Promise.all(experimentIds.map((id) => api.getExperiment(id).catch(() => ({experiment_id: id, name: `#${id}`}))))
    .then((exps) => {
      title.textContent = exps.map((e) => e.name).join(' + ');
      document.title = title.textContent + ' · mltrail';
      exps.forEach((e) => experimentNames.set(String(e.experiment_id), e.name));
      if (multi && state.columns && state.runs.length) drawTable();
    });

  try { state.keys = await api.experimentColumns(experimentIds); } catch (err) { replace(message, errorBox(err)); }
  const fromUrl = query.get('cols');
  state.columns = fromUrl !== null ? fromUrl.split(',').filter(Boolean)
    : storedColumns(experimentIds) || defaultColumns(state.keys);

  function toggleColumns() {
    const open = columnsBtn.getAttribute('aria-expanded') === 'true';
    columnsBtn.setAttribute('aria-expanded', String(!open));
    if (open) { replace(columnsHolder); return; }
    replace(columnsHolder, columnChooser(state.keys, state.columns, (cols) => {
      state.columns = cols;
      storeColumns(experimentIds, cols);
      syncUrl();
      drawTable();
    }));
  }

  function syncUrl() {
    updateQuery({filter: state.filter, view: state.view === 'ACTIVE_ONLY' ? '' : state.view,
      sort: `${state.sort.column}:${state.sort.desc ? 'desc' : 'asc'}`, cols: state.columns,
      sel: [...state.selected], ps: state.pageSize === 100 ? '' : state.pageSize});
    const order = orderKey(state.sort.column);
    csvLink.href = api.exportCsvUrl({experimentIds, filter: state.filter, viewType: state.view,
      orderBy: order ? [`${order} ${state.sort.desc ? 'DESC' : 'ASC'}`] : [], columns: state.columns});
    const n = state.selected.size;
    root.querySelector('.selcount').textContent = n ? `${n} selected` : '';
    compareBtn.disabled = n < 1;
    deleteBtn.disabled = n < 1;
    restoreBtn.disabled = n < 1;
    compareBtn.textContent = n ? `Compare (${n})` : 'Compare';
    evalCompare.sync(state.selected, state.runs);
  }

  async function bulk(fn, verb) {
    const ids = [...state.selected];
    if (verb === 'Delete' && !confirm(`Delete ${ids.length} run(s)?`)) return;
    try {
      for (const id of ids) await fn(id);
      state.selected.clear();
      replace(message);
      await load();
    } catch (err) { replace(message, errorBox(err)); }
  }

  function header() {
    const allBox = h('input', {type: 'checkbox', 'aria-label': 'Select all runs on this page', onchange: () => {
      for (const run of state.runs) {
        if (allBox.checked) state.selected.add(run.info.run_id); else state.selected.delete(run.info.run_id);
      }
      drawTable();
    }});
    const onPage = state.runs.map((r) => r.info.run_id);
    allBox.checked = onPage.length > 0 && onPage.every((id) => state.selected.has(id));
    const th = (id, label) => {
      const sortable = orderKey(id) !== null;
      const active = state.sort.column === id;
      const arrow = active ? (state.sort.desc ? ' ▼' : ' ▲') : '';
      const attrs = {scope: 'col', 'aria-sort': active ? (state.sort.desc ? 'descending' : 'ascending') : null, dataset: {column: id}};
      if (!sortable) return h('th', attrs, label);
      return h('th', attrs, h('button', {type: 'button', class: 'sort', title: 'Sort by ' + label, onclick: () => {
        state.sort = active ? {column: id, desc: !state.sort.desc} : {column: id, desc: id !== 'name'};
        reload();
      }}, label + arrow));
    };
    return h('tr', {}, h('th', {scope: 'col'}, allBox), BASE.map((b) => th(b.id, b.label)),
      multi ? h('th', {scope: 'col'}, 'Experiment') : null,
      state.columns.map((c) => th(c, c.replace(/^(params|metrics|tags)\./, (m) => ({'params.': 'param: ', 'metrics.': '', 'tags.': 'tag: '})[m]))));
  }

  function cell(run, maps, column) {
    const dot = column.indexOf('.');
    const kind = column.slice(0, dot);
    const value = maps[kind] ? maps[kind][column.slice(dot + 1)] : undefined;
    if (value === undefined) return h('td', {class: 'muted'}, '');
    if (kind === 'metrics') return h('td', {class: 'num'}, fmtNumber(value));
    return h('td', {title: String(value)}, String(value));
  }

  function drawTable() {
    replace(thead, header());
    const rows = [];
    const byId = new Map(state.runs.map((r) => [r.info.run_id, r]));
    for (const {run, depth, childCount} of nestRuns(state.runs)) {
      const id = run.info.run_id;
      const maps = runMaps(run);
      const parent = maps.tags[PARENT_TAG];
      if (depth > 0 && [...ancestors(run, byId)].some((a) => state.collapsed.has(a))) continue;
      const box = h('input', {type: 'checkbox', 'aria-label': 'Select run ' + runName(run), checked: state.selected.has(id),
        onchange: () => { if (box.checked) state.selected.add(id); else state.selected.delete(id); syncUrl(); tr.classList.toggle('selected', box.checked); }});
      const toggle = childCount ? h('button', {type: 'button', class: 'link', 'aria-expanded': String(!state.collapsed.has(id)),
        title: state.collapsed.has(id) ? 'Show child runs' : 'Hide child runs', onclick: () => {
          if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
          drawTable();
        }}, state.collapsed.has(id) ? '▸' : '▾') : null;
      const indent = Array.from({length: depth}, () => h('span', {class: 'child-indent'}));
      const orphan = parent && depth === 0 ? h('span', {class: 'muted', title: 'Child of run ' + parent}, '↳ ') : null;
      const nameCell = h('td', {class: 'name'}, indent, toggle, toggle ? ' ' : null, orphan,
        h('a', {href: runHref(id)}, runName(run)), childCount ? h('span', {class: 'muted'}, ` (${childCount})`) : null);
      const tr = h('tr', {class: state.selected.has(id) ? 'selected' : '', dataset: {runId: id, depth: String(depth)}},
        h('td', {}, box), nameCell,
        h('td', {}, fmtTime(run.info.start_time)),
        h('td', {}, fmtDuration(run.info.start_time, run.info.end_time)),
        h('td', {}, statusBadge(run.info.status)),
        h('td', {}, maps.tags['mlflow.user'] || run.info.user_id || ''),
        multi ? h('td', {}, experimentNames.get(String(run.info.experiment_id)) || run.info.experiment_id) : null,
        state.columns.map((c) => cell(run, maps, c)));
      rows.push(tr);
    }
    if (!rows.length) rows.push(h('tr', {}, h('td', {colspan: 6 + (multi ? 1 : 0) + state.columns.length, class: 'muted'}, 'No runs match.')));
    replace(tbody, rows);
    syncUrl();
    if (state.tab === 'charts') drawCharts();
  }

  function ancestors(run, byId) {
    const out = new Set();
    let cur = runMaps(run).tags[PARENT_TAG];
    while (cur && byId.has(cur) && !out.has(cur)) {
      out.add(cur);
      cur = runMaps(byId.get(cur)).tags[PARENT_TAG];
    }
    return out;
  }

  async function load() {
    const order = orderKey(state.sort.column);
    try {
      const res = await api.searchRuns({experimentIds, filter: state.filter, viewType: state.view, maxResults: state.pageSize,
        orderBy: order ? [`${order} ${state.sort.desc ? 'DESC' : 'ASC'}`] : [], pageToken: state.tokens[state.page]});
      state.runs = res.runs || [];
      state.tokens[state.page + 1] = res.next_page_token || null;
      state.tokens.length = state.page + 2;
      replace(filterError);
      replace(message);
      filterInput.removeAttribute('aria-invalid');
    } catch (err) {
      state.runs = [];
      if (err.code === 'INVALID_PARAMETER_VALUE') {
        // The server's own explanation of a bad filter, shown right under the box.
        filterInput.setAttribute('aria-invalid', 'true');
        replace(filterError, errorBox(err));
      } else replace(message, errorBox(err));
    }
    prevBtn.disabled = state.page === 0;
    nextBtn.disabled = !state.tokens[state.page + 1];
    const first = state.page * state.pageSize;
    pageInfo.textContent = state.runs.length ? `Runs ${first + 1}–${first + state.runs.length}` : '';
    drawTable();
  }

  function reload() {
    state.tokens = [null];
    state.page = 0;
    return load();
  }

  syncUrl();
  await load();
  return () => { if (charts) charts.panel.destroy(); };
}
