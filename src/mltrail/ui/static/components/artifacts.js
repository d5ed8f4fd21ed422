// Artifact browser: a lazily expanded tree and a preview pane. Previews are text nodes,
// tables built cell by cell, or <img> from /get-artifact (served with nosniff and a sandbox CSP);
// HTML and SVG are never inserted as markup.

import * as api from '../api.js';
import {errorBox, h, replace} from '../dom.js';
import {parseCsv} from './csv.js';
import {dataTable, isJsonTable, jsonTable} from './jsontable.js';

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico)$/i;
const TEXT = /(\.(txt|log|md|py|json|jsonl|ya?ml|csv|tsv|html?|xml|svg|js|ts|sql|ini|cfg|toml|sh|r|java|c|h|cpp|go|rs|ipynb|prompt)|(^|\/)(MLmodel|requirements\.txt|conda\.yaml|python_env\.yaml|LICENSE|Dockerfile))$/i;
const MAX_PREVIEW_BYTES = 2 * 1024 * 1024;

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
}

/** The file list of a run, recursively (directories expanded), up to `limit` files. */
export async function listAllFiles(runId, limit = 500) {
  const out = [];
  const queue = [''];
  while (queue.length && out.length < limit) {
    const dir = queue.shift();
    for (const f of await api.listArtifacts(runId, dir)) {
      if (f.is_dir) queue.push(f.path); else out.push(f);
    }
  }
  return out;
}

function previewTable(rows) {
  const [head, ...body] = rows;
  const width = Math.max((head || []).length, ...body.map((r) => r.length));
  const columns = Array.from({length: width}, (_, i) => (head || [])[i] ?? '');
  return dataTable(columns, body, {cls: 'csv', maxRows: 500});
}

/** JSON as a table when it has MLflow's table layout (eval_results_table.json), else pretty-printed. */
function previewJson(text) {
  let value;
  try { value = JSON.parse(text); } catch { return h('pre', {}, text); }
  if (!isJsonTable(value)) return h('pre', {class: 'json'}, JSON.stringify(value, null, 2));
  return h('div', {class: 'json-table'}, jsonTable(value, {cls: 'eval-table'}),
    h('details', {}, h('summary', {}, 'Raw JSON'), h('pre', {class: 'json'}, JSON.stringify(value, null, 2))));
}

/** Render a preview of one file into `pane`. */
export async function showPreview(pane, runId, file) {
  const url = api.artifactUrl(runId, file.path);
  const head = h('div', {class: 'toolbar'}, h('strong', {}, file.path), h('span', {class: 'muted'}, fmtBytes(file.file_size)),
    h('a', {class: 'button', href: url, download: file.path.split('/').pop()}, 'Download'));
  replace(pane, head, h('p', {class: 'muted'}, 'Loading…'));
  const name = file.path.toLowerCase();
  if (IMAGE.test(name)) {
    // Raster images only: SVG is shown as source text, never as markup or <img>.
    replace(pane, head, h('img', {src: url, alt: file.path}));
    return;
  }
  if (!TEXT.test(name) && file.file_size > 256 * 1024) {
    replace(pane, head, h('p', {class: 'muted'}, 'No preview for this file type.'));
    return;
  }
  try {
    const text = await api.artifactText(runId, file.path, MAX_PREVIEW_BYTES);
    if (text === null) { replace(pane, head, h('p', {class: 'muted'}, 'Too large to preview; download it instead.')); return; }
    let body;
    if (/\.json$/.test(name)) {
      body = previewJson(text);
    } else if (/\.(csv|tsv)$/.test(name)) {
      body = previewTable(parseCsv(text, 500, name.endsWith('.tsv') ? '\t' : ','));
    } else {
      body = h('pre', {}, text);
    }
    replace(pane, head, body);
  } catch (err) {
    replace(pane, head, errorBox(err));
  }
}

/** The browser: a tree of the run's artifacts on the left, the preview on the right. */
export function artifactBrowser(runId) {
  const pane = h('div', {class: 'preview', 'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Select a file to preview it.'));
  const tree = h('nav', {class: 'tree', 'aria-label': 'Artifacts'});
  let current = null;

  async function listing(dir) {
    const ul = h('ul', {role: 'group'});
    let files;
    try { files = await api.listArtifacts(runId, dir); } catch (err) { return errorBox(err); }
    if (!files.length && !dir) return h('p', {class: 'muted'}, 'No artifacts.');
    files.sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
    for (const f of files) {
      const label = f.path.split('/').pop();
      if (f.is_dir) {
        const sub = h('div');
        const btn = h('button', {type: 'button', 'aria-expanded': 'false', dataset: {path: f.path}, onclick: async () => {
          const open = btn.getAttribute('aria-expanded') === 'true';
          btn.setAttribute('aria-expanded', String(!open));
          btn.firstChild.textContent = open ? '▸ ' : '▾ ';
          if (open) replace(sub); else replace(sub, await listing(f.path));
        }}, h('span', {}, '▸ '), label + '/');
        ul.append(h('li', {}, btn, sub));
      } else {
        const btn = h('button', {type: 'button', dataset: {path: f.path}, title: f.path, onclick: () => {
          if (current) current.removeAttribute('aria-current');
          current = btn;
          btn.setAttribute('aria-current', 'true');
          showPreview(pane, runId, f);
        }}, label);
        ul.append(h('li', {}, btn));
      }
    }
    return ul;
  }

  listing('').then((el) => tree.append(el));
  return h('div', {class: 'artifacts'}, h('div', {class: 'panel'}, tree), h('div', {class: 'panel'}, pane));
}
