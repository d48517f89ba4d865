/**
 * The school's money for admins: payments, refunds, instructors' payouts, invoices and
 * students' balances, filtered by dates, status, student and instructor (where it applies), with totals over everything that matches and a
 * CSV download of the same rows (`GET /v1/admin/money/{kind}`). These tables are read on the
 * server (refunds are in no replica, and an admin's device need not hold every invoice), so
 * the screen needs a connection.
 */

import { h, empty, fmt, field, sortBy } from './dom.js';
import { accessToken } from '../api.js';

const KINDS = {
  payments: {
    label: 'Payments',
    statuses: ['pending', 'succeeded', 'failed', 'partially_refunded', 'refunded'],
    head: ['When', 'Student', 'For', 'Amount', 'Status', 'Paid by'],
    cells: (r) => [fmt.dateTime(r.at), r.student_name || '', paidFor(r),
      fmt.money(r.amount_cents, r.currency), words(r.status), r.provider === 'desk' ? 'At the desk' : 'Card'],
    totals: (t, c) => `${fmt.money(t.amount_cents, c)} in all`,
  },
  refunds: {
    label: 'Refunds',
    statuses: ['pending', 'succeeded', 'failed', 'canceled'],
    head: ['When', 'Student', 'Instructor', 'Amount', 'Status'],
    cells: (r) => [fmt.dateTime(r.at), r.student_name || '', r.instructor_name || '', fmt.money(r.amount_cents, r.currency), words(r.status)],
    totals: (t, c) => `${fmt.money(t.amount_cents, c)} refunded`,
  },
  payouts: {
    label: 'Payouts',
    statuses: ['pending', 'cancelled'],
    head: ['Lesson', 'Instructor', 'Student', 'Gross', 'Fee', 'Net', 'Share', 'Transfer'],
    cells: (r) => [fmt.dateTime(r.lesson_start || r.at), r.instructor_name || '', r.student_name || '', fmt.money(r.gross_cents, r.currency),
      fmt.money(r.fee_cents, r.currency), fmt.money(r.net_cents, r.currency), words(r.status), words(r.transfer_status) || 'not sent'],
    totals: (t, c) => `gross ${fmt.money(t.gross_cents, c)}, fee ${fmt.money(t.fee_cents, c)}, net ${fmt.money(t.net_cents, c)}`,
  },
  invoices: {
    label: 'Invoices',
    statuses: ['paid', 'credited', 'issued', 'void'],
    head: ['Issued', 'Number', 'Student', 'Paid by', 'Total', 'Status'],
    cells: (r) => [fmt.dateTime(r.at), `${r.number}${r.kind === 'credit_note' ? ' (credit note)' : ''}`, r.student_name || '',
      r.payer_name || '', fmt.money(r.total_cents, r.currency), words(r.status)],
    totals: (t, c) => `${fmt.money(t.total_cents, c)} net of credit notes`,
  },
  balances: {
    label: 'Balances',
    statuses: ['owing', 'settled'],
    head: ['Student', 'Lessons left', 'Minutes left', 'Owed', 'Credit expires', 'Last change'],
    cells: (r) => [r.student_name || '', String(r.lessons_left), String(r.minutes_left), fmt.money(r.owed_cents, r.currency),
      r.next_expiry ? fmt.day(r.next_expiry) : '', fmt.dateTime(r.at)],
    totals: (t, c) => `${fmt.money(t.owed_cents, c)} owed, ${t.lessons_left} lessons and ${t.minutes_left} minutes of credit left`,
  },
};

const state = { kind: 'payments', status: '', student_id: '', instructor_id: '', since: '', until: '' };

function words(status) { return (status || '').replace(/_/g, ' '); }

/** What a payment paid for: a lesson (when, with whom), a package, or the balance. */
function paidFor(r) {
  if (r.purpose === 'package') return `Package: ${r.package_name || 'lessons'}`;
  if (r.purpose === 'balance') return 'Balance owed';
  return r.lesson_start ? `Lesson ${fmt.day(r.lesson_start)} ${fmt.time(r.lesson_start)} · ${r.instructor_name || ''}` : 'Lesson';
}

function query(extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v && k !== 'kind') q.set(k, v);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

/** Fetch a file with the signed-in user's token and hand it to the browser as a download
 * (an <a download> on a blob URL: the token never appears in an address). */
