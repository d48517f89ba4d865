/**
 * The audit log for admins: who changed what and when, filtered by person, kind of record
 * and dates, newest first, a page at a time (`GET /v1/admin/audit`). The log stays on the
 * server (it is not part of any replica), so this screen needs a connection.
 */

import { h, empty, fmt, field, sortBy } from './dom.js';
import { PULLED_ENTITIES } from '../transport.js';

const state = { user_id: '', entity: '', since: '', until: '' };

const ACTIONS = { 'sync.put': 'created', 'sync.patch': 'changed', 'sync.delete': 'deleted' };

/** Where a line's record can be opened in the app, if anywhere. */
function recordLink(e) {
  if (!e.record_id) return null;
  if (e.entity === 'lesson') return `#/lesson/${e.record_id}`;
  if (e.entity === 'student' || e.entity === 'instructor') return `#/person/${e.entity}/${e.record_id}`;
  return null;
}

function what(e) {
  const verbText = ACTIONS[e.action] || e.action.replace(/^admin\./, '').replace(/_/g, ' ');
  const entity = (e.entity || '').replace(/_/g, ' ');
  return `${entity} ${verbText}`.trim();
}

/** What to call a line's record: a person's name or a lesson's day and student, from the
 * replica; else the start of its id. */
function recordName(e, labels) {
  return labels.get(e.record_id) || (e.record_id || '').slice(0, 8);
}

function row(e, labels) {
  const link = recordLink(e);
  const fields = e.details && Array.isArray(e.details.fields) ? e.details.fields.join(', ') : '';
  const status = e.details && e.details.status && e.details.status !== 'applied' ? ` (${e.details.status})` : '';
  return h('tr', { 'data-audit-id': e.id },
    h('td', { class: 'when' }, fmt.dateTime(e.at)),
    h('td', {}, e.user_name || e.user_email || 'Unknown', e.role ? h('span', { class: 'hint' }, ` · ${e.role}`) : null),
    h('td', {}, what(e) + status),
    h('td', {}, link ? h('a', { href: link }, recordName(e, labels)) : recordName(e, labels)),
    h('td', {}, fields));
}

export async function auditView(app) {
  const [students, instructors, lessons] = await Promise.all([app.all('student'), app.all('instructor'), app.all('lesson')]);
  const labels = new Map([...students, ...instructors].map((p) => [p.id, p.name]));
  for (const l of lessons) labels.set(l.id, `${fmt.day(l.scheduled_start)} · ${labels.get(l.student_id) || 'lesson'}`);
  const people = sortBy([
    ...students.filter((s) => s.user_id).map((s) => [s.user_id, `${s.name} (student)`]),
    ...instructors.filter((i) => i.user_id).map((i) => [i.user_id, `${i.name} (instructor)`]),
    [app.user.id, `${app.user.name || 'You'} (you)`],
  ], (p) => p[1]);
  const person = h('select', { id: 'audit-person' }, h('option', { value: '' }, 'Anyone'),
    people.map(([id, name]) => h('option', { value: id, selected: state.user_id === id }, name)));
  const entity = h('select', { id: 'audit-entity' }, h('option', { value: '' }, 'Every kind of record'),
    [...PULLED_ENTITIES, 'trip_segment', 'school'].sort().map((n) => h('option', { value: n, selected: state.entity === n }, n.replace(/_/g, ' '))));
  const since = h('input', { id: 'audit-since', type: 'date', value: state.since });
  const until = h('input', { id: 'audit-until', type: 'date', value: state.until });
  const body = h('tbody', {});
  const status = h('p', { role: 'status', class: 'hint', 'data-testid': 'audit-status' });
  const more = h('button', { type: 'button', hidden: true, 'data-testid': 'audit-more' }, 'Older lines');
  let next = null;
  async function load(append) {
    if (!navigator.onLine) { status.textContent = 'The audit log needs a connection: you are offline.'; return; }
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v) q.set(k, v);
    if (append && next) q.set('before', next);
    status.textContent = 'Loading…';
    try {
      const page = await app.api('GET', `/v1/admin/audit?${q}`);
      if (!append) body.replaceChildren();
      body.append(...page.entries.map((e) => row(e, labels)));
      next = page.next;
      more.hidden = !next;
      const shown = body.children.length;
      status.textContent = shown ? `${shown} line${shown === 1 ? '' : 's'} shown${next ? ', older ones below' : ''}.` : 'No changes match.';
    } catch (err) {
      status.textContent = `Could not load the audit log: ${err.message}`;
    }
  }
  more.addEventListener('click', () => load(true));
  const form = h('form', {
    class: 'filters audit-filters',
    onsubmit: (event) => {
      event.preventDefault();
      Object.assign(state, { user_id: person.value, entity: entity.value, since: since.value, until: until.value });
      load(false);
    },
  }, field('Person', person), field('Record', entity), field('From', since), field('To', until),
  h('button', { type: 'submit', class: 'primary' }, 'Show'));
  const table = h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Audit log lines' },
    h('table', { class: 'data', 'data-testid': 'audit' },
      h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Record', 'Fields'].map((t) => h('th', { scope: 'col' }, t)))),
      body));
  const root = h('div', {}, h('h1', {}, 'Audit log'), form, status, table, more);
  if (!navigator.onLine) root.append(empty('Connect to see who changed what.'));
  await load(false);
  return root;
}
