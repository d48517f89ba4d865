/**
 * The admin dashboard: the school's synced data as it arrives (re-rendered on every poke,
 * no reload), the journal of conflicts and rejections with resolve and replay, the
 * notification log with dead letters and retry, and each device's sync health. The
 * journal, notifications and devices are read live from the admin API (online only).
 */

import { h, section, empty, badge, fmt, byKey, sortBy, startOfDay, addDays, field, plural } from './dom.js';
import { statusBadge, lessonItem, tripPoints } from './instructor.js';
import { routeSvg } from './trip.js';
import { timeOffClashes } from './availability.js';
import { templatesView } from './templates.js';

/** A table that may scroll sideways on a phone: its container takes focus (tabindex 0, a
 * named region) so that keyboard users can scroll it too. */
function tableWrap(label, table) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

function offlineNote(what) {
  return empty(`${what} needs a connection: you are offline.`);
}

async function people(app) {
  const [students, instructors] = await Promise.all([app.all('student'), app.all('instructor')]);
  const names = new Map();
  for (const s of students) if (s.user_id) names.set(s.user_id, `${s.name} (student)`);
  for (const i of instructors) if (i.user_id) names.set(i.user_id, `${i.name} (instructor)`);
  names.set(app.user.id, `${app.user.name || 'You'} (you)`);
  return { names, students: byKey(students), instructors: byKey(instructors) };
}

/**
 * The open conflicts tile: the count is the journal's (read live), so offline it says it
 * needs a connection rather than showing a stale number. Filled in after the dashboard
 * renders, so the replica's data never waits for the network.
 */
function conflictsTile(app) {
  const n = h('span', { class: 'n', 'data-testid': 'open-conflicts' }, '…');
  const label = h('span', {}, 'Open conflicts');
  const tile = h('a', { class: 'tile', href: '#/journal' }, n, label);
  if (!navigator.onLine) { n.textContent = '—'; label.textContent = 'Open conflicts (needs a connection)'; return tile; }
  app.api('GET', '/v1/admin/journal?status=open&kind=conflict&limit=1').then((body) => {
    const count = (body.open || {}).conflict || 0;
    n.textContent = String(count);
    n.dataset.count = String(count);
    label.textContent = count === 1 ? 'Open conflict' : 'Open conflicts';
  }).catch(() => { n.textContent = '—'; label.textContent = 'Open conflicts (could not load)'; });
  return tile;
}

