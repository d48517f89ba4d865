/**
 * Earnings. An instructor's totals per week or month come from their synced `payout`
 * records (so they work offline), grouped by the lesson's date in the school's time zone
 * like the server's sync/core/earnings.py; setting up payouts (Stripe Connect onboarding)
 * needs a connection. Admins read every instructor's earnings from the admin API.
 */

import { h, section, empty, badge, fmt, sortBy, plural } from './dom.js';

const TRANSFER_LABEL = {
  sending: ['Sending', 'pending'],
  sent: ['Sent to Stripe', 'confirmed'],
  payout_failed: ['Bank payout failed', 'bad'],
  paid_out: ['Paid out', 'completed'],
  reversed: ['Taken back', 'bad'],
};

const CONNECT_TEXT = {
  none: 'Payouts are not set up: your share of paid lessons waits here until you connect a bank account with Stripe.',
  pending: 'Stripe is waiting for your details: finish the set-up to be paid.',
  enabled: 'Payouts are on: your share of each completed, paid lesson is sent to your Stripe account.',
  restricted: 'Stripe needs more from you before it can pay you: open the set-up again.',
};

/** "YYYY-MM-DD" of an instant in a time zone. */
function localDate(iso, timeZone) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date(iso));
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

function addDaysIso(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** [key, first day, day after] of the ISO week or month a local date falls in. */
export function periodOf(day, period) {
  if (period === 'month') {
    const [y, m] = day.split('-').map(Number);
    const next = m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
    return [day.slice(0, 7), `${day.slice(0, 7)}-01`, next];
  }
  const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday 0
  const start = addDaysIso(day, -weekday);
  const thursday = new Date(`${addDaysIso(start, 3)}T00:00:00Z`); // its year is the ISO year
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86400000));
  return [`${year}-W${String(week).padStart(2, '0')}`, start, addDaysIso(start, 7)];
}

/** Totals per period and instructor, newest first (cancelled payouts earn nothing). */
export function groupPayouts(payouts, timeZone, period) {
  const out = new Map();
  for (const p of payouts) {
    if (p.status === 'cancelled' || p.deleted) continue;
    const [key, start, end] = periodOf(localDate(p.lesson_start || p.created_at, timeZone), period);
    const id = `${key}|${p.instructor_id}|${p.currency}`;
    if (!out.has(id)) {
      out.set(id, {
        period: key, start, end, instructor_id: p.instructor_id, currency: p.currency,
        lessons: 0, gross_cents: 0, fee_cents: 0, net_cents: 0, reversed_cents: 0, transferred_cents: 0, paid_out_cents: 0,
      });
    }
    const g = out.get(id);
    const kept = p.net_cents - (p.reversed_cents || 0);
    g.lessons += 1;
    g.gross_cents += p.gross_cents;
    g.fee_cents += p.fee_cents;
    g.net_cents += kept;
    g.reversed_cents += p.reversed_cents || 0;
    if (['sent', 'payout_failed', 'paid_out'].includes(p.transfer_status)) g.transferred_cents += kept;
    if (p.transfer_status === 'paid_out') g.paid_out_cents += kept;
  }
  return sortBy([...out.values()], (g) => `${g.start}|${g.instructor_id}`, true);
}

function periodLabel(g, period) {
  const opts = { timeZone: 'UTC', day: 'numeric', month: 'short' };
  if (period === 'month') {
    return new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', month: 'long', year: 'numeric' }).format(new Date(`${g.start}T00:00:00Z`));
  }
  const f = new Intl.DateTimeFormat(undefined, opts);
  return `Week of ${f.format(new Date(`${g.start}T00:00:00Z`))}`;
}

function periodSwitch(base, period) {
  return h('nav', { class: 'segmented', 'aria-label': 'Group by' },
    [['week', 'Weeks'], ['month', 'Months']].map(([p, label]) => h('a', {
      href: `#/${base}/${p}`, 'aria-current': p === period ? 'page' : null, 'data-testid': `period-${p}`,
    }, label)));
}

