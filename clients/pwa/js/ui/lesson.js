/**
 * One lesson, as the instructor runs it in the car (admins see and edit the same view):
 * start and finish, attendance, notes auto-saved on the device as they are typed, skill
 * assessments from the catalogue, and the GPS route. Offline throughout: every change goes
 * to the outbox and is pushed when there is a connection.
 */

import { h, section, empty, badge, fmt, field, newId, sortBy, byKey, nowIso, plural } from './dom.js';
import { statusBadge, tripPoints } from './instructor.js';
import { recorder, routeSvg, routeView, distanceOf } from './trip.js';
import { STAGES } from './progress.js';
import { signatureSection } from './signature.js';

const LEVELS = ['', '1 · Introduced', '2 · Under instruction', '3 · Prompted', '4 · Seldom prompted', '5 · Independent'];
const SAVE_DELAY_MS = 400;

function noteEditor(app, note) {
  const id = `note-${note.id}`;
  const saved = h('span', { class: 'save-state', role: 'status', 'data-testid': 'note-state' },
    note._pending ? 'Saved on this device' : 'Synced');
  let timer = null;
  let last = note.body || '';
  const save = async () => {
    clearTimeout(timer);
    if (area.value === last) return;
    last = area.value;
    await app.mutate('lesson_note', 'patch', note.id, { body: area.value });
    saved.textContent = 'Saved on this device';
  };
  const area = h('textarea', {
    id, rows: 5, 'data-note-id': note.id, value: note.body || '', spellcheck: 'true',
    oninput: () => { saved.textContent = 'Editing…'; clearTimeout(timer); timer = setTimeout(save, SAVE_DELAY_MS); },
    onblur: save,
  });
  const priv = h('input', { type: 'checkbox', id: `${id}-private`, checked: !!note.private,
    onchange: () => app.mutate('lesson_note', 'patch', note.id, { private: priv.checked }) });
  const tags = h('input', { id: `${id}-tags`, value: (note.tags || []).join(', '),
    onchange: () => app.mutate('lesson_note', 'patch', note.id, {
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean).slice(0, 20).map((t) => t.slice(0, 40)) }) });
  return h('div', { class: 'note' },
    h('label', { for: id }, note.private ? 'Private note (instructors only)' : 'Note (the student sees it)'),
    area,
    h('div', { class: 'note-meta' },
      h('label', { class: 'check', for: priv.id }, priv, ' Private'),
      h('label', { for: tags.id, class: 'inline' }, 'Tags ', tags),
      saved));
}

function notesSection(app, lesson, notes) {
  const add = async () => {
    const noteId = app.newId();
    await app.mutate('lesson_note', 'put', noteId, { lesson_id: lesson.id, body: '', private: false, tags: [] });
    await app.refresh();
    setTimeout(() => { const el = document.getElementById(`note-${noteId}`); if (el) el.focus(); }, 150);
  };
  return section('Notes',
    notes.length ? notes.map((n) => noteEditor(app, n)) : empty('No notes yet.'),
    h('button', { type: 'button', onclick: add, 'data-testid': 'add-note' }, 'Add note'));
}

function assessSection(app, lesson, skills, assessments) {
  const done = sortBy(assessments.filter((a) => a.lesson_id === lesson.id), (a) => a.assessed_at);
  const skillById = byKey(skills);
  const selects = [];
  const byStage = new Map();
  // Retired skills are not offered; assessments already made still name them.
  for (const s of sortBy(skills.filter((x) => x.active !== false), (x) => x.stage * 1000 + x.position)) {
    if (!byStage.has(s.stage)) byStage.set(s.stage, []);
    byStage.get(s.stage).push(s);
  }
  const comment = h('input', { id: newId('comment'), maxlength: 2000 });
  const form = h('form', {
    class: 'assess',
    onsubmit: async (event) => {
      event.preventDefault();
      const chosen = selects.filter((sel) => sel.value);
      if (!chosen.length) { app.announce('Choose a level for at least one skill'); return; }
      const at = nowIso();
      for (const sel of chosen) {
        await app.mutate('skill_assessment', 'put', app.newId(), {
          lesson_id: lesson.id, skill_id: sel.dataset.skill, level: Number(sel.value),
          comment: comment.value.trim() || undefined, assessed_at: at });
      }
      app.announce(`${plural(chosen.length, 'assessment')} saved`);
      app.refresh();
    },
  },
  [...byStage].map(([stage, list]) => h('details', { class: 'stage', open: stage === 1 },
    h('summary', {}, STAGES[stage] || `Stage ${stage}`),
    list.map((s) => {
      const sel = h('select', { id: `skill-${s.id}`, 'data-skill': s.id, 'data-code': s.code },
        LEVELS.map((label, i) => h('option', { value: i ? String(i) : '' }, i ? label : '—')));
      selects.push(sel);
      return h('div', { class: 'skill-row' }, h('label', { for: sel.id }, s.name), sel);
    }))),
  field('Comment (optional)', comment),
  h('button', { type: 'submit', class: 'primary' }, 'Save assessment'));
  return section('Assessment',
    done.length ? h('h3', {}, 'Assessed in this lesson') : null,
    done.length ? h('ul', { class: 'plain assessed', 'data-testid': 'assessed' }, done.map((a) => h('li', {},
      `${(skillById.get(a.skill_id) || {}).name || 'Skill'}: level ${a.level}`, a._pending ? badge('not synced', 'pending') : null))) : null,
    skills.length ? form : empty('The skills catalogue has not been downloaded yet.'));
}

