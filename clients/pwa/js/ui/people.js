/**
 * People (admins): the school's students and instructors from the replica, with forms to
 * add, edit and deactivate them and to choose a student's primary instructor. Every change
 * goes through the outbox like any other write, so the office works offline too; the
 * server checks each one (docs/protocol.md, "People") and a refusal lands in Problems.
 *
 * Guardians (parents, carers) are people too: a guardian with an email is invited like a
 * student, and the learners they follow are `guardian_student` links, ticked on their form.
 *
 * Assignments are their own records (`student_instructor`): choosing a primary instructor
 * patches the student's existing assignment to them or creates one; the server clears the
 * previous primary. A student who is deactivated leaves the school (not undone); an
 * instructor can be made active again.
 */

import { h, section, empty, badge, fmt, sortBy, field } from './dom.js';

const STUDENT_FIELDS = ['name', 'email', 'phone', 'licence_number', 'date_of_birth',
  'theory_test_date', 'practical_test_date', 'goals'];
const INSTRUCTOR_FIELDS = ['name', 'email', 'phone', 'adi_number', 'specialties'];
const GUARDIAN_FIELDS = ['name', 'email', 'phone'];

async function load(app) {
  const [students, instructors, assignments] = await Promise.all([
    app.all('student'), app.all('instructor'), app.all('student_instructor')]);
  const byStudent = new Map();
  for (const a of assignments) {
    if (!byStudent.has(a.student_id)) byStudent.set(a.student_id, []);
    byStudent.get(a.student_id).push(a);
  }
  const [guardians, links] = await Promise.all([app.all('guardian'), app.all('guardian_student')]);
  return { students, instructors, byStudent, instructorById: new Map(instructors.map((i) => [i.id, i])), guardians, links };
}

function state(person) {
  if (person.active === false) return badge('inactive', 'bad');
  return person._pending ? badge('not synced', 'pending') : null;
}

/** Email and phone (and more) under a person's name, as one quiet line. */
function contact(person, extra) {
  const bits = [person.email, person.phone, extra].filter(Boolean);
  return bits.length ? h('span', { class: 'hint sub-line', style: 'font-weight: 400' }, bits.join(' · ')) : null;
}