async function download(path, fallbackName) {
  let token = await accessToken();
  let resp = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, referrerPolicy: 'no-referrer' });
  if (resp.status === 401) {
    token = await accessToken({ refresh: true });
    resp = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, referrerPolicy: 'no-referrer' });
  }
  if (!resp.ok) {
    let message = resp.statusText;
    try { message = (await resp.json()).error.message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  const named = /filename="([^"]+)"/.exec(resp.headers.get('Content-Disposition') || '');
  const url = URL.createObjectURL(await resp.blob());
  const a = h('a', { href: url, download: named ? named[1] : fallbackName, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function moneyView(app) {
  const currency = (app.session && app.session.school && app.session.school.currency) || 'GBP';
  const [students, instructors] = await Promise.all([app.all('student'), app.all('instructor')]);
  const kind = h('select', { id: 'money-kind' },
    Object.entries(KINDS).map(([k, v]) => h('option', { value: k, selected: state.kind === k }, v.label)));
  const status = h('select', { id: 'money-status' });
  function fillStatuses() {
    status.replaceChildren(h('option', { value: '' }, 'Any status'),
      KINDS[kind.value].statuses.map((s) => h('option', { value: s, selected: state.status === s }, words(s))));
  }
  fillStatuses();
  const noInstructor = () => ['invoices', 'balances'].includes(kind.value);
  kind.addEventListener('change', () => {
    state.status = '';
    fillStatuses();
    instructor.disabled = noInstructor(); // an invoice or a balance names no instructor
    if (instructor.disabled) instructor.value = '';
  });
  const student = h('select', { id: 'money-student' }, h('option', { value: '' }, 'Every student'),
    sortBy(students, (s) => s.name).map((s) => h('option', { value: s.id, selected: state.student_id === s.id }, s.name)));
  const instructor = h('select', { id: 'money-instructor' }, h('option', { value: '' }, 'Every instructor'),
    sortBy(instructors, (i) => i.name).map((i) => h('option', { value: i.id, selected: state.instructor_id === i.id }, i.name)));
  instructor.disabled = noInstructor();
  const since = h('input', { id: 'money-since', type: 'date', value: state.since });
  const until = h('input', { id: 'money-until', type: 'date', value: state.until });
  const head = h('thead', {});
  const body = h('tbody', {});
  const summary = h('p', { role: 'status', class: 'hint', 'data-testid': 'money-status' });
  const more = h('button', { type: 'button', hidden: true, 'data-testid': 'money-more' }, 'Older rows');
  const csv = h('button', { type: 'button', 'data-testid': 'money-csv' }, 'Download CSV');
  let next = null;

  async function load(append) {
    if (!navigator.onLine) { summary.textContent = 'The money views need a connection: you are offline.'; return; }
    const spec = KINDS[state.kind];
    const q = query({ limit: '50' });
    if (append && next) q.set('before', next);
    summary.textContent = 'Loading…';
    try {
      const page = await app.api('GET', `/v1/admin/money/${state.kind}?${q}`);
      if (!append) {
        head.replaceChildren(h('tr', {}, spec.head.map((t) => h('th', { scope: 'col' }, t))));
        body.replaceChildren();
      }
      body.append(...page.rows.map((r) => h('tr', { 'data-money-id': r.id }, spec.cells(r).map((c) => h('td', {}, c)))));
      next = page.next;
      more.hidden = !next;
      summary.textContent = page.count
        ? `${page.count} ${spec.label.toLowerCase()}: ${spec.totals(page.totals, currency)}.${next ? ` Showing the newest ${body.children.length}.` : ''}`
        : `No ${spec.label.toLowerCase()} match.`;
    } catch (err) {
      summary.textContent = `Could not load the ${spec.label.toLowerCase()}: ${err.message}`;
    }
  }
  more.addEventListener('click', () => load(true));
  csv.addEventListener('click', async () => {
    if (!navigator.onLine) { summary.textContent = 'Downloading needs a connection.'; return; }
    try {
      await download(`/v1/admin/money/${state.kind}?${query({ format: 'csv' })}`, `${state.kind}.csv`);
    } catch (err) {
      summary.textContent = `Could not download: ${err.message}`;
    }
  });
  const form = h('form', {
    class: 'filters money-filters',
    onsubmit: (event) => {
      event.preventDefault();
      Object.assign(state, {
        kind: kind.value, status: status.value, student_id: student.value,
        instructor_id: instructor.value, since: since.value, until: until.value,
      });
      load(false);
    },
  }, field('Show', kind), field('Status', status), field('Student', student), field('Instructor', instructor),
  field('From', since), field('To', until), h('button', { type: 'submit', class: 'primary' }, 'Show'));
  const table = h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Money rows' },
    h('table', { class: 'data', 'data-testid': 'money' }, head, body));
  const root = h('div', {}, h('h1', {}, 'Money'), form, h('div', { class: 'actions' }, csv), summary, table, more);
  if (!navigator.onLine) root.append(empty('Connect to see the school\'s payments, refunds and payouts.'));
  await load(false);
  return root;
}
