// Column chooser for the runs table: params, metrics and tags, remembered per experiment set.

import {h, replace} from '../dom.js';

const STORAGE_PREFIX = 'mltrail.columns.';

export function storedColumns(experimentIds) {
  try {
    const raw = localStorage.getItem(STORAGE_PREFIX + experimentIds.join(','));
    return raw ? JSON.parse(raw) : null;
  } catch { return null; }
}

export function storeColumns(experimentIds, columns) {
  try { localStorage.setItem(STORAGE_PREFIX + experimentIds.join(','), JSON.stringify(columns)); } catch { /* private mode */ }
}

/** A sensible first choice: a few metrics, then a few params. */
export function defaultColumns(keys) {
  return [...keys.metrics.slice(0, 4).map((k) => 'metrics.' + k), ...keys.params.slice(0, 4).map((k) => 'params.' + k)];
}

/**
 * A panel of checkboxes; `onChange(columns)` gets the new ordered list of "kind.key" ids.
 * System tags (mlflow.*) are left out: the table shows the useful ones as base columns.
 */
export function columnChooser(keys, chosen, onChange) {
  const selected = new Set(chosen);
  const filter = h('input', {type: 'search', placeholder: 'Find a column', 'aria-label': 'Find a column'});
  const body = h('div');
  const groups = [['metrics', 'Metrics'], ['params', 'Params'], ['tags', 'Tags']];
  function draw() {
    const needle = filter.value.trim().toLowerCase();
    replace(body, groups.map(([kind, label]) => {
      const list = (keys[kind] || []).filter((k) => !(kind === 'tags' && k.startsWith('mlflow.')))
        .filter((k) => !needle || k.toLowerCase().includes(needle));
      if (!list.length) return null;
      return h('fieldset', {}, h('legend', {}, label), list.map((key) => {
        const id = kind + '.' + key;
        const box = h('input', {type: 'checkbox', checked: selected.has(id), dataset: {column: id}, onchange: () => {
          if (box.checked) selected.add(id); else selected.delete(id);
          // Keep the user's earlier order and append new choices at the end.
          const ordered = chosen.filter((c) => selected.has(c));
          for (const c of selected) if (!ordered.includes(c)) ordered.push(c);
          chosen = ordered;
          onChange(ordered);
        }});
        return h('label', {}, box, ' ', key);
      }));
    }));
    if (!body.childNodes.length || [...body.childNodes].every((n) => !n)) replace(body, h('p', {class: 'muted'}, 'No columns.'));
  }
  filter.addEventListener('input', draw);
  draw();
  return h('div', {class: 'panel columns-panel', role: 'group', 'aria-label': 'Choose columns'}, filter, body);
}