function tableWrap(label, table) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

function totalsTable(groups, period, names) {
  // The share first after the count: on a phone it is in view without scrolling.
  const cols = [...(names ? ['Instructor'] : []), period === 'month' ? 'Month' : 'Week', 'Lessons', names ? 'Instructor share' : 'Your share', 'Paid', 'School fee', 'Paid out'];
  return tableWrap('Earnings, scrollable', h('table', { 'data-testid': 'earnings-table' },
    h('thead', {}, h('tr', {}, cols.map((c, i) => h('th', { scope: 'col', class: i >= cols.length - 5 ? 'money' : null }, c)))),
    h('tbody', {}, groups.map((g) => h('tr', { 'data-period': g.period },
      names ? h('td', {}, names.get(g.instructor_id) || 'Instructor') : null,
      h('th', { scope: 'row' }, periodLabel(g, period)),
      h('td', { class: 'money' }, String(g.lessons)),
      h('td', { class: 'money', 'data-testid': 'net' }, h('strong', {}, fmt.money(g.net_cents, g.currency))),
      h('td', { class: 'money' }, fmt.money(g.gross_cents, g.currency)),
      h('td', { class: 'money' }, fmt.money(g.fee_cents, g.currency)),
      h('td', { class: 'money' }, fmt.money(g.paid_out_cents, g.currency)))))));
}

function summary(groups, currency) {
  const current = groups[0];
  const total = groups.reduce((n, g) => n + g.net_cents, 0);
  const lessons = groups.reduce((n, g) => n + g.lessons, 0);
  const waiting = groups.reduce((n, g) => n + g.net_cents - g.transferred_cents, 0);
  return h('dl', { class: 'stats earn-stats', 'data-testid': 'earnings-summary' },
    h('div', {}, h('dt', {}, 'Latest period'), h('dd', {}, fmt.money(current ? current.net_cents : 0, currency))),
    h('div', {}, h('dt', {}, `All ${plural(lessons, 'lesson')}`), h('dd', {}, fmt.money(total, currency))),
    h('div', {}, h('dt', {}, 'Not sent yet'), h('dd', {}, fmt.money(waiting, currency))));
}

function payoutsSection(app, instructor, sub) {
  const status = (instructor && instructor.connect_status) || 'none';
  const note = h('p', { role: 'status', class: 'hint', 'data-testid': 'onboarding-status' });
  const online = navigator.onLine;
  const button = h('button', {
    type: 'button',
    class: status === 'enabled' ? '' : 'primary',
    disabled: online ? null : true,
    'data-testid': 'setup-payouts',
    onclick: async () => {
      button.disabled = true;
      note.textContent = 'Opening Stripe…';
      try {
        const { url } = await app.api('POST', '/v1/me/payouts/onboarding');
        location.assign(url);
      } catch (err) {
        note.textContent = err.status === 503 ? 'Payouts are not available on this server.' : `Could not open Stripe: ${err.message}`;
        button.disabled = false;
      }
    },
  }, status === 'enabled' ? 'Update payout details' : status === 'none' ? 'Set up payouts' : 'Continue set-up');
  const back = sub === 'done' ? 'Thanks: Stripe has your details. Payouts switch on here as soon as Stripe confirms them.'
    : sub === 'refresh' ? 'That set-up link expired: open it again.' : null;
  return section('Payouts',
    h('p', { 'data-testid': 'connect-status' }, badge(status === 'enabled' ? 'On' : status === 'none' ? 'Not set up' : status === 'pending' ? 'Waiting for details' : 'Needs attention',
      status === 'enabled' ? 'completed' : status === 'restricted' ? 'bad' : 'pending'), ' ', CONNECT_TEXT[status] || ''),
    back ? h('p', { class: 'hint' }, back) : null,
    h('div', { class: 'actions' }, button),
    online ? null : h('p', { class: 'hint' }, 'Setting up payouts needs a connection: you are offline.'),
    note);
}

