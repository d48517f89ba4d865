/**
 * Driving tests (`test_record`): the list shown to the student, their guardians and staff,
 * and the staff's form to record a booked test and, later, its result. Written through the
 * outbox like everything else, so it works offline; the server checks the record as a whole
 * (docs/protocol.md, "Test records": a score belongs to a theory test, faults to a practical
 * one, and neither to a test still booked) and a refusal lands in Problems.
 *
 * Also the theory practice summary (mock tests and practice answers) staff read on a
 * student's page.
 */

import { h, section, empty, badge, sortBy, field, plural } from './dom.js';

const KIND = { theory: 'Theory test', practical: 'Practical test' };
const RESULT_KIND = { booked: 'confirmed', passed: 'completed', failed: 'bad' };

/** A test's local day (YYYY-MM-DD, no timezone: the school's day) as people read it. */
export function testDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

function line(t) {
  const mark = t.kind === 'theory' && typeof t.score === 'number' ? ` · score ${t.score}`
    : t.kind === 'practical' && typeof t.faults === 'number' ? ` · ${plural(t.faults, 'driving fault')}` : '';
  return [h('strong', {}, KIND[t.kind] || t.kind), ` · ${testDay(t.date)}${t.time ? ` ${t.time}` : ''}`,
    t.centre ? ` · ${t.centre}` : '', ' ', badge(t.result, RESULT_KIND[t.result] || ''), mark,
    t._pending ? [' ', badge('not synced', 'pending')] : null];
}

/** The tests of one student, newest first; `onEdit(t)` adds an Edit button (staff). */
export function testsSection(tests, studentId, { onEdit = null, title = 'Driving tests' } = {}) {
  const list = sortBy(tests.filter((t) => t.student_id === studentId), (t) => `${t.date} ${t.time || ''}`, true);
  return section(title, list.length ? h('ul', { class: 'plain list', 'data-testid': 'test-records' }, list.map((t) => h('li', { 'data-id': t.id },
    line(t), t.notes ? h('p', { class: 'hint' }, t.notes) : null,
    onEdit ? [' ', h('button', { type: 'button', onclick: () => onEdit(t) }, 'Edit')] : null)))
    : empty('No driving tests booked yet.'));
}

/** Staff's form: a new test (booked) or an existing one edited (result, score or faults). */
export function testForm(app, studentId, current = null, done = () => app.refresh()) {
  const t = current || {};
  const kind = h('select', { id: 'test-kind', required: true, disabled: !!current },
    Object.entries(KIND).map(([value, label]) => h('option', { value, selected: t.kind === value }, label)));
  const date = h('input', { id: 'test-date', type: 'date', required: true, value: t.date || '' });
  const time = h('input', { id: 'test-time', type: 'time', value: t.time || '' });
  const centre = h('input', { id: 'test-centre', maxlength: 200, value: t.centre || '' });
  const result = h('select', { id: 'test-result' },
    ['booked', 'passed', 'failed'].map((value) => h('option', { value, selected: (t.result || 'booked') === value }, value)));
  const mark = h('input', { id: 'test-mark', type: 'number', min: 0, max: 1000, step: 1,
    value: t.kind === 'practical' ? (t.faults ?? '') : (t.score ?? '') });
  const markField = field('Score', mark, 'A theory test\'s score, or a practical test\'s driving faults, once it has a result.');
  const notes = h('textarea', { id: 'test-notes', rows: 2, maxlength: 2000, value: t.notes || '' });
  const label = () => { markField.querySelector('label').textContent = kind.value === 'practical' ? 'Driving faults' : 'Score'; };
  const showMark = () => { markField.hidden = result.value === 'booked'; };
  kind.onchange = label; result.onchange = showMark;
  label(); showMark();
  const save = async (event) => {
    event.preventDefault();
    const data = { kind: kind.value, date: date.value, time: time.value || null, centre: centre.value.trim() || null,
      result: result.value, notes: notes.value.trim() || null };
    const value = result.value === 'booked' || mark.value === '' ? null : Number(mark.value);
    data.score = kind.value === 'theory' ? value : null;
    data.faults = kind.value === 'practical' ? value : null;
    if (current) {
      delete data.kind;
      const changed = Object.fromEntries(Object.entries(data).filter(([k, v]) => (t[k] ?? null) !== v));
      if (Object.keys(changed).length) await app.mutate('test_record', 'patch', t.id, changed);
    } else {
      await app.mutate('test_record', 'put', app.newId(), { student_id: studentId, ...data });
    }
    app.announce(current ? 'Test saved' : `${KIND[kind.value]} recorded`);
    done();
  };
  return h('form', { class: 'test-form', 'data-testid': 'test-form', onsubmit: save },
    field('Test', kind), field('Date', date), field('Start time (optional)', time), field('Test centre', centre),
    field('Result', result), markField, field('Notes', notes),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'test-save' }, current ? 'Save test' : 'Record test')));
}

/** Staff's section on a student's page: the tests, a form to record one, Edit on each. */
export function staffTestsSection(app, tests, studentId) {
  const slot = h('div', {});
  const edit = (t) => { slot.replaceChildren(testForm(app, studentId, t)); slot.querySelector('input, select')?.focus(); };
  const list = testsSection(tests, studentId, { onEdit: edit });
  list.append(h('details', { class: 'record-test' }, h('summary', { 'data-testid': 'record-test' }, 'Record a test'), testForm(app, studentId)), slot);
  return list;
}

/** A student's theory practice for staff: mock tests (score, pass) and practice answers. */
export function theorySection(mockTests, attempts, studentId) {
  const mocks = sortBy(mockTests.filter((m) => m.student_id === studentId && typeof m.score === 'number'), (m) => m.finished_at, true);
  const practice = attempts.filter((a) => a.student_id === studentId && a.mode === 'practice');
  const right = practice.filter((a) => a.correct).length;
  return section('Theory practice',
    h('p', { 'data-testid': 'theory-practice' }, practice.length
      ? `${plural(practice.length, 'practice question')} answered · ${Math.round((100 * right) / practice.length)}% right`
      : 'No practice questions answered yet.'),
    mocks.length ? h('ul', { class: 'plain list', 'data-testid': 'mock-tests' }, mocks.slice(0, 10).map((m) => h('li', {},
      h('strong', {}, `${m.score} of ${m.total}`), ' · ', new Date(m.finished_at).toLocaleDateString(), ' ',
      badge(m.passed ? 'passed' : 'not passed', m.passed ? 'completed' : 'bad'))))
      : empty('No mock tests taken yet.'));
}
