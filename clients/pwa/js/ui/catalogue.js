/**
 * Catalogue (admins): the school's services, rate cards, skills and theory questions from
 * the replica, with forms to add, edit and retire them. Every change goes through the
 * outbox like any other write, so the office works offline too; the server checks each one
 * (docs/protocol.md, "Catalogue": overlapping rate cards, a duplicate skill code, a correct
 * answer that is not an option) and a refusal lands in Problems.
 *
 * Services, skills and questions are retired (`active: false`), never deleted: bookings,
 * assessments and attempts name them. A rate card can be deleted; bookings keep the price
 * they were snapshotted at.
 */

import { h, section, empty, badge, fmt, sortBy, field, byKey } from './dom.js';
import { STAGES } from './progress.js';

const KINDS = { lesson: 'Lesson', mock_test: 'Mock driving test' };
const TITLES = { service: 'service', rate_card: 'rate card', package: 'package', skill: 'skill', theory_question: 'question' };

function state(record) {
  if (record.active === false) return badge('retired', 'bad');
  return record._pending ? badge('not synced', 'pending') : null;
}

function period(card) {
  if (!card.valid_from && !card.valid_until) return 'Always';
  if (!card.valid_until) return `From ${fmt.day(card.valid_from)}`;
  if (!card.valid_from) return `Until ${fmt.day(card.valid_until)}`;
  return `${fmt.day(card.valid_from)} – ${fmt.day(card.valid_until)}`;
}

/** What a package holds: "10 lessons" or "600 minutes". */
export function holds(p) {
  if (p.lessons) return `${p.lessons} lesson${p.lessons === 1 ? '' : 's'}`;
  return p.minutes ? `${p.minutes} minutes` : '';
}

/** Questions by topic (a bank has hundreds: each topic folds), retired last in each. */
function byTopic(questions) {
  const topics = new Map();
  for (const q of sortBy(questions, (x) => `${x.active === false ? 1 : 0}${x.question}`)) {
    if (!topics.has(q.topic)) topics.set(q.topic, []);
    topics.get(q.topic).push(q);
  }
  return sortBy([...topics], ([t]) => t);
}

function retiredCount(list) {
  const n = list.filter((q) => q.active === false).length;
  return n ? `, ${n} retired` : '';
}