function tripSection(app, lesson, trips, segments) {
  const mineTrips = sortBy(trips.filter((t) => t.lesson_id === lesson.id), (t) => t.started_at || '');
  const recording = recorder.isRecording(lesson.id);
  const busyElsewhere = recorder.isRecording() && !recording;
  const live = h('div', { class: 'trip-live', 'aria-live': 'off' });
  const paint = (rec) => {
    if (!rec.state || rec.state.lessonId !== lesson.id) { live.replaceChildren(); return; }
    const st = rec.state;
    const secs = (Date.now() - new Date(st.startedAt).getTime()) / 1000;
    live.replaceChildren(...[
      h('dl', { class: 'stats' },
        h('div', {}, h('dt', {}, 'Distance'), h('dd', { 'data-testid': 'trip-distance' }, fmt.km(st.distance))),
        h('div', {}, h('dt', {}, 'Time'), h('dd', { 'data-testid': 'trip-time' }, fmt.duration(secs))),
        h('div', {}, h('dt', {}, 'GPS points'), h('dd', { 'data-testid': 'trip-points' }, String(st.points.length)))),
      rec.error ? h('p', { class: 'warn-text' }, rec.error) : null,
      routeSvg(st.points, { label: 'Route so far' })].filter(Boolean));
  };
  if (recording) { recorder.listener = paint; paint(recorder); }
  const canRecord = ['in_progress', 'scheduled'].includes(lesson.status) && !app.isAdmin;
  return section('Route',
    recording ? h('p', { class: 'recording' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), 'Recording route — works without signal') : null,
    live,
    // One toggle for focus (ui/focus.js): pressing one button renders the other in its place.
    recording ? h('button', { type: 'button', class: 'danger', 'data-focus': 'route-toggle', onclick: () => recorder.stop() }, 'Stop recording')
      : canRecord && !busyElsewhere ? h('button', { type: 'button', class: 'primary', 'data-focus': 'route-toggle', onclick: async () => { await recorder.start(app, lesson.id); app.refresh(); } }, 'Record route')
        : busyElsewhere ? h('p', { class: 'hint' }, 'A route is being recorded for another lesson.') : null,
    mineTrips.filter((t) => !(recording && recorder.state.tripId === t.id)).map((t) => {
      // Totals from the trip record (the server derives them); until it has, from the
      // points recorded here. The route itself may have to be fetched (routeView).
      const pts = t._pending || !t.distance_m ? tripPoints(t, segments) : null;
      const dist = pts ? distanceOf(pts) : t.distance_m;
      const dur = t.duration_s || (pts && pts.length > 1 ? (pts[pts.length - 1][0] - pts[0][0]) / 1000 : 0);
      return h('div', { class: 'trip', 'data-testid': 'trip' },
        routeView(app, t, segments, { label: 'Recorded route' }),
        h('p', { 'data-testid': 'trip-totals' }, `${fmt.km(dist)} · ${fmt.duration(dur)}${pts ? ` · ${plural(pts.length, 'point')}` : ''}`, t._pending ? badge('not synced', 'pending') : null));
    }),
    !mineTrips.length && !recording ? empty('No route recorded.') : null);
}

