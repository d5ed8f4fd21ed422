// Editing widgets shared by the model and model-version pages: description, tags, aliases and stage.
// Each widget only collects input and calls back; the page performs the write through `act`,
// which shows the server's message in place and always re-reads, so a failed write never
// leaves half-applied state on screen.

import {append, errorBox, h, replace} from '../dom.js';

export const STAGES = ['None', 'Staging', 'Production', 'Archived'];
const ALIAS_CHARS = /^[\p{L}\p{N}_-]+$/u;
const MAX_ALIAS = 255;

/** Why an alias name would be refused (the server's own rules), or '' when it is fine. */
export function aliasProblem(alias) {
  if (!alias) return 'Enter an alias name.';
  if (!ALIAS_CHARS.test(alias)) return 'Use only letters, digits, underscores (_) and dashes (-).';
  if (alias.length > MAX_ALIAS) return `At most ${MAX_ALIAS} characters.`;
  if (alias.toLowerCase() === 'latest') return '"latest" is reserved.';
  if (/^v\d+$/i.test(alias)) return `"${alias}" is reserved (it names a version).`;
  return '';
}

/**
 * Run one write: clear `slot`, await `write()`, show its error in `slot` on failure, then re-read with
 * `reload(ok)` either way. Returns true when the write succeeded.
 */
export async function act(slot, write, reload) {
  // No second submit while the first is in flight (a double click must not write twice). The form is
  // marked busy rather than its buttons disabled: disabling the focused button would lose keyboard focus.
  const form = document.activeElement && document.activeElement.closest('form');
  if (form && form.getAttribute('aria-busy') === 'true') return false;
  if (form) form.setAttribute('aria-busy', 'true');
  replace(slot);
  let ok = true;
  try {
    await write();
  } catch (err) {
    ok = false;
    replace(slot, errorBox(err));
  }
  if (reload) {
    try { await reload(ok); } catch (err) { append(slot, errorBox(err)); }
  }
  if (form) form.removeAttribute('aria-busy');
  return ok;
}

/**
 * Redraw `root` from fresh data without losing what the user is doing: the focused control (matched by
 * data-focus) gets focus back, and unsaved input (fields marked data-draft) is kept. After a successful
 * write (`ok`) the drafts of the form that sent it are dropped; after a failed one they stay for a retry.
 * `redraw(drafts)` gets the kept drafts so widgets can reopen an edit in progress.
 */
export function keepFocus(root, redraw, ok = true) {
  const active = root.contains(document.activeElement) ? document.activeElement : null;
  const key = active ? active.dataset.focus : null;
  const sent = ok && active ? active.closest('form') : null;
  const drafts = new Map([...root.querySelectorAll('[data-draft]')]
    .filter((el) => el.value && !(sent && sent.contains(el))).map((el) => [el.dataset.draft, el.value]));
  redraw(drafts);
  for (const el of root.querySelectorAll('[data-draft]')) {
    const value = drafts.get(el.dataset.draft);
    if (value === undefined || (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === value))) continue;
    el.value = value;
  }
  if (key) {
    // Fields first: a removed row's button hands focus back to the form field of its section.
    const all = [...root.querySelectorAll('[data-focus]')].filter((el) => el.dataset.focus === key);
    const again = all.find((el) => /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) || all[0];
    if (again) again.focus();
  }
}

/**
 * A description shown as text with an Edit button; editing swaps in a textarea with Save/Cancel.
 * A `draft` (kept across a redraw) reopens the editor with that text.
 */
export function descriptionEditor({text, label, onSave, draft}) {
  const box = h('div', {class: 'description'});
  const show = () => {
    const edit = h('button', {type: 'button', 'data-focus': 'description-edit', onclick: startEdit},
      text ? 'Edit description' : 'Add a description');
    replace(box, text ? h('p', {class: 'note'}, text) : h('p', {class: 'muted'}, 'No description.'), edit);
  };
  const startEdit = (initial) => {
    const area = h('textarea', {'aria-label': label || 'Description text', value: typeof initial === 'string' ? initial : text,
      'data-draft': 'description', 'data-focus': 'description-edit'});
    replace(box, h('form', {onsubmit: (e) => { e.preventDefault(); onSave(area.value); }}, area,
      h('div', {class: 'toolbar'}, h('button', {type: 'submit', class: 'primary', 'data-focus': 'description-edit'}, 'Save'),
        h('button', {type: 'button', onclick: () => { show(); box.querySelector('button').focus(); }}, 'Cancel'))));
    area.addEventListener('keydown', (e) => { if (e.key === 'Escape') { show(); box.querySelector('button').focus(); } });
    area.focus();
  };
  if (draft !== undefined) startEdit(draft); else show();
  return box;
}

/**
 * A tag table with Edit/Delete per row and an add form. `tags` is a list of {key, value};
 * `onSet(key, value)` and `onDelete(key)` perform the writes; `drafts` reopens value edits in progress.
 */