function table(label, testid, columns, rows) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label },
    h('table', { 'data-testid': testid },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

function link(entity, id, text) {
  return h('a', { href: `#/catalogue/${entity}/${id}` }, text);
}

function addButton(app, entity, text, primary = false) {
  return h('button', { type: 'button', class: primary ? 'primary' : '', 'data-testid': `add-${entity}`,
    onclick: () => app.navigate(`#/catalogue/${entity}/new`) }, text);
}

/** `#/catalogue` (the lists) and `#/catalogue/<entity>/<id|new>` (one form). */
export async function catalogue(app, entity, id) {
  if (entity) return form(app, entity, id || 'new');
  const [services, cards, skills, questions, instructors, packages] = await Promise.all([
    app.all('service'), app.all('rate_card'), app.all('skill'), app.all('theory_question'), app.all('instructor'),
    app.all('package')]);
  const svc = byKey(services);
  const inst = byKey(instructors);
  return h('div', { class: 'catalogue' },
    h('h1', {}, 'Catalogue'),
    h('div', { class: 'actions' },
      addButton(app, 'service', 'Add a service', true), addButton(app, 'rate_card', 'Add a rate card'),
      addButton(app, 'package', 'Add a package'), addButton(app, 'skill', 'Add a skill'), addButton(app, 'theory_question', 'Add a question')),
    section(`Services (${services.length})`, services.length
      ? table('Services', 'catalogue-services', ['Service', 'Length', 'Price'],
        sortBy(services, (s) => `${s.active === false ? 1 : 0}${s.name}`).map((s) => h('tr', { 'data-id': s.id },
          h('th', { scope: 'row' }, link('service', s.id, s.name), ' ', state(s),
            h('span', { class: 'hint sub-line' }, KINDS[s.kind] || s.kind || '')),
          h('td', {}, `${s.duration_min} min`), h('td', {}, fmt.money(s.price_cents, s.currency)))))
      : empty('No services yet.')),
    section(`Rate cards (${cards.length})`,
      h('p', { class: 'hint' }, 'A booking takes the price of its instructor\'s card valid on the day, else the school\'s card, else the service\'s price.'),
      cards.length
        ? table('Rate cards', 'catalogue-rate-cards', ['Service', 'Instructor', 'Price', 'Valid'],
          sortBy(cards, (c) => `${(svc.get(c.service_id) || {}).name}${c.instructor_id || ''}${c.valid_from || ''}`).map((c) => h('tr', { 'data-id': c.id },
            h('th', { scope: 'row' }, link('rate_card', c.id, (svc.get(c.service_id) || {}).name || 'Service'), ' ', state(c)),
            h('td', {}, c.instructor_id ? (inst.get(c.instructor_id) || {}).name || 'Instructor' : 'School default'),
            h('td', {}, fmt.money(c.price_cents, c.currency)), h('td', {}, period(c)))))
        : empty('No rate cards: bookings take each service\'s own price.')),
    section(`Packages (${packages.length})`,
      h('p', { class: 'hint' }, 'Lessons or minutes bought up front; a booking paid with credit draws from them.'),
      packages.length
        ? table('Packages', 'catalogue-packages', ['Package', 'Holds', 'Price', 'Valid'],
          sortBy(packages, (p) => `${p.active === false ? 1 : 0}${p.name}`).map((p) => h('tr', { 'data-id': p.id },
            h('th', { scope: 'row' }, link('package', p.id, p.name), ' ', state(p)),
            h('td', {}, holds(p)), h('td', {}, fmt.money(p.price_cents, p.currency)),
            h('td', {}, `${p.valid_days} days`))))
        : empty('No packages: students pay lesson by lesson.')),
    section(`Skills (${skills.length})`, skills.length
      ? table('Skills', 'catalogue-skills', ['Skill', 'Stage', 'Code'],
        sortBy(skills, (s) => (s.active === false ? 1e6 : 0) + s.stage * 1000 + s.position).map((s) => h('tr', { 'data-id': s.id },
          h('th', { scope: 'row' }, link('skill', s.id, s.name), ' ', state(s)),
          h('td', {}, String(s.stage)), h('td', {}, s.code))))
      : empty('No skills yet.')),
    section(`Theory questions (${questions.length})`, questions.length
      ? byTopic(questions).map(([topic, list]) => h('details', { class: 'stage', 'data-topic': topic },
        h('summary', {}, `${topic} (${list.length}${retiredCount(list)})`),
        table(`Questions on ${topic}`, 'catalogue-questions', ['Question', 'Options'],
          list.map((q) => h('tr', { 'data-id': q.id },
            h('th', { scope: 'row' }, link('theory_question', q.id, q.question), ' ', state(q)),
            h('td', {}, String((q.options || []).length)))))))
      : empty('The question bank is empty.')));
}

function input(name, value, attrs = {}) {
  return h('input', { id: `cat-${name}`, name, value: value ?? '', ...attrs });
}

function select(name, options, value, attrs = {}) {
  return h('select', { id: `cat-${name}`, name, ...attrs },
    options.map(([v, text]) => h('option', { value: v, selected: String(value ?? '') === v }, text)));
}

/** Cents from a price typed as 42 or 42.50 (null when not a price). */
function cents(text) {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  return m ? Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0')) : null;
}

/** The controls of one entity's form, and how each reads back as the wire wants it. */
function controlsFor(entity, current, lists) {
  const text = (c) => c.value.trim() || null;
  const int = (c) => (c.value.trim() === '' ? null : Number(c.value));
  const money = (c) => cents(c.value);
  const price = current.price_cents === undefined ? '' : (current.price_cents / 100).toFixed(2);
  const currency = input('currency', current.currency || lists.currency, { maxlength: 3, pattern: '[A-Z]{3}', required: true, autocomplete: 'off' });
  if (entity === 'service') {
    return {
      name: [input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }), text, 'Name'],
      kind: [select('kind', Object.entries(KINDS), current.kind || 'lesson'), (c) => c.value, 'Kind'],
      duration_min: [input('duration_min', current.duration_min, { type: 'number', min: 1, max: 1440, required: true }), int, 'Length (minutes)'],
      price_cents: [input('price', price, { inputmode: 'decimal', pattern: '\\d{1,7}([.,]\\d{1,2})?', required: true, autocomplete: 'off' }), money, 'Price'],
      currency: [currency, text, 'Currency'],
    };
  }
  if (entity === 'rate_card') {
    return {
      service_id: [select('service', sortBy(lists.services, (s) => s.name).map((s) => [s.id, s.name]), current.service_id, { required: true }), (c) => c.value, 'Service'],
      instructor_id: [select('instructor', [['', 'School default (every instructor)'], ...sortBy(lists.instructors, (i) => i.name).map((i) => [i.id, i.name])], current.instructor_id, { 'data-testid': 'card-instructor' }),
        (c) => c.value || null, 'Instructor'],
      price_cents: [input('price', price, { inputmode: 'decimal', pattern: '\\d{1,7}([.,]\\d{1,2})?', required: true, autocomplete: 'off' }), money, 'Price'],
      currency: [currency, text, 'Currency'],
      valid_from: [input('valid_from', current.valid_from, { type: 'date' }), text, 'Valid from'],
      valid_until: [input('valid_until', current.valid_until, { type: 'date' }), text, 'Valid until'],
    };
  }
  if (entity === 'package') {
    return {
      name: [input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }), text, 'Name'],
      lessons: [input('lessons', current.lessons, { type: 'number', min: 1, max: 1000 }), int, 'Lessons'],
      minutes: [input('minutes', current.minutes, { type: 'number', min: 1, max: 100000 }), int, 'Or minutes'],
      price_cents: [input('price', price, { inputmode: 'decimal', pattern: '\\d{1,7}([.,]\\d{1,2})?', required: true, autocomplete: 'off' }), money, 'Price'],
      currency: [input('currency', current.currency || lists.currency, { readonly: true, maxlength: 3 }), text, 'Currency'],
      valid_days: [input('valid_days', current.valid_days ?? 365, { type: 'number', min: 1, max: 3660, required: true }), int, 'Valid for (days)'],
    };
  }
  if (entity === 'skill') {
    return {
      name: [input('name', current.name, { required: true, maxlength: 200, autocomplete: 'off' }), text, 'Name'],
      code: [input('code', current.code, { required: true, maxlength: 64, autocomplete: 'off' }), text, 'Code'],
      stage: [select('stage', [1, 2, 3, 4, 5].map((n) => [String(n), STAGES[n]]), current.stage || 1), int, 'Stage'],
      position: [input('position', current.position ?? 0, { type: 'number', min: 0, max: 100000 }), int, 'Position in its stage'],
    };
  }
  const options = h('textarea', { id: 'cat-options', name: 'options', rows: 4, required: true, value: (current.options || []).join('\n') });
  return {
    topic: [input('topic', current.topic, { required: true, maxlength: 64, list: 'cat-topics', autocomplete: 'off' }), text, 'Topic'],
    question: [h('textarea', { id: 'cat-question', name: 'question', rows: 3, required: true, maxlength: 2000, value: current.question ?? '' }), text, 'Question'],
    options: [options, (c) => c.value.split('\n').map((t) => t.trim()).filter(Boolean), 'Options, one a line'],
    correct_option: [input('correct', current.correct_option === undefined ? '' : current.correct_option + 1, { type: 'number', min: 1, max: 10, required: true }),
      (c) => (c.value.trim() === '' ? null : Number(c.value) - 1), 'Correct option (its line number)'],
    explanation: [h('textarea', { id: 'cat-explanation', name: 'explanation', rows: 2, maxlength: 2000, value: current.explanation ?? '' }), (c) => c.value.trim(), 'Explanation'],
  };
}

