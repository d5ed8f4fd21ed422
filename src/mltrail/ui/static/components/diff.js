// Line diff (longest common subsequence) rendered side by side.

import {h} from '../dom.js';

const MAX_CELLS = 16e6;

/**
 * Diff two texts by lines. Returns rows [{type: 'same'|'change'|'del'|'add', left, right, ln, rn}].
 * Common prefix/suffix are trimmed first so typical edits stay cheap; very large middles fall back
 * to showing the whole middle as changed.
 */
export function diffLines(a, b) {
  const A = a.split(/\r?\n/);
  const B = b.split(/\r?\n/);
  let start = 0;
  while (start < A.length && start < B.length && A[start] === B[start]) start++;
  let endA = A.length;
  let endB = B.length;
  while (endA > start && endB > start && A[endA - 1] === B[endB - 1]) { endA--; endB--; }
  const ops = [];
  for (let i = 0; i < start; i++) ops.push(['same', i, i]);
  const n = endA - start;
  const m = endB - start;
  if (n * m > MAX_CELLS) {
    for (let i = 0; i < n; i++) ops.push(['del', start + i, null]);
    for (let j = 0; j < m; j++) ops.push(['add', null, start + j]);
  } else {
    // lcs[i][j] = LCS length of A[start+i..endA) and B[start+j..endB)
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = A[start + i] === B[start + j] ? lcs[(i + 1) * w + j + 1] + 1
          : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && A[start + i] === B[start + j]) { ops.push(['same', start + i, start + j]); i++; j++; }
      // Deletions first, so a changed line pairs with its replacement below.
      else if (i < n && (j >= m || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) { ops.push(['del', start + i, null]); i++; }
      else { ops.push(['add', null, start + j]); j++; }
    }
  }
  for (let k = 0; k < A.length - endA; k++) ops.push(['same', endA + k, endB + k]);
  // Pair a run of deletions with the following additions so changed lines sit side by side.
  const rows = [];
  for (let k = 0; k < ops.length;) {
    if (ops[k][0] === 'same') { rows.push({type: 'same', left: A[ops[k][1]], right: B[ops[k][2]], ln: ops[k][1] + 1, rn: ops[k][2] + 1}); k++; continue; }
    const dels = [];
    const adds = [];
    while (k < ops.length && ops[k][0] === 'del') dels.push(ops[k++][1]);
    while (k < ops.length && ops[k][0] === 'add') adds.push(ops[k++][2]);
    for (let t = 0; t < Math.max(dels.length, adds.length); t++) {
      const l = dels[t];
      const r = adds[t];
      rows.push({type: l !== undefined && r !== undefined ? 'change' : l !== undefined ? 'del' : 'add',
        left: l !== undefined ? A[l] : null, right: r !== undefined ? B[r] : null,
        ln: l !== undefined ? l + 1 : null, rn: r !== undefined ? r + 1 : null});
    }
  }
  return rows;
}

/** A side-by-side table; every line goes in as text. */
export function diffTable(rows, leftTitle, rightTitle) {
  const changed = rows.filter((r) => r.type !== 'same').length;
  return h('div', {},
    h('p', {class: 'muted diff-summary'}, changed ? `${changed} changed line(s)` : 'The files are identical.'),
    h('div', {class: 'table-wrap'}, h('table', {class: 'diff'},
      h('colgroup', {}, h('col', {class: 'ln'}), h('col'), h('col', {class: 'ln'}), h('col')),
      h('thead', {}, h('tr', {}, h('th', {class: 'ln'}), h('th', {}, leftTitle), h('th', {class: 'ln'}), h('th', {}, rightTitle))),
      h('tbody', {}, rows.map((r) => h('tr', {class: r.type},
        h('td', {class: 'ln'}, r.ln ?? ''), h('td', {class: r.left !== null && r.type !== 'same' ? 'del' : ''}, r.left ?? ''),
        h('td', {class: 'ln'}, r.rn ?? ''), h('td', {class: r.right !== null && r.type !== 'same' ? 'add' : ''}, r.right ?? '')))))));
}
