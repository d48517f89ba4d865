/**
 * Sync problems shown to the user: mutations the server rejected (with the reason and what
 * it kept), conflicts (the kept text and the user's losing version, which an admin can
 * restore from the journal), and fields overridden by newer edits.
 */

import { h, fmt } from './dom.js';
import { dismissProblem, problems } from '../replica.js';

const LABEL = { rejected: 'Not accepted', conflict: 'Conflict', overridden: 'Overridden' };

function show(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 1);
}

function describe(p) {
  const kept = p.record;
  const keptText = kept ? (kept.body !== undefined ? kept.body : kept.status !== undefined ? `status: ${kept.status}` : show(kept)) : 'nothing (the change did not apply)';
  const mine = p.loser || p.sent;
  const mineText = mine ? (mine.body !== undefined ? mine.body : show(mine)) : '—';
  return h('li', { class: `problem ${p.kind}` },
    h('p', {}, h('strong', {}, `${LABEL[p.kind] || p.kind}: `), `${p.entity.replace('_', ' ')} · ${fmt.ago(p.at)}`),
    h('p', {}, p.message || p.code || ''),
    p.code ? h('p', { class: 'hint' }, `Code: ${p.code}${p.field ? ` (field ${p.field})` : ''}`) : null,
    h('div', { class: 'compare' },
      h('div', {}, h('h3', {}, 'The school kept'), h('pre', { 'data-testid': 'kept' }, keptText)),
      h('div', {}, h('h3', {}, 'You sent'), h('pre', {}, mineText))));
}

/** Open the problems dialog (a modal <dialog>: focus trapped, Esc closes). */
export async function problemsDialog(app) {
  const list = await problems(app.db);
  const dialog = h('dialog', { class: 'problems', 'aria-labelledby': 'problems-title' });
  const close = () => { dialog.close(); dialog.remove(); app.refresh(); };
  dialog.append(
    h('h2', { id: 'problems-title' }, 'Sync problems'),
    list.length ? h('ul', { class: 'plain' }, list.map(describe)) : h('p', {}, 'No problems.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: async () => { await dismissProblem(app.db); close(); } }, 'Dismiss all'),
      h('button', { type: 'button', onclick: close }, 'Close')),
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