/** The People list: students and instructors, each linking to its form. */
export async function people(app) {
  const { students, instructors, byStudent, instructorById, guardians, links } = await load(app);
  const studentById = new Map(students.map((x) => [x.id, x]));
  const primaryOf = (s) => (byStudent.get(s.id) || []).find((a) => a.is_primary);
  const teaching = (i) => [...byStudent.values()].filter((list) => list.some((a) => a.instructor_id === i.id)).length;
  return h('div', { class: 'people' },
    h('h1', {}, 'People'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', 'data-testid': 'add-student', onclick: () => app.navigate('#/person/student/new') }, 'Add a student'),
      h('button', { type: 'button', 'data-testid': 'add-instructor', onclick: () => app.navigate('#/person/instructor/new') }, 'Add an instructor'),
      h('button', { type: 'button', 'data-testid': 'add-guardian', onclick: () => app.navigate('#/person/guardian/new') }, 'Add a guardian')),
    section(`Students (${students.length})`, students.length ? h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Students' },
      h('table', { 'data-testid': 'people-students' },
        h('thead', {}, h('tr', {}, ['Student', 'Primary instructor', 'Tests'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, sortBy(students, (s) => s.name).map((s) => {
          const primary = primaryOf(s);
          const tests = [s.theory_test_date && `Theory ${fmt.day(s.theory_test_date)}`,
            s.practical_test_date && `Practical ${fmt.day(s.practical_test_date)}`].filter(Boolean);
          return h('tr', { 'data-id': s.id },
            h('th', { scope: 'row' }, h('a', { href: `#/person/student/${s.id}` }, s.name), ' ', state(s),
              contact(s)),
            h('td', {}, primary ? (instructorById.get(primary.instructor_id) || {}).name || '—' : '—',
              primary && primary._pending ? [' ', badge('not synced', 'pending')] : null),
            h('td', {}, tests.length ? tests.join(' · ') : '—'));
        }))))
      : empty('No students yet.')),
    section(`Instructors (${instructors.length})`, instructors.length ? h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Instructors' },
      h('table', { 'data-testid': 'people-instructors' },
        h('thead', {}, h('tr', {}, ['Instructor', 'Students', 'ADI number'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, sortBy(instructors, (i) => i.name).map((i) => h('tr', { 'data-id': i.id },
          h('th', { scope: 'row' }, h('a', { href: `#/person/instructor/${i.id}` }, i.name), ' ', state(i),
            contact(i, (i.specialties || []).join(', '))),
          h('td', {}, String(teaching(i))),
          h('td', {}, i.adi_number || '—'))))))
      : empty('No instructors yet.')),
    section(`Guardians (${guardians.length})`, guardians.length ? h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Guardians' },
      h('table', { 'data-testid': 'people-guardians' },
        h('thead', {}, h('tr', {}, ['Guardian', 'Learners'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, sortBy(guardians, (g) => g.name).map((g) => h('tr', { 'data-id': g.id },
          h('th', { scope: 'row' }, h('a', { href: `#/person/guardian/${g.id}` }, g.name), ' ', state(g), contact(g)),
          h('td', {}, links.filter((l) => l.guardian_id === g.id).map((l) => (studentById.get(l.student_id) || {}).name || 'Student').join(', ') || '—'))))))
      : empty('No guardians yet: add one to let a parent or carer follow a learner.')));
}

/** A guardian's form: name, email (the invitation goes there), phone, and the learners they
 * follow (each a `guardian_student` link: created when ticked, deleted when unticked). */
async function guardianForm(app, id) {
  const creating = id === 'new';
  const current = creating ? {} : await app.get('guardian', id);
  if (!current) return h('div', {}, h('h1', {}, 'Not found'), empty('This guardian is not on this device.'));
  const { students, links } = await load(app);
  const mine = creating ? [] : links.filter((l) => l.guardian_id === id);
  const controls = {
    name: input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }),
    email: input('email', current.email, { type: 'email', maxlength: 320, autocomplete: 'off' }),
    phone: input('phone', current.phone, { type: 'tel', maxlength: 32 }),
  };
  const boxes = sortBy(students.filter((x) => x.active !== false), (x) => x.name).map((x) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'learner', value: x.id, checked: mine.some((l) => l.student_id === x.id) }), ' ', x.name));
  async function save(event) {
    event.preventDefault();
    if (!event.target.reportValidity()) return;
    const data = {};
    for (const name of GUARDIAN_FIELDS) {
      const value = valueOf('guardian', name, controls[name]);
      if (creating ? value !== null : !same(value, current[name])) data[name] = value;
    }
    const guardianId = creating ? app.newId() : id;
    if (creating) await app.mutate('guardian', 'put', guardianId, data);
    else if (Object.keys(data).length) await app.mutate('guardian', 'patch', guardianId, data);
    const ticked = new Set(boxes.map((b) => b.querySelector('input')).filter((c) => c.checked).map((c) => c.value));
    for (const l of mine) if (!ticked.has(l.student_id)) await app.mutate('guardian_student', 'delete', l.id);
    for (const sid of ticked) {
      if (!mine.some((l) => l.student_id === sid)) await app.mutate('guardian_student', 'put', app.newId(), { guardian_id: guardianId, student_id: sid });
    }
    app.announce(`${creating ? 'Added' : 'Saved'} ${data.name || current.name}`);
    app.navigate('#/people');
  }
  const form = h('form', { 'data-testid': 'person-form', onsubmit: save },
    field('Name', controls.name), field('Email', controls.email, creating ? 'They get an email with a link to set a password.' : null),
    field('Phone', controls.phone),
    h('fieldset', { 'data-testid': 'guardian-learners' }, h('legend', {}, 'Learners they follow'),
      boxes.length ? boxes : empty('No students yet.'),
      h('p', { class: 'hint' }, 'A guardian sees each learner\'s progress, bookings, lessons (never private notes) and tests, read-only.')),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'person-save' }, creating ? 'Add guardian' : 'Save'),
      h('a', { href: '#/people' }, 'Cancel')));
  return h('div', { class: 'person narrow' },
    h('h1', {}, creating ? 'New guardian' : current.name, ' ', current._pending ? badge('not synced', 'pending') : null),
    section(creating ? 'About the guardian' : 'Details', form));
}