function recentSection(payouts) {
  const recent = sortBy(payouts.filter((p) => p.status !== 'cancelled'), (p) => p.lesson_start || p.created_at, true).slice(0, 8);
  if (!recent.length) return null;
  return section('Recent lessons',
    h('ul', { class: 'plain list', 'data-testid': 'recent-payouts' }, recent.map((p) => {
      const [label, kind] = TRANSFER_LABEL[p.transfer_status] || ['Waiting', ''];
      return h('li', { class: 'earn-row earn-lesson' },
        h('span', { class: 'when' }, fmt.day(p.lesson_start || p.created_at)),
        h('span', {}, `${fmt.money(p.net_cents - (p.reversed_cents || 0), p.currency)} of ${fmt.money(p.gross_cents, p.currency)}`),
        badge(label, kind));
    })));
}

/** The instructor's Earnings screen (#/earnings[/week|/month|/done|/refresh]). */
export async function earningsView(app, sub) {
  const period = sub === 'month' ? 'month' : 'week';
  const school = (app.session && app.session.school) || {};
  const tz = school.timezone || 'Europe/London';
  const currency = school.currency || 'GBP';
  const [payouts, instructors] = await Promise.all([app.all('payout'), app.all('instructor')]);
  const mine = payouts.filter((p) => p.instructor_id === app.user.instructor_id);
  const me = instructors.find((i) => i.id === app.user.instructor_id);
  const groups = groupPayouts(mine, tz, period);
  return h('div', {},
    h('h1', {}, 'Earnings'),
    h('p', { class: 'hint' }, `Your share of each paid lesson after the school's fee, by the lesson's date (${tz}). Kept on this device: readable offline.`),
    payoutsSection(app, me, sub),
    section(period === 'month' ? 'By month' : 'By week',
      periodSwitch('earnings', period),
      groups.length ? summary(groups, currency) : null,
      groups.length ? totalsTable(groups, period, null) : empty('No paid lessons yet.')),
    recentSection(mine));
}

/** The admins' earnings view, per instructor, from the admin API (online only). */
export async function adminEarnings(app, sub) {
  const period = sub === 'month' ? 'month' : 'week';
  const root = h('div', {}, h('h1', {}, 'Earnings'),
    h('p', { class: 'hint' }, 'What each instructor earned from paid lessons, after the school\'s fee.'));
  if (!navigator.onLine) { root.append(empty('Earnings need a connection: you are offline.')); return root; }
  let body;
  try {
    body = await app.api('GET', `/v1/admin/earnings?period=${period}`);
  } catch (err) {
    root.append(empty(`Could not load earnings: ${err.message}`));
    return root;
  }
  const names = new Map(Object.entries(body.instructors || {}));
  const groups = body.groups || [];
  const byInstructor = new Map();
  for (const g of groups) {
    const t = byInstructor.get(g.instructor_id) || { lessons: 0, net: 0, fee: 0, currency: g.currency };
    t.lessons += g.lessons; t.net += g.net_cents; t.fee += g.fee_cents;
    byInstructor.set(g.instructor_id, t);
  }
  root.append(section(period === 'month' ? 'By month' : 'By week',
    periodSwitch('earnings', period),
    byInstructor.size ? h('ul', { class: 'plain list', 'data-testid': 'instructor-totals' },
      sortBy([...byInstructor.entries()], ([id]) => names.get(id) || id).map(([id, t]) => h('li', { class: 'earn-row' },
        h('strong', {}, names.get(id) || 'Instructor'),
        h('span', {}, `${plural(t.lessons, 'lesson')} · share ${fmt.money(t.net, t.currency)} · school fee ${fmt.money(t.fee, t.currency)}`)))) : null,
    groups.length ? totalsTable(groups, period, names) : empty('No paid lessons yet.')));
  return root;
}
