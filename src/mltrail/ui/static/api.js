// Thin wrappers over MLflow's REST API (/ajax-api/2.0/mlflow/…) and mltrail's UI endpoints.
// Every URL starts at ROOT, the server's --static-prefix ("" without one).

import {ROOT} from './root.js';

const MLFLOW = ROOT + '/ajax-api/2.0/mlflow/';
const UI = ROOT + '/ajax-api/mltrail/';

/** An error answered by the server, with MLflow's error_code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function withQuery(url, query) {
  if (!query) return url;
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => qs.append(key, v));
    else qs.append(key, value);
  }
  const s = qs.toString();
  return s ? url + '?' + s : url;
}

async function call(method, url, {query, body} = {}) {
  const init = {method, headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(withQuery(url, query), init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK_ERROR', 'The server cannot be reached: ' + err.message);
  }
  const text = await res.text();
  let json = {};
  if (text) {
    try { json = JSON.parse(text); } catch { json = {message: text.slice(0, 500)}; }
  }
  if (!res.ok) throw new ApiError(res.status, json.error_code || 'HTTP_' + res.status, json.message || res.statusText);
  return json;
}

const get = (path, query) => call('GET', MLFLOW + path, {query});
const post = (path, body) => call('POST', MLFLOW + path, {body});

export const VIEW_TYPES = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'];

export async function searchAllExperiments(viewType = 'ACTIVE_ONLY') {
  const out = [];
  let token;
  do {
    const page = await post('experiments/search', {max_results: 1000, view_type: viewType, page_token: token,
      order_by: ['last_update_time DESC']});
    out.push(...(page.experiments || []));
    token = page.next_page_token;
  } while (token && out.length < 20000);
  return out;
}

export const getExperiment = (id) => get('experiments/get', {experiment_id: id}).then((r) => r.experiment);
export const createExperiment = (name) => post('experiments/create', {name});
export const renameExperiment = (id, name) => post('experiments/update', {experiment_id: id, new_name: name});
export const deleteExperiment = (id) => post('experiments/delete', {experiment_id: id});
export const restoreExperiment = (id) => post('experiments/restore', {experiment_id: id});

export function searchRuns({experimentIds, filter, viewType, maxResults, orderBy, pageToken}) {
  return post('runs/search', {
    experiment_ids: experimentIds, filter: filter || '', run_view_type: viewType || 'ACTIVE_ONLY',
    max_results: maxResults || 100, order_by: orderBy || [], page_token: pageToken || undefined,
  });
}

export const getRun = (runId) => get('runs/get', {run_id: runId}).then((r) => r.run);
export const setTag = (runId, key, value) => post('runs/set-tag', {run_id: runId, key, value});
export const deleteTag = (runId, key) => post('runs/delete-tag', {run_id: runId, key});
export const deleteRun = (runId) => post('runs/delete', {run_id: runId});
export const restoreRun = (runId) => post('runs/restore', {run_id: runId});

export const listArtifacts = (runId, path) =>
  get('artifacts/list', {run_id: runId, run_uuid: runId, path: path || undefined}).then((r) => r.files || []);

export function artifactUrl(runId, path) {
  return withQuery(ROOT + '/get-artifact', {path, run_uuid: runId});
}

/** An artifact's text, or null when it is larger than maxBytes. */
export async function artifactText(runId, path, maxBytes = 2 * 1024 * 1024) {
  const res = await fetch(artifactUrl(runId, path));
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).message || message; } catch { /* not JSON */ }
    throw new ApiError(res.status, 'HTTP_' + res.status, message);
  }
  const size = Number(res.headers.get('Content-Length') || 0);
  if (size > maxBytes) return null;
  return res.text();
}

export function metricHistory(runId, key, axis = 'step', maxPoints = 2000) {
  return call('GET', UI + 'metrics/history', {query: {run_id: runId, key, axis, max_points: maxPoints}});
}