export function tagEditor({tags, onSet, onDelete, noun = 'tag', drafts}) {
  const list = [...(tags || [])].sort((a, b) => a.key.localeCompare(b.key));
  const rowFor = ({key, value}) => {
    const valueCell = h('td', {class: 'wrap'}, value);
    const edit = () => {
      const input = h('input', {type: 'text', value, 'aria-label': `Value of ${noun} ${key}`,
        'data-draft': 'tag-value-' + key, 'data-focus': 'tag-edit-' + key});
      replace(valueCell, h('form', {class: 'toolbar', onsubmit: (e) => { e.preventDefault(); onSet(key, input.value); }},
        input, h('button', {type: 'submit', class: 'primary', 'data-focus': 'tag-edit-' + key}, 'Save')));
      input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { replace(valueCell, value); row.querySelector('button').focus(); } });
      input.focus();
    };
    const row = h('tr', {dataset: {tag: key}}, h('th', {scope: 'row', class: 'wrap'}, key), valueCell,
      h('td', {class: 'actions'},
        h('button', {type: 'button', 'aria-label': `Edit ${noun} ${key}`, 'data-focus': 'tag-edit-' + key, onclick: edit}, 'Edit'), ' ',
        h('button', {type: 'button', class: 'danger', 'aria-label': `Delete ${noun} ${key}`,
          'data-focus': 'tag-add-key', onclick: () => onDelete(key)}, 'Delete')));
    if (drafts && drafts.has('tag-value-' + key)) edit();
    return row;
  };
  const keyIn = h('input', {type: 'text', placeholder: 'key', 'aria-label': `New ${noun} key`, 'data-focus': 'tag-add-key',
    'data-draft': 'tag-new-key'});
  const valIn = h('input', {type: 'text', placeholder: 'value', 'aria-label': `New ${noun} value`, 'data-draft': 'tag-new-value'});
  return h('div', {class: 'tag-editor'},
    h('div', {class: 'table-wrap'}, h('table', {class: 'tags'}, h('tbody', {},
      list.length ? list.map(rowFor) : h('tr', {}, h('td', {class: 'muted'}, `No ${noun}s.`))))),
    h('form', {class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      if (!keyIn.value.trim()) { keyIn.focus(); return; }
      onSet(keyIn.value.trim(), valIn.value);
    }}, keyIn, valIn, h('button', {type: 'submit', 'data-focus': 'tag-add-key'}, `Add ${noun}`)));
}

/** Why a registered model name would be refused (the server's own rules), or '' when it is fine. */
export function modelNameProblem(name) {
  if (!name) return 'Enter a name.';
  if (name.includes('/') || name.includes(':')) return "Names cannot contain '/' or ':'.";
  if (name.length > 256) return 'At most 256 characters.';
  return '';
}

/**
 * A text field validated as the user types (aria-invalid plus a message tied by aria-describedby).
 * Returns {input, hint, check}; check() answers the trimmed valid value or null.
 */
export function checkedField(id, problemOf, attrs) {
  const hint = h('span', {id: id + '-hint', class: 'hint', 'aria-live': 'polite'});
  const input = h('input', {type: 'text', id, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': id + '-hint',
    'data-draft': id, 'data-focus': id, ...attrs});
  const check = () => {
    const value = input.value.trim();
    const problem = problemOf(value);
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
    hint.textContent = problem;
    hint.classList.toggle('invalid', Boolean(problem));
    return problem ? null : value;
  };
  input.addEventListener('input', () => { if (input.value) check(); else { hint.textContent = ''; input.removeAttribute('aria-invalid'); } });
  return {input, hint, check};
}

export const aliasField = (id) => checkedField(id, aliasProblem, {placeholder: 'e.g. champion', class: 'alias-input'});

/**
 * A stage select that asks before it applies: picking a stage opens an inline confirmation with the
 * "archive existing versions" checkbox (Staging/Production only, as in MLflow), Apply and Cancel.
 * `onApply(stage, archiveExisting)` performs the transition.
 */
export function stageControl({version, current, others, onApply}) {
  const box = h('div', {class: 'stage-control'});
  const select = h('select', {'aria-label': `Stage of version ${version}`, 'data-focus': `stage-${version}`},
    STAGES.map((s) => h('option', {value: s, selected: s === (current || 'None')}, s)));
  const confirm = h('div', {class: 'stage-confirm'});
  const cancel = () => { select.value = current || 'None'; replace(confirm); select.focus(); };
  select.addEventListener('change', () => {
    const stage = select.value;
    if (stage === (current || 'None')) { replace(confirm); return; }
    const holders = (others || []).filter((v) => v.current_stage === stage && String(v.version) !== String(version));
    const archive = h('input', {type: 'checkbox', id: `archive-${version}`});
    const canArchive = stage === 'Staging' || stage === 'Production';
    replace(confirm, h('form', {class: 'toolbar', 'aria-label': `Move version ${version} to ${stage}`,
      onsubmit: (e) => { e.preventDefault(); onApply(stage, canArchive && archive.checked); },
      onkeydown: (e) => { if (e.key === 'Escape') cancel(); }},
    canArchive ? h('label', {for: `archive-${version}`}, archive,
      ` Archive existing ${stage} versions` + (holders.length ? ` (${holders.map((v) => 'v' + v.version).join(', ')})` : '')) : null,
    h('button', {type: 'submit', class: 'primary', 'data-focus': `stage-${version}`}, `Move to ${stage}`),
    h('button', {type: 'button', onclick: cancel}, 'Cancel')));
  });
  replace(box, select, confirm);
  return box;
}

/** A select of versions ("v3 · Production") for choosing where an alias points. */
export function versionSelect(versions, selected, label, focusKey, draftKey) {
  return h('select', {'aria-label': label, 'data-focus': focusKey, 'data-draft': draftKey},
    versions.map((v) => h('option', {value: String(v.version), selected: String(v.version) === String(selected)},
      'v' + v.version + (v.current_stage && v.current_stage !== 'None' ? ' · ' + v.current_stage : ''))));
}

export function stageBadge(stage) {
  if (!stage || stage === 'None') return null;
  return h('span', {class: 'badge stage stage-' + stage.toLowerCase()}, stage);
}
