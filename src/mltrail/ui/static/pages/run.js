// Run page: overview, description, tags, params, metrics (single values as numbers, histories as charts),
// an evaluation's results table, artifacts, parent/child links; live over SSE.

import * as api from '../api.js';
import {artifactBrowser} from '../components/artifacts.js';
import {isJsonTable, jsonTable} from '../components/jsontable.js';
import {GENAI_EVALUATE, RUN_TYPE, evaluationRowsSection} from '../components/evalrows.js';
import {promptHref} from './prompts.js';
import {durationText, previewText} from './traces.js';
import {metricPanel} from '../components/metricpanel.js';
import {errorBox, experimentHref, fmtDuration, fmtNumber, fmtTime, h, replace, routeHref, runHref, runMaps, runName,
  statusBadge} from '../dom.js';

const NOTE = 'mlflow.note.content';
const PARENT = 'mlflow.parentRunId';
const EVAL_TABLE = /^[^/]*eval_results_table\.json$/;  // what mlflow.evaluate logs: <metric_prefix>eval_results_table.json
const LINKED_PROMPTS = 'mlflow.linkedPrompts';  // MLflow's JSON list of {name, version} loaded in this run

function linkedPrompts(value) {
  try {
    const list = JSON.parse(value || '[]');
    return Array.isArray(list) ? list.filter((p) => p && typeof p.name === 'string' && p.version != null) : [];
  } catch { return []; }
}