/** One metric of many runs, each downsampled: {key, axis, runs: [{run_id, total, step, value, …}]}. */
export function metricHistoryBulk(runIds, key, axis = 'step', maxPoints = 2000) {
  return call('GET', UI + 'metrics/history-bulk', {query: {run_ids: runIds.join(','), key, axis, max_points: maxPoints}});
}

/** How many values each metric of each run holds: {run_id: {key: count}}. */
export const metricCounts = (runIds) =>
  call('GET', UI + 'metrics/counts', {query: {run_ids: runIds.join(',')}}).then((r) => r.counts || {});

/** Run counts of every experiment in one request: {experiment_id: {runs, running, last_run_start}}. */
export const experimentSummaries = () => call('GET', UI + 'experiments/summary').then((r) => r.experiments || {});

export const experimentColumns = (ids) => call('GET', UI + 'experiments/columns', {query: {experiment_ids: ids.join(',')}});

export function exportCsvUrl({experimentIds, filter, viewType, orderBy, columns}) {
  return withQuery(UI + 'runs/export.csv', {experiment_ids: experimentIds.join(','), filter,
    view_type: viewType, order_by: orderBy, columns: columns && columns.length ? columns.join(',') : undefined});
}

export function runEventsUrl(runId) {
  return UI + 'runs/' + encodeURIComponent(runId) + '/events';
}

/** MLflow's tag that marks a registered model (and its versions) as a prompt of the Prompt Registry. */
export const PROMPT_TAG = 'mlflow.prompt.is_prompt';