const HINTS = {
  service: { currency: 'Three capital letters, such as GBP.' },
  package: { lessons: 'Fill lessons or minutes, not both.', currency: 'The school\'s currency.', valid_days: 'Counted from the purchase; unused credit then expires.' },
  rate_card: { valid_from: 'Days in the school\'s timezone, both included; leave empty for no limit.', instructor_id: 'An instructor\'s card wins over the school default.' },
  skill: { code: 'Short and unique in the school, such as mirrors.' },
  theory_question: { correct_option: '1 for the first line.' },
};

function same(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

async function form(app, entity, id) {
  if (!TITLES[entity]) return empty('No such page.');
  const creating = id === 'new';
  const current = creating ? {} : await app.get(entity, id);
  const label = TITLES[entity];
  if (!current) return h('div', {}, h('h1', {}, 'Not found'), empty(`This ${label} is not on this device.`));
  const [services, instructors, questions] = await Promise.all([app.all('service'), app.all('instructor'), app.all('theory_question')]);
  const lists = { services: services.filter((s) => s.active !== false || s.id === current.service_id),
    instructors: instructors.filter((i) => i.active !== false || i.id === current.instructor_id),
    currency: (app.session && app.session.school && app.session.school.currency) || 'GBP' };
  if (entity === 'rate_card' && !lists.services.length) {
    return h('div', {}, h('h1', {}, 'New rate card'), empty('Add a service first.'));
  }
  const controls = controlsFor(entity, current, lists);
  if (entity === 'rate_card' && creating) {
    // A new card is priced in its service's currency unless the admin says otherwise.
    const [serviceSel] = controls.service_id;
    const [currencyIn] = controls.currency;
    const follow = () => { const chosen = lists.services.find((x) => x.id === serviceSel.value); if (chosen) currencyIn.value = chosen.currency; };
    serviceSel.addEventListener('change', follow);
    follow();
  }
  const status = h('p', { role: 'status', class: 'hint', 'data-testid': 'catalogue-status' });

  async function save(event) {
    event.preventDefault();
    if (!event.target.reportValidity()) return;
    const data = {};
    for (const [name, [control, read]] of Object.entries(controls)) {
      const value = read(control);
      if (creating ? value !== null : !same(value, current[name])) data[name] = value;
    }
    if (entity === 'theory_question') {
      const opts = data.options || current.options || [];
      const right = data.correct_option ?? current.correct_option;
      if (opts.length < 2 || right >= opts.length) {
        status.textContent = 'Give at least two options, and the number of the correct one.';
        return;
      }
    }
    if (entity === 'package') {
      const lessons = data.lessons !== undefined ? data.lessons : current.lessons;
      const minutes = data.minutes !== undefined ? data.minutes : current.minutes;
      if (!lessons === !minutes) { status.textContent = 'Fill lessons or minutes, not both.'; return; }
    }
    if (entity === 'rate_card' && (data.valid_from !== undefined || data.valid_until !== undefined)) {
      const from = data.valid_from !== undefined ? data.valid_from : current.valid_from;
      const until = data.valid_until !== undefined ? data.valid_until : current.valid_until;
      if (from && until && until < from) { status.textContent = 'Valid until must not be before valid from.'; return; }
    }
    if (creating) await app.mutate(entity, 'put', app.newId(), data);
    else if (Object.keys(data).length) await app.mutate(entity, 'patch', id, data);
    status.textContent = 'Saved on this device; it syncs when there is a connection.';
    app.announce(`${creating ? 'Added' : 'Saved'} the ${label}`);
    app.navigate('#/catalogue');
  }

  const topics = entity === 'theory_question'
    ? h('datalist', { id: 'cat-topics' }, [...new Set(questions.map((q) => q.topic))].sort().map((t) => h('option', { value: t }))) : null;
  const hints = HINTS[entity] || {};
  const root = h('div', { class: 'catalogue-item narrow' },
    h('h1', {}, creating ? `New ${label}` : `Edit ${label}`, ' ', current._pending ? badge('not synced', 'pending') : null),
    section(creating ? `About the ${label}` : 'Details',
      h('form', { 'data-testid': 'catalogue-form', onsubmit: save },
        Object.entries(controls).map(([name, [control, , text]]) => field(text, control, hints[name])),
        topics,
        h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'primary', 'data-testid': 'catalogue-save' }, creating ? `Add ${label}` : 'Save'),
          h('a', { href: '#/catalogue' }, 'Cancel')),
        status)));
  if (creating) return root;
  if (entity === 'rate_card') {
    root.append(section('Remove', h('p', {}, 'Bookings already made keep their price.'),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'catalogue-delete', onclick: async () => {
        await app.mutate('rate_card', 'delete', id);
        app.announce('Rate card removed');
        app.navigate('#/catalogue');
      } }, 'Remove rate card')));
  } else {
    const retired = current.active === false;
    const what = { service: 'It can no longer be booked; bookings made keep it.',
      skill: 'It is no longer offered for assessment; assessments made keep it.',
      package: 'It is no longer sold; credit already bought stays valid until it expires.',
      theory_question: 'It is no longer offered in practice or mock tests; answers already given keep showing it.' }[entity];
    root.append(section('Status', h('p', {}, retired ? 'Retired.' : `Offered. ${what}`),
      h('button', { type: 'button', class: retired ? '' : 'danger', 'data-testid': retired ? 'catalogue-restore' : 'catalogue-retire', onclick: async () => {
        await app.mutate(entity, 'patch', id, { active: retired });
        app.announce(retired ? `The ${label} is offered again` : `The ${label} is retired`);
        app.navigate('#/catalogue');
      } }, retired ? 'Offer again' : `Retire ${label}`)));
  }
  return root;
}