function input(name, value, attrs = {}) {
  return h('input', { id: `person-${name}`, name, value: value ?? '', ...attrs });
}

/** What the form holds for one field, as the wire wants it (empty → null). */
function valueOf(kind, name, control) {
  const text = control.value.trim();
  if (kind === 'instructor' && name === 'specialties') {
    return text ? text.split(',').map((t) => t.trim()).filter(Boolean) : [];
  }
  return text === '' ? null : text;
}

function same(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The form of one person: `#/person/student/<id>`, `#/person/instructor/new`. */
export async function person(app, kind = 'student', id = 'new') {
  if (kind === 'guardian') return guardianForm(app, id);
  if (!['student', 'instructor'].includes(kind)) return empty('No such page.');
  const creating = id === 'new';
  const current = creating ? {} : await app.get(kind, id);
  if (!current) return h('div', {}, h('h1', {}, 'Not found'), empty(`This ${kind} is not on this device (they may have left the school).`));
  const { instructors, byStudent, instructorById } = await load(app);
  const label = kind === 'student' ? 'student' : 'instructor';
  const status = h('p', { role: 'status', class: 'hint', 'data-testid': 'person-status' });
  const controls = kind === 'student' ? {
    name: input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }),
    email: input('email', current.email, { type: 'email', maxlength: 320, autocomplete: 'off' }),
    phone: input('phone', current.phone, { type: 'tel', maxlength: 32 }),
    licence_number: input('licence_number', current.licence_number, { maxlength: 32 }),
    date_of_birth: input('date_of_birth', current.date_of_birth, { type: 'date', max: new Date().toISOString().slice(0, 10) }),
    theory_test_date: input('theory_test_date', current.theory_test_date, { type: 'date' }),
    practical_test_date: input('practical_test_date', current.practical_test_date, { type: 'date' }),
    goals: h('textarea', { id: 'person-goals', name: 'goals', rows: 3, maxlength: 2000, value: current.goals ?? '' }),
  } : {
    name: input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }),
    email: input('email', current.email, { type: 'email', maxlength: 320, autocomplete: 'off' }),
    phone: input('phone', current.phone, { type: 'tel', maxlength: 32 }),
    adi_number: input('adi_number', current.adi_number, { maxlength: 32 }),
    specialties: input('specialties', (current.specialties || []).join(', '), { maxlength: 400 }),
  };
  const names = {
    name: 'Name', email: 'Email', phone: 'Phone', licence_number: 'Licence number', date_of_birth: 'Date of birth',
    theory_test_date: 'Theory test date', practical_test_date: 'Practical test date', goals: 'Goals',
    adi_number: 'ADI number', specialties: 'Specialties',
  };
  const hints = {
    email: creating ? 'They get an email with a link to set a password.' : null,
    specialties: 'Separated by commas: motorway, automatic, nervous drivers.',
  };
  const mine = kind === 'student' ? (byStudent.get(id) || []) : [];
  const primary = mine.find((a) => a.is_primary);
  const activeInstructors = sortBy(instructors.filter((i) => i.active !== false), (i) => i.name);
  const primarySel = kind === 'student' ? h('select', { id: 'person-primary', name: 'primary', 'data-testid': 'primary-instructor' },
    h('option', { value: '' }, '— none —'),
    activeInstructors.map((i) => h('option', { value: i.id, selected: primary && primary.instructor_id === i.id }, i.name))) : null;

  async function save(event) {
    event.preventDefault();
    if (!event.target.reportValidity()) return;
    const fields = kind === 'student' ? STUDENT_FIELDS : INSTRUCTOR_FIELDS;
    const data = {};
    for (const name of fields) {
      const value = valueOf(kind, name, controls[name]);
      if (creating ? value !== null && !(Array.isArray(value) && !value.length) : !same(value, current[name])) data[name] = value;
    }
    const personId = creating ? app.newId() : id;
    if (creating) await app.mutate(kind, 'put', personId, data);
    else if (Object.keys(data).length) await app.mutate(kind, 'patch', personId, data);
    if (primarySel) await choosePrimary(app, personId, mine, primarySel.value);
    status.textContent = 'Saved on this device; it syncs when there is a connection.';
    app.announce(`${creating ? 'Added' : 'Saved'} ${data.name || current.name}`);
    app.navigate('#/people');
  }

  async function setActive(active) {
    await app.mutate(kind, 'patch', id, { active });
    app.announce(active ? `${current.name} is active again` : `${current.name} deactivated`);
    app.navigate('#/people');
  }

  const form = h('form', { 'data-testid': 'person-form', onsubmit: save, novalidate: false },
    Object.entries(controls).map(([name, control]) => field(names[name], control, hints[name])),
    primarySel ? field('Primary instructor', primarySel, 'The instructor who teaches them most; the student and that instructor see each other\'s records.') : null,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'person-save' }, creating ? `Add ${label}` : 'Save'),
      h('a', { href: '#/people' }, 'Cancel')),
    status);

  const root = h('div', { class: 'person narrow' },
    h('h1', {}, creating ? `New ${label}` : current.name, ' ', current._pending ? badge('not synced', 'pending') : null),
    section(creating ? `About the ${label}` : 'Details', form));
  if (kind === 'student' && !creating) {
    root.append(section('Instructors', mine.length ? h('ul', { class: 'plain list', 'data-testid': 'assignments' }, mine.map((a) => h('li', {},
      (instructorById.get(a.instructor_id) || {}).name || 'Instructor', ' ',
      a.is_primary ? badge('primary', 'confirmed') : null, a._pending ? badge('not synced', 'pending') : null, ' ',
      h('button', { type: 'button', onclick: async () => { await app.mutate('student_instructor', 'delete', a.id); app.announce('Instructor removed'); app.refresh(); } }, 'Remove'))))
      : empty('No instructor yet: choose a primary instructor above.')));
  }
  if (!creating) {
    const confirmBox = h('div', { class: 'actions', hidden: true },
      h('p', {}, kind === 'student'
        ? 'The student leaves the school: their records leave every device and they are signed out. This is not undone.'
        : 'Their students are unassigned and they are signed out on every device. Their lessons stay.'),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-deactivate', onclick: () => setActive(false) }, 'Yes, deactivate'),
      h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Keep'));
    const toggle = current.active === false
      ? (kind === 'instructor' ? h('button', { type: 'button', 'data-testid': 'reactivate', onclick: () => setActive(true) }, 'Make active again') : null)
      : h('button', { type: 'button', class: 'danger', 'data-testid': 'deactivate', onclick: () => { confirmBox.hidden = false; confirmBox.querySelector('button').focus(); } },
        kind === 'student' ? 'Student leaves the school…' : 'Deactivate instructor…');
    root.append(section('Status', h('p', {}, current.active === false ? 'Inactive.' : 'Active.'), toggle, confirmBox));
  }
  return root;
}

/** Make `instructorId` the student's primary instructor (or none): patch their assignment
 * to that instructor, or create one. The server clears the previous primary itself. */
async function choosePrimary(app, studentId, assignments, instructorId) {
  const primary = assignments.find((a) => a.is_primary);
  if (!instructorId) {
    if (primary) await app.mutate('student_instructor', 'patch', primary.id, { is_primary: false });
    return;
  }
  if (primary && primary.instructor_id === instructorId) return;
  const existing = assignments.find((a) => a.instructor_id === instructorId);
  if (existing) await app.mutate('student_instructor', 'patch', existing.id, { is_primary: true });
  else {
    await app.mutate('student_instructor', 'put', app.newId(),
      { student_id: studentId, instructor_id: instructorId, is_primary: true });
  }
}