/** A string literal for MLflow's filter grammar ("it's" -> 'it''s'). */
export const quoteFilter = (value) => "'" + String(value).replace(/'/g, "''") + "'";

/** Whether a registered model (or version) from the REST API is a prompt. */
export const isPrompt = (entity) => (entity.tags || []).some((t) => t.key === PROMPT_TAG && String(t.value).toLowerCase() === 'true');

/** All registered models that are not prompts (the server leaves prompts out too; this holds for any server). */
export async function searchAllRegisteredModels() {
  const out = [];
  let token;
  do {
    const page = await get('registered-models/search', {max_results: 1000, page_token: token});
    out.push(...(page.registered_models || []).filter((m) => !isPrompt(m)));
    token = page.next_page_token;
  } while (token && out.length < 20000);
  return out;
}

/** One page of registered models: {registered_models, next_page_token}. */
export const searchRegisteredModels = ({filter, maxResults = 100, pageToken} = {}) =>
  get('registered-models/search', {filter, max_results: maxResults, page_token: pageToken});

/** Every model version matching `filter`, newest version first. */
export async function searchAllModelVersions(filter) {
  const out = [];
  let token;
  do {
    const page = await get('model-versions/search', {filter, max_results: 1000, page_token: token});
    out.push(...(page.model_versions || []));
    token = page.next_page_token;
  } while (token && out.length < 20000);
  return out.sort((a, b) => Number(b.version) - Number(a.version));
}

export const getRegisteredModel = (name) => get('registered-models/get', {name}).then((r) => r.registered_model);

export async function modelVersions(name) {
  const quoted = "'" + name.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  const res = await get('model-versions/search', {filter: `name = ${quoted}`, max_results: 1000});
  return (res.model_versions || []).sort((a, b) => Number(b.version) - Number(a.version));
}

const MLFLOW3 = ROOT + '/ajax-api/3.0/mlflow/';

export function searchTraces(experimentIds, {maxResults = 100, pageToken, filter, orderBy} = {}) {
  return call('POST', MLFLOW3 + 'traces/search', {body: {
    locations: experimentIds.map((id) => ({type: 'MLFLOW_EXPERIMENT', mlflow_experiment: {experiment_id: String(id)}})),
    max_results: maxResults, page_token: pageToken || undefined, filter: filter || undefined,
    order_by: orderBy || ['timestamp_ms DESC'],
  }});
}

/** Trace count, tokens and cost (USD) of the traces matching a filter: {trace_count, total_tokens, total_cost, ...}. */
export const traceTotals = (experimentIds, filter) => call('GET', UI + 'experiments/traces/totals',
  {query: {experiment_ids: experimentIds.join(','), filter: filter || undefined}}).then((r) => r.totals);
/** Sessions (mlflow.trace.session), most recent first: {sessions: [...], next_page_token}. */
export const traceSessions = (experimentIds, {filter, pageToken, maxResults = 100} = {}) => call('GET',
  UI + 'experiments/traces/sessions', {query: {experiment_ids: experimentIds.join(','), filter: filter || undefined,
    page_token: pageToken || undefined, max_results: maxResults}});

export const getTrace = (traceId) => call('GET', MLFLOW3 + 'traces/get', {query: {trace_id: traceId}}).then((r) => r.trace);

/** A trace and all its spans (MLflow's span JSON) in one answer: {trace_info, spans}. */
export const traceWithSpans = (traceId) => call('GET', UI + 'traces/' + encodeURIComponent(traceId));
export const traceEventsUrl = (traceId) => UI + 'traces/' + encodeURIComponent(traceId) + '/events';
export const tracesEventsUrl = (experimentIds) => withQuery(UI + 'experiments/traces/events', {experiment_ids: experimentIds.join(',')});
/** MLflow's create-assessment call (what mlflow.log_feedback sends); answers the stored assessment. */
export const createAssessment = (traceId, assessment) =>
  call('POST', MLFLOW3 + 'traces/' + encodeURIComponent(traceId) + '/assessments', {body: {assessment}}).then((r) => r.assessment);
/** Who is logged in: {auth, user: {username, is_admin} | null}. */
export const whoAmI = () => call('GET', UI + 'auth/me');
// genai.evaluate runs: one run's rows, and two runs compared row by row (mltrail.ui.eval_compare_routes).
export const evaluationRows = (runId) => call('GET', UI + 'evaluations/rows', {query: {run_id: runId}});
export const compareEvaluations = (baseline, candidate, lowerIsBetter = []) => call('GET', UI + 'evaluations/compare',
  {query: {run_ids: baseline + ',' + candidate, lower_is_better: lowerIsBetter.join(',')}});

// Registry writes (model_registry.proto). Every call answers {} or the changed entity; pages re-read after.
const patch = (path, body) => call('PATCH', MLFLOW + path, {body});
const del = (path, body) => call('DELETE', MLFLOW + path, {body});

export const updateRegisteredModel = (name, description) =>
  patch('registered-models/update', {name, description}).then((r) => r.registered_model);
export const renameRegisteredModel = (name, newName) =>
  post('registered-models/rename', {name, new_name: newName}).then((r) => r.registered_model);
export const deleteRegisteredModel = (name) => del('registered-models/delete', {name});
export const setRegisteredModelTag = (name, key, value) => post('registered-models/set-tag', {name, key, value});
export const deleteRegisteredModelTag = (name, key) => del('registered-models/delete-tag', {name, key});
export const setModelAlias = (name, alias, version) => post('registered-models/alias', {name, alias, version: String(version)});
export const deleteModelAlias = (name, alias) => del('registered-models/alias', {name, alias});

export const getModelVersion = (name, version) =>
  get('model-versions/get', {name, version}).then((r) => r.model_version);
export const updateModelVersion = (name, version, description) =>
  patch('model-versions/update', {name, version: String(version), description}).then((r) => r.model_version);
export const transitionModelVersionStage = (name, version, stage, archiveExisting) =>
  post('model-versions/transition-stage', {name, version: String(version), stage,
    archive_existing_versions: Boolean(archiveExisting)}).then((r) => r.model_version);
export const setModelVersionTag = (name, version, key, value) =>
  post('model-versions/set-tag', {name, version: String(version), key, value});
export const deleteModelVersionTag = (name, version, key) =>
  del('model-versions/delete-tag', {name, version: String(version), key});

/** A file of a model version (whatever its source scheme), or null when larger than maxBytes. */
export async function modelVersionArtifactText(name, version, path, maxBytes = 2 * 1024 * 1024) {
  const res = await fetch(withQuery(ROOT + '/model-versions/get-artifact', {name, version, path}));
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).message || message; } catch { /* not JSON */ }
    throw new ApiError(res.status, 'HTTP_' + res.status, message);
  }
  if (Number(res.headers.get('Content-Length') || 0) > maxBytes) return null;
  return res.text();
}
export const deleteModelVersion = (name, version) => del('model-versions/delete', {name, version: String(version)});
export const getLoggedModel = (modelId) => get('logged-models/' + encodeURIComponent(modelId)).then((r) => r.model);
export const searchLoggedModels = (experimentIds, filter, maxResults = 100) =>
  post('logged-models/search', {experiment_ids: experimentIds, filter, max_results: maxResults}).then((r) => r.models || []);