export async function lessonView(app, id) {
  const [lesson, students, notes, skills, assessments, trips, segments, signatures, threads] = await Promise.all([
    app.get('lesson', id), app.all('student'), app.all('lesson_note'), app.all('skill'),
    app.all('skill_assessment'), app.all('trip'), app.all('trip_segment'), app.all('lesson_signature'),
    app.all('thread')]);
  if (!lesson) return h('div', {}, h('h1', {}, 'Lesson'), empty('This lesson is not on this device.'));
  const student = byKey(students).get(lesson.student_id);
  const booking = lesson.booking_id ? await app.get('booking', lesson.booking_id) : null;
  const patch = (data, message) => async () => {
    if (data.status === 'completed' && recorder.isRecording(lesson.id)) await recorder.stop();
    await app.mutate('lesson', 'patch', lesson.id, data);
    app.announce(message);
    await app.refresh();
    // The pressed button is gone: keep keyboard users on the next step (the render keeps
    // it there through later syncs: its `data-focus` key is the same).
    (document.querySelector('#main .actions button') || document.querySelector('#main h1'))?.focus();
  };
  const actions = [];
  if (lesson.status === 'scheduled') {
    actions.push(h('button', { type: 'button', class: 'primary', 'data-focus': 'lesson-step', onclick: patch({ status: 'in_progress', started_at: nowIso(), attended: true }, 'Lesson started') }, 'Start lesson'));
    actions.push(h('button', { type: 'button', onclick: patch({ status: 'no_show', attended: false }, 'Marked as no-show') }, 'Student did not come'));
  }
  if (lesson.status === 'in_progress') {
    actions.push(h('button', { type: 'button', class: 'primary', 'data-focus': 'lesson-step', onclick: patch({ status: 'completed', ended_at: nowIso() }, 'Lesson finished') }, 'Finish lesson'));
  }
  const attended = h('input', { type: 'checkbox', id: 'attended', checked: !!lesson.attended,
    onchange: () => app.mutate('lesson', 'patch', lesson.id, { attended: attended.checked }) });
  return h('div', { class: 'lesson' },
    h('h1', {}, student ? student.name : 'Lesson', ' ', statusBadge(lesson.status)),
    h('p', { class: 'sub-line' }, `${fmt.day(lesson.scheduled_start)} · ${fmt.time(lesson.scheduled_start)}–${fmt.time(lesson.scheduled_end)}`,
      lesson.started_at ? ` · started ${fmt.time(lesson.started_at)}` : '', lesson.ended_at ? ` · finished ${fmt.time(lesson.ended_at)}` : '',
      lesson._pending ? badge('not synced', 'pending') : null,
      student ? h('a', { href: `#/student/${student.id}`, class: 'inline-link' }, 'Progress and history') : null,
      lessonThreadLink(app, lesson, student, threads)),
    booking && booking.pickup_location ? h('p', { class: 'pickup', 'data-testid': 'pickup' }, h('strong', {}, 'Pickup: '), booking.pickup_location) : null,
    h('div', { class: 'actions' }, actions),
    lesson.status !== 'scheduled' && lesson.status !== 'cancelled'
      ? h('p', {}, h('label', { class: 'check', for: 'attended' }, attended, ' Student attended')) : null,
    lesson.status === 'completed' ? signatureSection(app, lesson, student, signatures) : null,
    notesSection(app, lesson, sortBy(notes.filter((n) => n.lesson_id === id), (n) => n.id)),
    assessSection(app, lesson, skills, assessments),
    tripSection(app, lesson, trips, segments),
    lesson.status !== 'completed' ? signatureSection(app, lesson, student, signatures) : null);
}

/** The conversation about this lesson with its student (issue 13): open it, or start one
 * (the lesson's instructor, or an admin; the student needs an account). */
function lessonThreadLink(app, lesson, student, threads) {
  const thread = threads.find((t) => t.lesson_id === lesson.id);
  if (thread) return h('a', { href: `#/messages/${thread.id}`, class: 'inline-link', 'data-testid': 'lesson-thread' }, 'Messages about this lesson');
  const mine = app.isAdmin || lesson.instructor_id === app.user.instructor_id;
  if (!mine || !student || !student.user_id) return null;
  return h('a', { href: `#/messages/new/lesson/${lesson.id}`, class: 'inline-link', 'data-testid': 'lesson-thread' }, 'Message the student about this lesson');
}
