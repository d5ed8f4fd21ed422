// Evaluation datasets (MLflow 3's mlflow.genai.datasets): an experiment's datasets (name, records, digest, tags,
// last update), and one dataset: its facts, schema and its records as a table, paged. Every value is shown as text.

import * as api from '../api.js';
import {errorBox, experimentHref, fmtTime, h, replace, routeHref} from '../dom.js';

const PAGE = 100;
const datasetHref = (id) => routeHref('/datasets/' + encodeURIComponent(id));
const json = (value) => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));
const countOf = (d) => { try { return JSON.parse(d.profile || '{}').num_records || 0; } catch { return 0; } };
const none = () => h('span', {class: 'muted'}, '—');

function crumbs(experimentIds, ...tail) {
  return h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'), ' › ',
    h('a', {href: experimentHref(experimentIds)}, 'Runs'), ...tail);
}

function tagList(tags) {
  const entries = Object.entries(tags || {}).filter(([k]) => !k.startsWith('mlflow.'));
  return entries.length ? entries.map(([k, v], i) => [i ? ', ' : null, h('code', {}, k + '=' + v)]) : none();
}

/** A list that grows page by page ("Load more"), reading with `fetchPage(token)` -> {items, next_page_token}. */
function pagedRows(tbody, more, message, fetchPage, row, emptyText, colspan) {
  let token = null;
  async function next() {
    more.disabled = true;
    try {
      const page = await fetchPage(token);
      for (const item of page.items) tbody.append(row(item));
      token = page.next_page_token || null;
      more.hidden = !token;
      if (!tbody.childNodes.length) tbody.append(h('tr', {}, h('td', {colspan, class: 'muted'}, emptyText)));
    } catch (err) {
      replace(message, errorBox(err));
    } finally {
      more.disabled = false;
    }
  }
  more.onclick = next;
  return next();
}

async function renderList(root, experimentIds) {
  const tbody = h('tbody');
  const message = h('div');
  const more = h('button', {type: 'button', class: 'load-more', hidden: true}, 'Load more');
  replace(root, crumbs(experimentIds, ' › Datasets'), h('h1', {}, 'Datasets'), message,
    h('div', {class: 'table-wrap'}, h('table', {class: 'datasets'},
      h('thead', {}, h('tr', {}, ['Name', 'Records', 'Digest', 'Tags', 'Updated', 'Created by']
        .map((t) => h('th', {scope: 'col'}, t)))), tbody)), more);
  const row = (d) => h('tr', {'data-dataset-id': d.dataset_id},
    h('td', {}, h('a', {href: datasetHref(d.dataset_id)}, d.name)),
    h('td', {class: 'num'}, String(countOf(d))),
    h('td', {}, h('code', {}, d.digest || '')),
    h('td', {class: 'wrap'}, tagList(d.tags)),
    h('td', {}, fmtTime(Number(d.last_update_time))),
    h('td', {}, d.created_by || none()));
  await pagedRows(tbody, more, message, async (token) => {
    const page = await api.searchDatasets(experimentIds, {maxResults: PAGE, pageToken: token});
    return {items: page.datasets, next_page_token: page.next_page_token};
  }, row, 'No datasets yet: create one with mlflow.genai.datasets.create_dataset(name=..., experiment_id=...).', 6);
}

async function renderDataset(root, datasetId) {
  const d = await api.getDataset(datasetId);
  const exps = d.experiment_ids || [];
  const item = (label, value) => [h('dt', {}, label), h('dd', {}, value === '' || value == null ? none() : value)];
  const facts = h('dl', {class: 'kv'},
    item('Dataset ID', h('code', {}, d.dataset_id)),
    item('Digest', h('code', {class: 'digest'}, d.digest || '')),
    item('Records', h('span', {class: 'record-count'}, String(countOf(d)))),
    item('Experiments', exps.length ? exps.map((e, i) => [i ? ', ' : null, h('a', {href: routeHref(`/experiments/${encodeURIComponent(e)}/datasets`)}, e)]) : ''),
    item('Tags', tagList(d.tags)),
    item('Created', fmtTime(Number(d.created_time)) + (d.created_by ? ' by ' + d.created_by : '')),
    item('Updated', fmtTime(Number(d.last_update_time)) + (d.last_updated_by ? ' by ' + d.last_updated_by : '')),
    item('Schema', d.schema ? h('code', {class: 'wrap'}, d.schema) : ''));
  const tbody = h('tbody');
  const message = h('div');
  const more = h('button', {type: 'button', class: 'load-more', hidden: true}, 'Load more');
  const back = exps.length ? crumbs(exps.slice(0, 1), ' › ', h('a', {href: routeHref(`/experiments/${encodeURIComponent(exps[0])}/datasets`)}, 'Datasets'))
    : h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Experiments'));
  replace(root, back, h('h1', {}, d.name), h('section', {class: 'panel', 'aria-label': 'Dataset'}, facts), message,
    h('h2', {}, 'Records'),
    h('div', {class: 'table-wrap'}, h('table', {class: 'dataset-records'},
      h('thead', {}, h('tr', {}, ['Inputs', 'Expectations', 'Outputs', 'Tags', 'Source', 'Updated']
        .map((t) => h('th', {scope: 'col'}, t)))), tbody)), more);
  const cell = (value) => h('td', {class: 'wrap'}, value === undefined || value === null ? none() : h('code', {}, json(value)));
  const row = (r) => h('tr', {'data-record-id': r.dataset_record_id},
    cell(r.inputs), cell(r.expectations), cell(r.outputs), cell(r.tags && Object.keys(r.tags).length ? r.tags : null),
    h('td', {}, r.source_type ? [r.source_type, r.source_id ? h('div', {class: 'muted'}, r.source_id) : null] : none()),
    h('td', {}, fmtTime(Number(r.last_update_time))));
  await pagedRows(tbody, more, message, async (token) => {
    const page = await api.datasetRecords(datasetId, {maxResults: PAGE, pageToken: token});
    return {items: page.records, next_page_token: page.next_page_token};
  }, row, 'No records yet: add some with dataset.merge_records([...]).', 6);
}

export async function render(root, {experimentIds, datasetId}) {
  if (datasetId) return renderDataset(root, datasetId);
  return renderList(root, experimentIds);
}