// Evaluation datasets (MLflow 3's /datasets endpoints). Tags and records travel as JSON strings, as in MLflow.
const DATASETS = MLFLOW3 + 'datasets/';
const datasetOf = (d) => ({...d, tags: d.tags ? JSON.parse(d.tags) : {}});
export const searchDatasets = (experimentIds, {maxResults = 100, pageToken, orderBy = ['last_update_time DESC']} = {}) =>
  call('POST', DATASETS + 'search', {body: {experiment_ids: experimentIds, max_results: maxResults, page_token: pageToken,
    order_by: orderBy}}).then((r) => ({datasets: (r.datasets || []).map(datasetOf), next_page_token: r.next_page_token}));
export const getDataset = (datasetId) =>
  call('GET', DATASETS + encodeURIComponent(datasetId)).then((r) => datasetOf(r.dataset));
export const datasetRecords = (datasetId, {maxResults = 100, pageToken} = {}) =>
  call('GET', DATASETS + encodeURIComponent(datasetId) + '/records', {query: {max_results: maxResults, page_token: pageToken}})
    .then((r) => ({records: JSON.parse(r.records || '[]'), next_page_token: r.next_page_token}));

// Human review (MLflow 3.14): label schemas, review queues and their items (mltrail.server.handlers.review).
/** An experiment's label schemas (its default "Feedback" question included): all pages. */
export async function listLabelSchemas(experimentId) {
  const out = [];
  let token;
  do {
    const page = await call('GET', MLFLOW3 + 'label-schemas/list', {query: {experiment_id: experimentId, max_results: 1000, page_token: token}});
    out.push(...(page.label_schemas || []));
    token = page.next_page_token;
  } while (token);
  return out;
}
export const listReviewQueues = (experimentId, {pageToken} = {}) =>
  call('GET', MLFLOW3 + 'review-queues/list', {query: {experiment_id: experimentId, max_results: 1000, page_token: pageToken}});
export const getReviewQueue = (queueId) =>
  call('GET', MLFLOW3 + 'review-queues/get', {query: {queue_id: queueId}}).then((r) => r.review_queue);
/** A queue's items (newest attached first), all pages; one status only when given. */
export async function reviewQueueItems(queueId, status) {
  const out = [];
  let token;
  do {
    const page = await call('GET', MLFLOW3 + 'review-queues/items/list', {query: {queue_id: queueId, status, max_results: 1000, page_token: token}});
    out.push(...(page.items || []));
    token = page.next_page_token;
  } while (token);
  return out;
}
export const setReviewItemStatus = (queueId, itemId, status, completedBy) =>
  call('POST', MLFLOW3 + 'review-queues/items/set-status', {body: {queue_id: queueId, item_id: itemId, status, completed_by: completedBy}})
    .then((r) => r.item);
