// Tables of data as HTML tables, cell by cell as text: CSV previews and MLflow's JSON tables
// ({"columns": [...], "data": [[...], ...]}, the layout of eval_results_table.json).

import {fmtNumber, h} from '../dom.js';

/** Whether a parsed JSON value is MLflow's table layout: {columns: [...], data: [[...], ...]}. */
export function isJsonTable(value) {
  return Boolean(value) && typeof value === 'object' && Array.isArray(value.columns) && Array.isArray(value.data)
    && value.data.every(Array.isArray);
}

/** One cell as text: numbers formatted, objects as compact JSON, null as empty. */
export function cellText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return fmtNumber(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** A table of `rows` under `columns`; at most `maxRows` rows, with a note saying how many were left out. */
export function dataTable(columns, rows, {cls = 'data-table', maxRows = 1000} = {}) {
  const shown = rows.slice(0, maxRows);
  const numeric = columns.map((_, i) => shown.length > 0 && shown.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number'));
  return h('div', {},
    h('div', {class: 'table-wrap'}, h('table', {class: cls},
      h('thead', {}, h('tr', {}, columns.map((c, i) => h('th', {scope: 'col', class: numeric[i] ? 'num' : null, title: cellText(c)},
        cellText(c))))),
      h('tbody', {}, shown.map((r) => h('tr', {}, columns.map((_, i) => {
        const text = cellText(r[i]);
        return h('td', {class: numeric[i] ? 'num' : 'cell', title: text}, text);
    })))))),
    rows.length > shown.length ? h('p', {class: 'muted'}, `Showing the first ${shown.length} of ${rows.length} rows.`) : null);
}

/** MLflow's JSON table as an HTML table. */
export function jsonTable(value, options) {
  return dataTable(value.columns, value.data, options);
}
