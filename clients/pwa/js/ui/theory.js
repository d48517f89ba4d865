/**
 * Theory for students, fully offline from the replicated question bank: practice by topic
 * with the explanation after each answer, and 50-question mock tests with a 57-minute
 * timer. A mock test in progress lives in a draft (a reload resumes it); when finished it is
 * put once and the server scores it — the score and pass shown are always the server's.
 */

import { h, section, empty, badge, fmt, sortBy, byKey, nowIso, plural } from './dom.js';

export const MOCK_QUESTIONS = 50;
export const MOCK_MINUTES = 57;

export function topicName(topic) {
  const text = String(topic || '').replace(/[-_]+/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Correct answers needed to pass a test of `total` questions: the school's mark (sent with the
 * tokens, so known offline; 43 of 50 when unknown), scaled to the test's length and rounded
 * up — the same rule the server scores with (sync/derive.py pass_threshold).
 */
export function passMark(total, school) {
  const mark = school?.pass_mark ?? 43;
  const outOf = school?.pass_total ?? 50;
  if (total <= 0) return 0;
  if (total === outOf) return mark;
  return Math.ceil(total * mark / outOf - 1e-9);
}

function shuffle(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Retired questions (active false) are no longer offered, but old attempts and mock tests
 * still show them (the bank keeps them). */
function offered(q) {
  return q.active !== false;
}

function correctOf(attempt, bank) {
  if (typeof attempt.correct === 'boolean') return attempt.correct; // the server's verdict
  const q = bank.get(attempt.question_id);
  return !!q && q.correct_option === attempt.chosen_option;
}

export async function topics(app) {
  const [questions, attempts] = await Promise.all([app.all('theory_question'), app.all('theory_attempt')]);
  const bank = byKey(questions);
  const byTopic = new Map();
  for (const q of questions.filter(offered)) {
    if (!byTopic.has(q.topic)) byTopic.set(q.topic, { total: 0, answered: 0, right: 0 });
    byTopic.get(q.topic).total += 1;
  }
  for (const a of attempts.filter((x) => x.mode === 'practice')) {
    const q = bank.get(a.question_id);
    if (!q) continue;
    const t = byTopic.get(q.topic);
    if (!t) continue; // a topic whose questions are all retired
    t.answered += 1;
    if (correctOf(a, bank)) t.right += 1;
  }
  return h('div', {},
    h('h1', {}, 'Theory practice'),
    section('Topics', questions.length ? h('ul', { class: 'plain list topics' }, sortBy([...byTopic], ([t]) => t).map(([t, st]) => h('li', {},
      h('a', { href: `#/practice/${encodeURIComponent(t)}`, class: 'row-link' },
        h('span', { class: 'who' }, topicName(t)),
        h('span', { class: 'hint' }, `${plural(st.total, 'question')} · ${st.answered ? `${Math.round((100 * st.right) / st.answered)}% right of ${st.answered}` : 'not started'}`)))))
      : empty(app.initialSync ? 'Downloading the question bank…' : 'The question bank is empty.')),
    h('p', {}, h('a', { href: '#/mock', class: 'button' }, 'Take a mock test')));
}

const practiceState = { topic: null, questionId: null, chosen: null, checked: false };

export async function practice(app, topic) {
  const [questions, attempts] = await Promise.all([app.all('theory_question'), app.all('theory_attempt')]);
  const pool = questions.filter((q) => q.topic === topic && offered(q));
  if (!pool.length) return h('div', {}, h('h1', {}, 'Practice'), empty('No questions for this topic on this device.'));
  const st = practiceState;
  if (st.topic !== topic || !pool.some((q) => q.id === st.questionId)) {
    const seen = new Set(attempts.map((a) => a.question_id));
    const fresh = pool.filter((q) => !seen.has(q.id));
    st.topic = topic;
    st.questionId = shuffle(fresh.length ? fresh : pool)[0].id;
    st.chosen = null;
    st.checked = false;
  }
  const q = pool.find((x) => x.id === st.questionId);
  const next = () => { st.questionId = null; st.topic = null; app.refresh(); setTimeout(() => document.querySelector('#main legend')?.focus(), 120); };
  const check = async (event) => {
    event.preventDefault();
    const picked = form.querySelector('input[name="option"]:checked');
    if (!picked) { app.announce('Choose an answer first'); return; }
    st.chosen = Number(picked.value);
    st.checked = true;
    await app.mutate('theory_attempt', 'put', app.newId(), {
      question_id: q.id, chosen_option: st.chosen, mode: 'practice', answered_at: nowIso() });
    await app.refresh();
    document.querySelector('#main .feedback button')?.focus(); // the answer replaced the button
  };
  const right = st.checked && st.chosen === q.correct_option;
  const form = h('form', { onsubmit: check },
    h('fieldset', {},
      h('legend', { tabindex: '-1' }, q.question),
      q.options.map((opt, i) => {
        const id = `opt-${i}`;
        const cls = st.checked ? (i === q.correct_option ? 'right' : i === st.chosen ? 'wrong' : '') : '';
        return h('div', { class: `option ${cls}` },
          h('input', { type: 'radio', name: 'option', id, value: String(i), checked: st.chosen === i, disabled: st.checked }),
          h('label', { for: id }, opt));
      })),
    st.checked
      ? h('div', { class: `feedback ${right ? 'good' : 'bad'}`, role: 'status' },
        h('p', {}, h('strong', {}, right ? 'Correct.' : `Not quite: the answer is “${q.options[q.correct_option]}”.`)),
        h('p', {}, q.explanation),
        h('button', { type: 'button', class: 'primary', onclick: next }, 'Next question'))
      : h('button', { type: 'submit', class: 'primary' }, 'Check answer'));
  return h('div', {},
    h('h1', {}, topicName(topic)),
    h('p', {}, h('a', { href: '#/theory' }, '← All topics')),
    section('Question', form));
}

// ------------------------------------------------------------------------------ mock tests
let ticker = null;

function remaining(draft) {
  return Math.max(0, Math.round((draft.deadline - Date.now()) / 1000));
}

async function finish(app, draft) {
  clearInterval(ticker);
  const finishedAt = nowIso();
  const answers = draft.question_ids.map((qid) => ({ question_id: qid, chosen_option: draft.answers[qid] ?? null }));
  await app.mutate('mock_test', 'put', draft.id, { started_at: draft.started_at, finished_at: finishedAt, answers });
  for (const qid of draft.question_ids) {
    if (draft.answers[qid] === undefined || draft.answers[qid] === null) continue;
    await app.mutate('theory_attempt', 'put', app.newId(), {
      question_id: qid, chosen_option: draft.answers[qid], mode: 'mock', mock_test_id: draft.id,
      answered_at: draft.answered_at[qid] || finishedAt });
  }
  await app.draftSet('mock', undefined);
  app.navigate(`#/result/${draft.id}`);
}

function testView(app, draft, bank) {
  const total = draft.question_ids.length;
  const q = bank.get(draft.question_ids[draft.index]);
  const timer = h('span', { class: 'timer', role: 'timer', 'aria-label': 'Time left', 'data-testid': 'timer' }, fmt.duration(remaining(draft)));
  clearInterval(ticker);
  ticker = setInterval(() => {
    const left = remaining(draft);
    timer.textContent = fmt.duration(left);
    if (left <= 0) { app.announce('Time is up: the test has been handed in'); finish(app, draft); }
    if (!document.body.contains(timer)) clearInterval(ticker);
  }, 1000);
  const save = async () => app.draftSet('mock', draft);
  const go = async (index) => { draft.index = Math.max(0, Math.min(total - 1, index)); await save(); app.refresh(); setTimeout(() => document.querySelector('#main legend')?.focus(), 100); };
  const answered = draft.question_ids.filter((id) => draft.answers[id] !== undefined && draft.answers[id] !== null).length;
  const onPick = async (event) => {
    draft.answers[q.id] = Number(event.target.value);
    draft.answered_at[q.id] = nowIso();
    await save();
    counter.textContent = `${Object.keys(draft.answers).length} of ${total} answered`;
  };
  const counter = h('span', { 'data-testid': 'answered' }, `${answered} of ${total} answered`);
  return h('div', { 'data-hold': 'mock' },
    h('h1', {}, 'Mock test'),
    h('div', { class: 'test-bar' }, h('span', {}, `Question ${draft.index + 1} of ${total}`), counter, timer),
    h('progress', { max: String(total), value: String(draft.index + 1), 'aria-label': 'Position in the test' }),
    section(topicName(q ? q.topic : ''),
      q ? h('fieldset', { 'data-question-id': q.id },
        h('legend', { tabindex: '-1' }, q.question),
        q.options.map((opt, i) => {
          const id = `mock-opt-${i}`;
          return h('div', { class: 'option' },
            h('input', { type: 'radio', name: 'mock-option', id, value: String(i), checked: draft.answers[q.id] === i, onchange: onPick }),
            h('label', { for: id }, opt));
        })) : empty('This question is no longer in the bank.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => go(draft.index - 1), disabled: draft.index === 0 }, '← Previous'),
        draft.index < total - 1
          ? h('button', { type: 'button', class: 'primary', onclick: () => go(draft.index + 1), 'data-testid': 'next' }, 'Next →')
          : null,
        h('button', { type: 'button', class: draft.index === total - 1 ? 'primary' : '', 'data-testid': 'finish', onclick: () => {
          const left = total - Object.keys(draft.answers).length;
          if (left && !confirm(`${plural(left, 'question')} ${left === 1 ? 'is' : 'are'} unanswered and will count as wrong. Hand in now?`)) return;
          finish(app, draft);
        } }, 'Hand in'))));
}

function resultLine(t, school) {
  if (t._pending || typeof t.score !== 'number') {
    return h('span', { 'data-testid': 'mock-status' }, badge('waiting to be marked', 'pending'), ' Marked by the school when you are back online.');
  }
  return h('span', { 'data-testid': 'mock-status' }, `Score ${t.score} of ${t.total} · `,
    badge(t.passed ? 'Passed' : 'Not passed', t.passed ? 'completed' : 'cancelled'), ` (pass mark ${passMark(t.total, school)})`);
}

export async function mock(app) {
  const [draft, questions, tests] = await Promise.all([app.draftGet('mock'), app.all('theory_question'), app.all('mock_test')]);
  const bank = byKey(questions);
  if (draft) return testView(app, draft, bank);
  const start = async () => {
    const ids = shuffle(questions.filter(offered)).slice(0, MOCK_QUESTIONS).map((q) => q.id);
    const fresh = { id: app.newId(), started_at: nowIso(), deadline: Date.now() + MOCK_MINUTES * 60000,
      question_ids: ids, answers: {}, answered_at: {}, index: 0 };
    await app.draftSet('mock', fresh);
    app.refresh();
  };
  const n = Math.min(MOCK_QUESTIONS, questions.filter(offered).length);
  return h('div', {},
    h('h1', {}, 'Mock test'),
    section('A new test',
      h('p', {}, `${plural(n, 'question')} from every topic · ${MOCK_MINUTES} minutes · pass mark ${passMark(n, app.session?.school)} of ${n}. Works offline.`),
      h('button', { type: 'button', class: 'primary', onclick: start, disabled: !n, 'data-testid': 'start-mock' }, 'Start the test')),
    section('Your results', tests.length ? h('ul', { class: 'plain list', 'data-testid': 'mock-results' }, sortBy(tests, (t) => t.finished_at, true).map((t) => h('li', {},
      h('a', { href: `#/result/${t.id}`, class: 'row-link' }, h('span', { class: 'when' }, fmt.dateTime(t.finished_at)), resultLine(t, app.session?.school)))))
      : empty('No mock tests yet.')));
}

export async function result(app, id) {
  const [test, questions] = await Promise.all([app.get('mock_test', id), app.all('theory_question')]);
  if (!test) return h('div', {}, h('h1', {}, 'Result'), empty('This test is not on this device.'));
  const bank = byKey(questions);
  const marked = !test._pending && typeof test.score === 'number';
  return h('div', {},
    h('h1', {}, 'Mock test result'),
    section(fmt.dateTime(test.finished_at),
      h('p', { class: 'big' }, resultLine(test, app.session?.school)),
      marked ? h('ol', { class: 'review' }, (test.answers || []).map((a) => {
        const q = bank.get(a.question_id);
        if (!q) return h('li', {}, 'Question no longer in the bank');
        const ok = a.chosen_option === q.correct_option;
        return h('li', { class: ok ? 'right' : 'wrong' },
          h('p', {}, q.question),
          h('p', {}, ok ? '✓ ' : '✗ ', a.chosen_option === null || a.chosen_option === undefined ? 'Not answered' : `Your answer: ${q.options[a.chosen_option]}`),
          ok ? null : h('p', {}, `Answer: ${q.options[q.correct_option]}`),
          h('p', { class: 'hint' }, q.explanation));
      })) : null),
    h('p', {}, h('a', { href: '#/mock' }, '← Mock tests')));
}