function kvTable(caption, rows, cls) {
  if (!rows.length) return h('p', {class: 'muted'}, `No ${caption.toLowerCase()}.`);
  return h('div', {class: 'table-wrap'}, h('table', {class: cls},
    h('thead', {}, h('tr', {}, rows[0].map((_, i) => h('th', {scope: 'col'}, i === 0 ? 'Name' : i === 1 ? 'Value' : i === 2 ? 'Step' : 'Time')))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', {class: i === 0 ? 'wrap' : 'wrap', title: String(c)}, c)))))));
}

/** Metric keys with a history (more than one value) to chart; null counts (an old server) chart every key. */
function chartKeys(run, counts) {
  const keys = runMaps(run).metricList.map((m) => m.key).sort();
  return counts ? keys.filter((k) => (counts[k] || 0) > 1) : keys;
}

export async function render(root, {runId, query}) {
  let run = await api.getRun(runId);
  const countsOf = () => api.metricCounts([runId]).then((c) => c[runId] || {}).catch(() => null);
  let counts = await countsOf();
  let live = false;  // the event stream is open
  let editingNote = false;
  const title = h('h1', {});
  const crumbs = h('div', {class: 'crumbs'});
  const liveBadge = h('span', {class: 'live', 'aria-live': 'polite'});
  const overview = h('dl', {class: 'kv'});
  const note = h('div');
  const tags = h('div');
  const params = h('div');
  const metrics = h('div');
  const children = h('div');
  const traces = h('div');
  const loggedModels = h('section', {'aria-label': 'Logged models', class: 'logged-models', hidden: true});
  const evalResults = h('section', {'aria-label': 'Evaluation results', class: 'eval-results', hidden: true});
  const message = h('div');
  const panel = metricPanel({keys: chartKeys(run, counts), query,
    seriesFor: () => [{runId, name: runName(run), startTime: run.info.start_time, colorIndex: 0}]});
  const chartsSection = h('section', {'aria-label': 'Charts', class: 'run-charts', hidden: !chartKeys(run, counts).length},
    h('h2', {}, 'Charts'), panel.element);

  replace(root, crumbs, h('div', {class: 'toolbar'}, title, h('span', {class: 'status'}), liveBadge), message,
    h('div', {class: 'grid2'},
      h('section', {class: 'panel', 'aria-label': 'Overview'}, overview),
      h('section', {class: 'panel', 'aria-label': 'Description'}, h('h2', {}, 'Description'), note)),
    h('div', {class: 'grid2'},
      h('section', {'aria-label': 'Parameters'}, h('h2', {}, 'Parameters'), params),
      h('section', {'aria-label': 'Metrics'}, h('h2', {}, 'Metrics'), metrics)),
    evalResults,
    // genai.evaluate: each row with every scorer's value and rationale, filterable by result
    runMaps(run).tags[RUN_TYPE] === GENAI_EVALUATE ? evaluationRowsSection(runId) : null,
    chartsSection,
    h('section', {'aria-label': 'Tags'}, h('h2', {}, 'Tags'), tags),
    h('section', {'aria-label': 'Artifacts'}, h('h2', {}, 'Artifacts'), artifactBrowser(runId)),
    loggedModels,
    h('section', {'aria-label': 'Child runs'}, children),
    h('section', {'aria-label': 'Traces'}, traces));

  const experimentName = api.getExperiment(run.info.experiment_id).then((e) => e.name).catch(() => '#' + run.info.experiment_id);

  async function drawHeader() {
    // "live" only while the run is RUNNING: a finished run's page still follows edits, but is not live.
    liveBadge.textContent = live && run.info.status === 'RUNNING' ? '● live' : '';
    liveBadge.dataset.connected = String(live);
    title.textContent = runName(run);
    document.title = runName(run) + ' · mltrail';
    replace(root.querySelector('.status'), statusBadge(run.info.status),
      run.info.lifecycle_stage === 'deleted' ? h('span', {class: 'badge'}, 'deleted') : null);
    replace(crumbs, h('a', {href: '#/'}, 'Experiments'), ' › ',
      h('a', {href: experimentHref([run.info.experiment_id])}, await experimentName), ' › ', runName(run));
  }

  function drawOverview() {
    const {tags: t} = runMaps(run);
    const item = (label, value) => [h('dt', {}, label), h('dd', {}, value === '' || value == null ? h('span', {class: 'muted'}, '—') : value)];
    const parent = t[PARENT];
    const prompts = linkedPrompts(t[LINKED_PROMPTS]);
    replace(overview,
      item('Run ID', h('code', {}, run.info.run_id)),
      item('Status', statusBadge(run.info.status)),
      item('Started', fmtTime(run.info.start_time)),
      item('Duration', fmtDuration(run.info.start_time, run.info.end_time)
        + (!run.info.end_time && run.info.status === 'RUNNING' ? ' (running)' : '')),
      item('User', t['mlflow.user'] || run.info.user_id),
      item('Source', t['mlflow.source.name'] || ''),
      item('Git commit', t['mlflow.source.git.commit'] ? h('code', {}, t['mlflow.source.git.commit']) : ''),
      item('Parent run', parent ? h('a', {href: runHref(parent), class: 'parent-link'}, parent) : ''),
      item('Prompts', prompts.length ? h('span', {class: 'linked-prompts'}, prompts.map((p, i) => [i ? ', ' : null,
        h('a', {href: promptHref(p.name, {version: String(p.version)})}, `${p.name} v${p.version}`)])) : ''),
      item('Artifact URI', run.info.artifact_uri || ''));
  }

  function drawNote() {
    if (editingNote) return;
    const text = runMaps(run).tags[NOTE] || '';
    const edit = h('button', {type: 'button', onclick: () => {
      editingNote = true;
      const area = h('textarea', {'aria-label': 'Description text', value: text});
      replace(note, h('form', {onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api.setTag(runId, NOTE, area.value);
          editingNote = false;
          run = await api.getRun(runId);
          drawNote();
        } catch (err) { replace(message, errorBox(err)); }
      }}, area, h('div', {class: 'toolbar'}, h('button', {type: 'submit', class: 'primary'}, 'Save'),
        h('button', {type: 'button', onclick: () => { editingNote = false; drawNote(); }}, 'Cancel'))));
      area.focus();
    }}, text ? 'Edit' : 'Add a description');
    replace(note, text ? h('p', {class: 'note'}, text) : null, edit);
  }

  function drawTags() {
    if (tags.contains(document.activeElement) && document.activeElement.tagName === 'INPUT') return;
    const all = Object.entries(runMaps(run).tags).sort(([a], [b]) => a.localeCompare(b));
    const user = all.filter(([k]) => !k.startsWith('mlflow.'));
    const system = all.filter(([k]) => k.startsWith('mlflow.') && k !== NOTE);
    const rowFor = ([key, value], editable) => {
      const valueCell = h('td', {class: 'wrap'}, value);
      const actions = editable ? h('td', {},
        h('button', {type: 'button', onclick: () => {
          const input = h('input', {type: 'text', value, 'aria-label': 'Value of tag ' + key});
          replace(valueCell, h('form', {class: 'toolbar', onsubmit: (e) => { e.preventDefault(); save(() => api.setTag(runId, key, input.value)); }},
            input, h('button', {type: 'submit', class: 'primary'}, 'Save')));
          input.focus();
        }}, 'Edit'), ' ',
        h('button', {type: 'button', class: 'danger', onclick: () => save(() => api.deleteTag(runId, key))}, 'Delete')) : h('td');
      return h('tr', {dataset: {tag: key}}, h('td', {class: 'wrap'}, key), valueCell, actions);
    };
    const keyIn = h('input', {type: 'text', placeholder: 'key', 'aria-label': 'New tag key'});
    const valIn = h('input', {type: 'text', placeholder: 'value', 'aria-label': 'New tag value'});
    replace(tags,
      h('div', {class: 'table-wrap'}, h('table', {class: 'tags'}, h('tbody', {}, user.map((kv) => rowFor(kv, true)),
        user.length ? null : h('tr', {}, h('td', {class: 'muted'}, 'No tags.'))))),
      h('form', {class: 'toolbar', onsubmit: (e) => {
        e.preventDefault();
        if (keyIn.value.trim()) save(() => api.setTag(runId, keyIn.value.trim(), valIn.value));
      }}, keyIn, valIn, h('button', {type: 'submit'}, 'Add tag')),
      system.length ? h('details', {}, h('summary', {}, `System tags (${system.length})`),
        h('div', {class: 'table-wrap'}, h('table', {}, h('tbody', {}, system.map((kv) => rowFor(kv, false)))))) : null);
  }

  async function save(fn) {
    try {
      await fn();
      replace(message);
      run = await api.getRun(runId);
      document.activeElement?.blur();
      drawTags();
    } catch (err) { replace(message, errorBox(err)); }
  }

  function drawData() {
    const maps = runMaps(run);
    replace(params, kvTable('Parameters', Object.entries(maps.params).sort(([a], [b]) => a.localeCompare(b)), 'params'));
    replace(metrics, kvTable('Metrics', [...maps.metricList].sort((a, b) => a.key.localeCompare(b.key))
      .map((m) => [m.key, fmtNumber(m.value), String(m.step), fmtTime(m.timestamp)]), 'metrics'));
  }

  // Traces recorded while this run was active (MLflow links them with metadata mlflow.sourceRun).
  async function drawTraces() {
    try {
      const res = await api.searchTraces([run.info.experiment_id], {maxResults: 50,
        filter: `metadata.\`mlflow.sourceRun\` = '${runId.replace(/'/g, "\\'")}'`});
      const list = res.traces || [];
      replace(traces, list.length ? [h('h2', {}, `Traces (${list.length}${res.next_page_token ? '+' : ''})`),
        h('ul', {class: 'run-traces'}, list.map((t) => h('li', {},
          h('a', {href: routeHref('/traces/' + encodeURIComponent(t.trace_id))}, (t.tags || {})['mlflow.traceName'] || t.trace_id),
          ' ', h('span', {class: 'muted'}, `${t.state || ''} · ${durationText(t.execution_duration)} · ${previewText(t.request_preview)}`))))]
        : null);
    } catch { replace(traces); }  // a server without traces support simply shows none
  }

  // MLflow 3 writes a model once, at its LoggedModel's location (not under the run's artifacts):
  // the models this run logged (source_run_id), with their metrics, as `models:/<id>` URIs.
  async function drawLoggedModels() {
    try {
      const models = await api.searchLoggedModels([run.info.experiment_id],
        `source_run_id = ${api.quoteFilter(runId)}`);
      const rows = models.map((m) => {
        const info = m.info || {};
        const metrics = ((m.data || {}).metrics || []).map((x) => `${x.key}=${fmtNumber(x.value)}`).join(', ');
        return h('tr', {},
          h('td', {}, info.name || ''),
          h('td', {}, h('code', {}, 'models:/' + info.model_id)),
          h('td', {}, String(info.status || '').replace(/^LOGGED_MODEL_/, '')),
          h('td', {}, info.creation_timestamp_ms ? fmtTime(Number(info.creation_timestamp_ms)) : ''),
          h('td', {}, metrics));
      });
      replace(loggedModels, rows.length ? [h('h2', {}, `Logged models (${rows.length})`),
        h('table', {class: 'logged-models-table'},
          h('thead', {}, h('tr', {}, ['Name', 'Model URI', 'Status', 'Created', 'Metrics'].map((c) => h('th', {}, c)))),
          h('tbody', {}, rows))] : []);
      loggedModels.hidden = !rows.length;
    } catch { loggedModels.hidden = true; }  // a server without logged models shows none
  }

  async function drawChildren() {
    try {
      const res = await api.searchRuns({experimentIds: [run.info.experiment_id], viewType: 'ALL', maxResults: 200,
        filter: `tags.\`${PARENT}\` = '${runId.replace(/'/g, "\\'")}'`});
      const kids = res.runs || [];
      replace(children, kids.length ? [h('h2', {}, `Child runs (${kids.length})`), h('ul', {class: 'children'},
        kids.map((k) => h('li', {}, h('a', {href: runHref(k.info.run_id)}, runName(k)), ' ', statusBadge(k.info.status))))] : null);
    } catch { replace(children); }
  }

  // mlflow.evaluate's per-row results (eval_results_table.json) as a table, every cell as text.
  async function drawEvalResults() {
    try {
      const files = (await api.listArtifacts(runId, '')).filter((f) => !f.is_dir && EVAL_TABLE.test(f.path));
      const parts = [];
      for (const f of files.slice(0, 3)) {
        const text = await api.artifactText(runId, f.path);
        let value = null;
        try { value = text === null ? null : JSON.parse(text); } catch { /* not JSON: the artifact browser shows it */ }
        if (!isJsonTable(value)) continue;
        parts.push(h('h2', {}, `Evaluation results (${value.data.length} rows)`),
          h('p', {class: 'muted'}, f.path), jsonTable(value, {cls: 'eval-table'}));
      }
      replace(evalResults, parts);
      evalResults.hidden = !parts.length;
    } catch { evalResults.hidden = true; }  // no artifacts, or none readable: nothing to show
  }

  function drawAll() {
    drawHeader();
    drawOverview();
    drawNote();
    drawTags();
    drawData();
  }
  drawAll();
  drawChildren();
  drawLoggedModels();
  drawTraces();
  drawEvalResults();
  panel.redrawAll();

  // Live updates: the server pushes a new run snapshot whenever something changes.
  let source = null;
  if (window.EventSource) {
    source = new EventSource(api.runEventsUrl(runId));
    source.addEventListener('open', () => { live = true; drawHeader(); });
    source.addEventListener('error', () => { live = false; drawHeader(); });
    const marks = (r) => new Map(runMaps(r).metricList.map((m) => [m.key, `${m.step}/${m.timestamp}`]));
    let seen = marks(run);
    source.addEventListener('run', (e) => {
      const payload = JSON.parse(e.data);
      run = payload.run;
      drawAll();
      // Compare with what is drawn (not the server's list): the first event repeats the page's state.
      const now = marks(run);
      const moved = [...now.keys()].filter((k) => seen.get(k) !== now.get(k));
      seen = now;
      if (!moved.length) return;
      // New values may turn a single value into a history: ask again which keys to chart.
      countsOf().then((c) => {
        counts = c;
        const keys = chartKeys(run, counts);
        chartsSection.hidden = !keys.length;
        panel.refresh(moved.filter((k) => keys.includes(k)), keys);
      });
    });
    source.addEventListener('gone', () => { source.close(); live = false; drawHeader(); });
  }
  // Keep the running duration ticking between events.
  const ticker = setInterval(() => { if (!run.info.end_time && run.info.status === 'RUNNING') drawOverview(); }, 5000);

  return () => {
    if (source) source.close();
    clearInterval(ticker);
    panel.destroy();
  };
}