export async function dashboard(app) {
  const [lessons, notes, trips, segments, tests, progress, { students, instructors }] = await Promise.all([
    app.all('lesson'), app.all('lesson_note'), app.all('trip'), app.all('trip_segment'), app.all('mock_test'),
    app.all('student_progress'), people(app)]);
  const from = startOfDay();
  const to = addDays(from, 1);
  const todays = sortBy(lessons.filter((l) => new Date(l.scheduled_start) >= from && new Date(l.scheduled_start) < to
    || l.status === 'in_progress' || (l.started_at && new Date(l.started_at) >= from)), (l) => l.scheduled_start);
  const count = (st) => todays.filter((l) => l.status === st).length;
  const lessonById = byKey(lessons);
  const latestNotes = sortBy(notes, (n) => n.updated_at || '9999', true).slice(0, 6);
  const latestTrips = sortBy(trips, (t) => t.started_at || '', true).slice(0, 3);
  const prog = byKey(progress, 'student_id');
  const testsBy = new Map();
  for (const t of tests) {
    if (!testsBy.has(t.student_id)) testsBy.set(t.student_id, []);
    testsBy.get(t.student_id).push(t);
  }
  const studentName = (id) => (students.get(id) || {}).name || 'Student';
  const underTimeOff = await timeOffClashes(app);
  return h('div', { class: 'dashboard' },
    h('h1', {}, 'Dashboard', h('span', { class: 'sub' }, fmt.day(new Date().toISOString()))),
    h('div', { class: 'tiles' },
      [['Lessons today', todays.length], ['In progress', count('in_progress')], ['Completed', count('completed')], ['No-shows', count('no_show')]]
        .map(([label, n]) => h('div', { class: 'tile' }, h('span', { class: 'n' }, String(n)), h('span', {}, label))), conflictsTile(app)),
    underTimeOff,
    h('div', { class: 'grid' },
      section('Lessons today', todays.length ? h('ul', { class: 'plain list', 'data-testid': 'dash-lessons' }, todays.map((l) => lessonItem(l, students, instructors)))
        : empty('No lessons today.')),
      section('Latest notes', latestNotes.length ? h('ul', { class: 'plain notes', 'data-testid': 'latest-notes' }, latestNotes.map((n) => {
        const l = lessonById.get(n.lesson_id);
        return h('li', {},
          h('p', { class: 'hint' }, h('a', { href: `#/lesson/${n.lesson_id}` }, studentName(n.student_id || (l && l.student_id))),
            l ? ` · ${fmt.day(l.scheduled_start)}` : '', n.updated_at ? ` · edited ${fmt.dateTime(n.updated_at)}` : '',
            n.private ? badge('private', 'private') : null, n._pending ? badge('not synced', 'pending') : null),
          h('p', { class: 'note-text' }, (n.body || '').slice(0, 400) || h('em', {}, '(empty)')));
      })) : empty('No notes yet.')),
      section('Latest routes', latestTrips.length ? h('div', { class: 'trips', 'data-testid': 'latest-trips' }, latestTrips.map((t) => h('figure', { class: 'trip' },
        routeSvg(tripPoints(t, segments), { label: `Route with ${studentName(t.student_id)}` }),
        h('figcaption', {}, `${studentName(t.student_id)} · ${fmt.day(t.started_at)} · ${fmt.km(t.distance_m)} · ${fmt.duration(t.duration_s)}`)))) : empty('No routes yet.')),
      section('Students', tableWrap('Students, scrollable', h('table', { 'data-testid': 'students-table' },
        h('thead', {}, h('tr', {}, ['Student', 'Readiness', 'Mock tests', 'Latest score', 'Passed'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, sortBy([...students.values()], (s) => s.name).map((s) => {
          const ts = sortBy((testsBy.get(s.id) || []).filter((t) => typeof t.score === 'number'), (t) => t.finished_at, true);
          return h('tr', {},
            h('th', { scope: 'row' }, h('a', { href: `#/student/${s.id}` }, s.name)),
            h('td', {}, `${(prog.get(s.id) || {}).readiness_pct ?? 0}%`),
            h('td', {}, String(ts.length)),
            h('td', {}, ts.length ? `${ts[0].score}/${ts[0].total}` : '—'),
            h('td', {}, ts.some((t) => t.passed) ? 'Yes' : 'Not yet'));
        })))))),
    h('p', {}, h('a', { href: '#/journal' }, 'Sync journal'), ' · ', h('a', { href: '#/devices' }, 'Devices')));
}

// ------------------------------------------------------------------------------ journal
/**
 * The lesson and student an entry is about, from the replica (an admin's holds the whole
 * school): the record itself, or the lesson / student / booking it points to, looked up in
 * what the entry carries (the kept record, the sent data) and then in the replica.
 */
export async function subjectOf(app, e) {
  const data = { ...((e.mutation && e.mutation.data) || {}), ...(e.loser || {}), ...(e.record || {}) };
  const local = e.record_id ? await app.get(e.entity, e.record_id) : null;
  const fields = { ...data, ...(local || {}) };
  let lesson = null;
  if (e.entity === 'lesson') lesson = local || (e.record_id ? { id: e.record_id, ...data } : null);
  else if (fields.lesson_id) lesson = (await app.get('lesson', fields.lesson_id)) || { id: fields.lesson_id };
  if (!lesson && e.entity === 'booking' && e.record_id) {
    lesson = (await app.all('lesson')).find((l) => l.booking_id === e.record_id) || null;
  }
  const studentId = e.entity === 'student' ? e.record_id : fields.student_id || (lesson && lesson.student_id);
  const student = studentId ? (await app.get('student', studentId)) || { id: studentId } : null;
  return { lesson, student };
}

/** What was done with a closed entry, in words. */
export function resolutionText(e, names) {
  const r = e.resolution || {};
  let what;
  if (r.keep === 'server') what = 'kept the school\'s version';
  else if (r.keep === 'client') what = 'kept the device\'s version';
  else if (r.keep === 'text') what = 'saved a combined text';
  else if (r.result) what = `replayed: ${r.result.status === 'rejected' ? 'rejected again' : r.result.status || 'done'}`;
  else what = e.status;
  const who = e.resolved_by ? ` by ${names.get(e.resolved_by) || 'an admin'}` : '';
  const when = e.resolved_at ? ` on ${fmt.dateTime(e.resolved_at)}` : '';
  return `Resolved${who}${when}: ${what}.`;
}

function entryView(app, e, names, reload, subject) {
  const status = h('p', { role: 'status', class: 'hint' });
  const act = (fn) => async () => {
    try { await fn(); status.textContent = 'Done.'; app.announce('Journal entry updated'); reload(); } catch (err) { status.textContent = `Failed: ${err.message}`; }
  };
  const kept = e.record && e.record.body !== undefined ? e.record.body : e.record ? JSON.stringify(e.record, null, 1) : '—';
  const theirs = e.loser && e.loser.body !== undefined ? e.loser.body : e.mutation ? JSON.stringify(e.mutation.data ?? e.mutation, null, 1) : '—';
  const actions = [];
  if (e.status === 'open' && e.kind === 'conflict') {
    const text = h('textarea', { id: `resolve-${e.id}`, rows: 4, value: theirs });
    actions.push(
      h('button', { type: 'button', onclick: act(() => app.api('POST', `/v1/admin/conflicts/${e.id}/resolve`, { keep: 'server' })) }, 'Keep the school\'s version'),
      e.entity === 'lesson_note' ? h('button', { type: 'button', 'data-testid': 'keep-client', onclick: act(() => app.api('POST', `/v1/admin/conflicts/${e.id}/resolve`, { keep: 'client' })) }, 'Keep the device\'s version') : null,
      e.entity === 'lesson_note' ? h('details', {}, h('summary', {}, 'Write a combined text'),
        h('label', { for: text.id }, 'Text to keep'), text,
        h('button', { type: 'button', class: 'primary', 'data-testid': 'keep-text', onclick: act(() => app.api('POST', `/v1/admin/conflicts/${e.id}/resolve`, { keep: 'text', text: text.value })) }, 'Save this text')) : null);
  }
  if (e.status === 'open' && e.kind === 'rejected') {
    actions.push(h('button', { type: 'button', onclick: act(async () => {
      const r = await app.api('POST', `/v1/admin/rejections/${e.id}/replay`);
      if (r.result && r.result.status === 'rejected') throw new Error(`rejected again: ${r.result.error ? r.result.error.message : ''}`);
    }) }, 'Replay'));
  }
  return h('li', { class: `card inner entry ${e.kind}`, 'data-testid': 'journal-entry', 'data-kind': e.kind, 'data-status': e.status },
    // A heading per entry (its "Kept" and "Sent" are h3 under it): the outline reads
    // h1 journal → h2 entry → h3 versions.
    h('h2', { class: 'entry-head' }, badge(e.kind.replace('_', ' '), e.kind === 'conflict' ? 'bad' : 'warn'), ' ', badge(e.status, e.status === 'open' ? '' : 'completed'), ' ',
      h('strong', {}, e.entity.replace('_', ' ')), ` · ${e.code} · ${fmt.dateTime(e.received_at)}`),
    h('p', {}, e.message),
    subject.lesson || subject.student ? h('p', { 'data-testid': 'entry-subject' },
      subject.lesson ? h('a', { href: `#/lesson/${subject.lesson.id}` },
        subject.lesson.scheduled_start ? `Lesson of ${fmt.day(subject.lesson.scheduled_start)} ${fmt.time(subject.lesson.scheduled_start)}` : 'The lesson') : null,
      subject.lesson && subject.student ? ' · ' : null,
      subject.student ? h('a', { href: `#/student/${subject.student.id}` }, subject.student.name || 'The student') : null) : null,
    h('p', { class: 'hint' }, `From ${names.get(e.user_id) || 'a user'} · device ${String(e.client_id || '').slice(0, 8)} · seq ${e.seq}`),
    h('div', { class: 'compare' },
      h('div', {}, h('h3', {}, 'Kept'), h('pre', { 'data-testid': 'entry-kept' }, kept)),
      h('div', {}, h('h3', {}, e.kind === 'conflict' ? 'Device\'s version' : 'Sent'), h('pre', { 'data-testid': 'entry-theirs' }, theirs))),
    e.status !== 'open' ? h('p', { class: 'hint', 'data-testid': 'entry-resolution' }, resolutionText(e, names)) : null,
    actions.length ? h('div', { class: 'actions' }, actions) : null,
    status);
}

const journalState = { status: 'open', kind: '' };

export async function journal(app) {
  const root = h('div', {}, h('h1', {}, 'Sync journal'));
  const list = h('div', { 'data-testid': 'journal' });
  const statusSel = h('select', { id: 'j-status', onchange: () => { journalState.status = statusSel.value; load(); } },
    [['open', 'Open'], ['', 'All']].map(([v, l]) => h('option', { value: v, selected: journalState.status === v }, l)));
  const kindSel = h('select', { id: 'j-kind', onchange: () => { journalState.kind = kindSel.value; load(); } },
    [['', 'Everything'], ['conflict', 'Conflicts'], ['rejected', 'Rejections'], ['lost_field', 'Overridden fields']].map(([v, l]) => h('option', { value: v, selected: journalState.kind === v }, l)));
  root.append(h('div', { class: 'filters' },
    h('label', { for: 'j-status' }, 'Show '), statusSel, h('label', { for: 'j-kind' }, ' of '), kindSel), list);
  const { names } = await people(app);
  async function load() {
    if (!navigator.onLine) { list.replaceChildren(offlineNote('The journal')); return; }
    list.replaceChildren(h('p', { class: 'hint' }, 'Loading…'));
    try {
      const q = new URLSearchParams();
      if (journalState.status) q.set('status', journalState.status);
      if (journalState.kind) q.set('kind', journalState.kind);
      const body = await app.api('GET', `/v1/admin/journal?${q}`);
      const open = body.open || {};
      list.replaceChildren(
        h('p', {}, `Open: ${plural(open.conflict || 0, 'conflict')}, ${plural(open.rejected || 0, 'rejection')}, ${plural(open.lost_field || 0, 'overridden field')}.`),
        body.entries.length ? h('ul', { class: 'plain' }, await Promise.all(body.entries.map(async (e) => entryView(app, e, names, load, await subjectOf(app, e)))))
          : empty('Nothing here.'));
    } catch (err) {
      list.replaceChildren(empty(`Could not load the journal: ${err.message}`));
    }
  }
  await load();
  return root;
}

// ------------------------------------------------------------------------------ notifications
const notifState = { status: 'dead' };

export async function notifications(app, sub, kind) {
  if (sub === 'templates') return templatesView(app, kind); // the school's wording (ui/templates.js)
  const root = h('div', {}, h('h1', {}, 'Notifications'),
    h('p', {}, h('a', { href: '#/notifications/templates', class: 'button-link', 'data-testid': 'open-templates' }, 'Edit the school\'s notification wording')));
  if (!navigator.onLine) { root.append(offlineNote('The notification log')); return root; }
  const status = h('p', { role: 'status', class: 'hint' });
  const filter = h('select', { id: 'n-status', onchange: () => { notifState.status = filter.value; app.refresh(); } },
    [['dead', 'Dead letters'], ['failed', 'Failed attempts'], ['sent', 'Sent'], ['', 'Everything']]
      .map(([v, l]) => h('option', { value: v, selected: notifState.status === v }, l)));
  let body;
  try {
    body = await app.api('GET', `/v1/admin/notifications${notifState.status ? `?status=${notifState.status}` : ''}`);
  } catch (err) {
    root.append(section('Delivery log', h('p', { 'data-testid': 'notifications-unavailable' }, err.status === 404
      ? 'The notification log is not available on this server yet.' : `Could not load the notification log: ${err.message}`)));
    return root;
  }
  const { names } = await people(app);
  const retry = (outboxId) => async () => {
    try {
      await app.api('POST', `/v1/admin/notifications/${outboxId}/retry`);
      status.textContent = 'Queued for another attempt.';
      app.announce('Queued for another attempt');
      app.refresh();
    } catch (err) { status.textContent = `Retry failed: ${err.message}`; }
  };
  const dead = body.dead_events || [];
  const lines = body.notifications || [];
  root.append(h('div', { class: 'filters' }, h('label', { for: 'n-status' }, 'Show '), filter), status);
  if (notifState.status === 'dead') {
    root.append(section('Events that could not be delivered', dead.length
      ? h('ul', { class: 'plain list', 'data-testid': 'dead-letters' }, dead.map((e) => h('li', { class: 'card inner' },
        h('p', {}, h('strong', {}, e.event_type), ' ', badge('dead', 'bad')),
        h('p', { class: 'hint' }, `${plural(e.attempts, 'attempt')} · ${fmt.dateTime(e.created_at)}`),
        e.last_error ? h('p', {}, `Last error: ${e.last_error}`) : null,
        h('button', { type: 'button', onclick: retry(e.outbox_id) }, 'Retry'))))
      : empty('No dead letters.')));
  }
  root.append(section('Delivery log', lines.length ? tableWrap('Delivery log, scrollable', h('table', { 'data-testid': 'notification-log' },
    h('thead', {}, h('tr', {}, ['When', 'Event', 'Channel', 'To', 'Status', 'Attempt', 'Error', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, lines.map((n) => h('tr', {},
      h('td', {}, fmt.dateTime(n.created_at)), h('td', {}, n.event_type), h('td', {}, n.channel),
      h('td', {}, names.get(n.user_id) || '—'),
      h('td', {}, badge(n.status, ['dead', 'failed'].includes(n.status) ? 'bad' : n.status === 'sent' ? 'completed' : '')),
      h('td', {}, String(n.attempts ?? n.attempt ?? '')), h('td', {}, n.error || ''),
      h('td', {}, n.outbox_status === 'dead' ? h('button', { type: 'button', onclick: retry(n.outbox_id) }, 'Retry') : null))))))
    : empty('Nothing in the log for this filter.')));
  return root;
}

// ------------------------------------------------------------------------------ devices
export async function devices(app) {
  const root = h('div', {}, h('h1', {}, 'Devices'));
  if (!navigator.onLine) { root.append(offlineNote('Device health')); return root; }
  let body;
  try {
    body = await app.api('GET', '/v1/admin/devices');
  } catch (err) {
    root.append(empty(`Could not load devices: ${err.message}`));
    return root;
  }
  const { names } = await people(app);
  const rows = body.devices || [];
  const stale = (d) => d.last_seen_at && Date.now() - new Date(d.last_seen_at).getTime() > 86400e3;
  root.append(section(`Sync health · server at rev ${body.rev}`, rows.length ? tableWrap('Devices, scrollable', h('table', { 'data-testid': 'devices' },
    h('thead', {}, h('tr', {}, ['User', 'Device', 'App', 'Last seen', 'Pending', 'Acked seq', 'Lag (revs)', 'Clock skew'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((d) => h('tr', { class: stale(d) ? 'stale' : '' },
      h('th', { scope: 'row' }, names.get(d.user_id) || d.user_id.slice(0, 8)),
      h('td', { class: 'mono' }, `${(d.client_id || '').slice(0, 8)} ${d.platform || ''}`),
      h('td', {}, d.app_version || '—'),
      h('td', {}, d.last_seen_at ? fmt.ago(new Date(d.last_seen_at).getTime()) : '—'),
      h('td', {}, d.pending ?? '—'),
      h('td', {}, String(d.acked_seq)),
      h('td', {}, d.lag_revs ?? '—'),
      h('td', {}, d.clock_skew_ms ? `${Math.round(d.clock_skew_ms / 1000)} s` : '—')))))) : empty('No device has synced yet.')));
  return root;
}

/**
 * The school's settings (online only): the mock-test pass mark above all, branding and the
 * platform fee. Students' devices get a change with their next token refresh.
 */
export async function school(app) {
  const root = h('div', {}, h('h1', {}, 'School'));
  if (!navigator.onLine) { root.append(offlineNote('School settings')); return root; }
  let current;
  try {
    current = await app.api('GET', '/v1/admin/school');
  } catch (err) {
    root.append(empty(`Could not load the school: ${err.message}`));
    return root;
  }
  const defaultColour = '#1f6feb';
  const input = (name, attrs) => h('input', { id: `school-${name}`, name, value: current[name] ?? '', ...attrs });
  const controls = {
    name: input('name', { required: true, maxlength: 200 }),
    pass_mark: input('pass_mark', { type: 'number', min: 1, max: 500, required: true }),
    pass_total: input('pass_total', { type: 'number', min: 1, max: 500, required: true }),
    brand_color: input('brand_color', { type: 'color', value: current.brand_color || defaultColour }),
    logo_url: input('logo_url', { type: 'url', placeholder: 'https://…', maxlength: 500 }),
    fee_pct: h('input', { id: 'school-fee', name: 'fee_pct', type: 'number', min: 0, max: 100, step: 0.01,
      value: (current.platform_fee_bps / 100).toString(), required: true }),
    cancel_cutoff_hours: input('cancel_cutoff_hours', { type: 'number', min: 0, max: 720, required: true }),
    late_fee: h('input', { id: 'school-late-fee', name: 'late_fee', type: 'number', min: 0, step: 0.01,
      value: (current.late_fee_cents / 100).toFixed(2), required: true }),
  };
  const status = h('p', { role: 'status', 'data-testid': 'school-status' });
  const save = async (event) => {
    event.preventDefault();
    const form = {
      name: controls.name.value.trim(),
      pass_mark: Number(controls.pass_mark.value),
      pass_total: Number(controls.pass_total.value),
      brand_color: controls.brand_color.value,
      logo_url: controls.logo_url.value.trim() || null,
      platform_fee_bps: Math.round(Number(controls.fee_pct.value) * 100),
      cancel_cutoff_hours: Number(controls.cancel_cutoff_hours.value),
      late_fee_cents: Math.round(Number(controls.late_fee.value) * 100),
    };
    // Send only what changed (a colour picker always holds a colour: untouched, it is not one).
    const shown = { ...current, brand_color: current.brand_color || defaultColour };
    const body = Object.fromEntries(Object.entries(form).filter(([k, v]) => v !== shown[k]));
    if (!Object.keys(body).length) { status.textContent = 'Nothing to save.'; return; }
    status.textContent = 'Saving…';
    try {
      current = await app.api('PATCH', '/v1/admin/school', body);
      if (app.session) app.session.school = { ...app.session.school, ...current };
      status.textContent = `Saved. Pass mark ${current.pass_mark} of ${current.pass_total}.`;
      app.announce('School settings saved');
    } catch (err) {
      const named = { platform_fee_bps: 'fee_pct', late_fee_cents: 'late_fee' };
      const where = err.details?.field ? controls[named[err.details.field] || err.details.field] : null;
      status.textContent = `Not saved: ${err.message}`;
      if (where) where.focus();
    }
  };
  root.append(section(`${current.name} · ${current.slug}`,
    h('form', { 'data-testid': 'school-form', onsubmit: save },
      field('School name', controls.name),
      field('Mock test pass mark', controls.pass_mark, 'Correct answers needed to pass (43 in Great Britain).'),
      field('Questions in a mock test', controls.pass_total, 'The pass mark is out of this many (50 in Great Britain); other lengths are scaled.'),
      field('Brand colour', controls.brand_color),
      field('Logo address', controls.logo_url, 'An https:// address, or empty.'),
      field('Platform fee (%)', controls.fee_pct, 'Taken from each paid lesson; the rest is the instructor\'s share.'),
      field('Cancellation notice (hours)', controls.cancel_cutoff_hours, 'A student who cancels a confirmed lesson later than this before its start owes the late fee. Judged by when they cancelled, even offline.'),
      field(`Late cancellation fee (${current.currency})`, controls.late_fee, 'Recorded on the booking; 0 for none. Cancellations by instructors or the office owe nothing.'),
      h('p', { class: 'hint' }, `Time zone ${current.timezone} and currency ${current.currency} are fixed once the school has data.`),
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'school-save' }, 'Save'),
      status)));
  return root;
}

export { statusBadge };
