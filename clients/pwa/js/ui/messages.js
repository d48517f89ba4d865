/**
 * Messages, for every role: the thread list (unread counts), a thread (its messages, a
 * composer, read marks) and "new message" (an allowed person, picked from the replica).
 * All offline: a thread, a message and a read mark go through the outbox like any change
 * and show at once as not yet sent; the server decides who may talk to whom
 * (`not_allowed_party` comes back as a problem).
 *
 * Unread: a message someone else wrote that the server took (`received_at`) after my read
 * mark (`thread_member.last_read_at`, one record per thread and member, id uuid5 of both).
 * Opening a thread moves my mark to its newest message's `received_at` (the server's
 * clock, so a message written offline hours ago still counts as new when it arrives).
 */

import { h, section, badge, fmt, field, empty, plural, sortBy, byKey, nowIso } from './dom.js';

export const MAX_CHARS = 4000;
// sync/rules/messaging.py MEMBER_NS: the namespace of read-mark ids.
const MEMBER_NS = '6f1d3c2a-8b4e-4c1f-9a7d-2e5b8c0d4f13';

/** uuid5(namespace, name), as Python's uuid.uuid5. */
export async function uuid5(namespace, name) {
  const ns = namespace.replace(/-/g, '').match(/../g).map((x) => parseInt(x, 16));
  const bytes = new Uint8Array([...ns, ...new TextEncoder().encode(name)]);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-1', bytes)).slice(0, 16);
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = [...hash].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function memberId(threadId, userId) {
  return uuid5(MEMBER_NS, `${threadId}:${userId}`);
}

/** A server time (ISO, UTC, `Z`) as a string that sorts as the time does: the server
 * leaves out a zero fraction ("…:12Z"), which would sort after "…:12.5Z". */
export function timeKey(iso) {
  if (!iso) return '';
  return String(iso).replace(/:(\d{2})(\.\d+)?Z$/, (_, sec, frac) => `:${sec}${(frac || '.').padEnd(7, '0')}Z`);
}

/** Whether `m` is unread by `me` with read mark `mark` (an ISO time or undefined). */
export function isUnread(m, me, mark) {
  if (m._pending || m.author_id === me || !m.received_at) return false;
  return !mark || timeKey(m.received_at) > timeKey(mark);
}

/** Whether a thread is addressed to me (its unread messages count on my tab): mine as its
 * party or its instructor; for admins, the office's (no instructor, or no party). Admins
 * read the others too, without being asked to. */
export function addressedToMe(app, t) {
  if (app.isAdmin) return !t.instructor_id || !t.party_user_id;
  if (app.role === 'instructor') return t.instructor_id === app.user.instructor_id;
  return !t.party_user_id || t.party_user_id === app.user.id;
}

/** Threads with their messages, my mark and unread count, newest activity first. */
export async function inbox(app) {
  const me = app.user.id;
  const [threads, messages, marks] = await Promise.all([app.all('thread'), app.all('message'), app.all('thread_member')]);
  const mine = new Map(marks.filter((m) => m.user_id === me || (m._pending && !m.user_id)).map((m) => [m.thread_id, m.last_read_at]));
  const by = new Map(threads.map((t) => [t.id, []]));
  for (const m of messages) if (by.has(m.thread_id)) by.get(m.thread_id).push(m);
  const out = threads.map((t) => {
    // Not sent yet: after everything the server has (its time is not known yet).
    const list = sortBy(by.get(t.id), (m) => (m._pending ? `~${m.sent_at || ''}` : timeKey(m.received_at)));
    const mark = mine.get(t.id);
    const unread = addressedToMe(app, t) ? list.filter((m) => isUnread(m, me, mark)).length : 0;
    const last = list[list.length - 1];
    const at = last ? (last._pending ? `~${last.sent_at}` : timeKey(last.received_at)) : timeKey(t.updated_at);
    return { thread: t, messages: list, mark, unread, at };
  });
  return sortBy(out, (x) => x.at, true);
}

/** Unread messages in all my threads: the tab's badge. */
export async function unreadTotal(app) {
  if (!app.db) return 0;
  return (await inbox(app)).reduce((n, x) => n + x.unread, 0);
}

/** Names the replica can give: students and instructors by id. */
async function people(app) {
  const [students, instructors] = await Promise.all([app.all('student'), app.all('instructor')]);
  return { students: byKey(students), instructors: byKey(instructors) };
}

/** Who the thread is with, seen by me. */
function withWhom(app, t, names) {
  const mine = t.party_user_id ? t.party_user_id === app.user.id : ['student', 'guardian'].includes(app.role);
  const teacher = t.instructor_id ? (names.instructors.get(t.instructor_id) || {}).name || 'Your instructor' : 'The office';
  if (mine) return teacher;
  const learner = (names.students.get(t.student_id) || {}).name || '';
  let party = 'Staff only';
  if (t.party_user_id) {
    party = t.party_role === 'guardian' ? `Guardian of ${learner || 'a learner'}` : (learner || 'A student');
  }
  if (app.role === 'instructor') return party;
  return `${party} · ${teacher}`;
}

/** The Messages screen: the list, one thread (`#/messages/<id>`) or a new one (`#/messages/new`). */
export async function messages(app, id, about, lessonId) {
  if (id === 'new') return newThread(app, about === 'lesson' ? lessonId : null);
  if (id) return threadView(app, id);
  const [rows, names] = await Promise.all([inbox(app), people(app)]);
  const total = rows.reduce((n, x) => n + x.unread, 0);
  return h('div', {},
    h('div', { class: 'page-head' },
      h('h1', {}, 'Messages'),
      h('a', { class: 'button primary', href: '#/messages/new', 'data-testid': 'new-message' }, 'New message')),
    h('p', { class: 'hint', 'data-testid': 'unread-total' }, total ? `${plural(total, 'unread message')}` : 'No unread messages'),
    section('Conversations', rows.length ? h('ul', { class: 'plain list threads', 'data-testid': 'threads' }, rows.map((x) => {
      const last = x.messages[x.messages.length - 1];
      const label = withWhom(app, x.thread, names);
      return h('li', { 'data-thread-id': x.thread.id, 'data-unread': x.unread },
        h('a', { href: `#/messages/${x.thread.id}`, class: 'thread-link' },
          h('strong', {}, label), ' — ', x.thread.subject || '(no subject)',
          x.unread ? h('span', { class: 'badge requested', 'data-testid': 'thread-unread' }, `${x.unread} unread`) : null),
        last ? h('div', { class: 'hint' }, `${last.author_id === app.user.id || last._pending ? 'You' : last.author_name}: `,
          excerpt(last.body), ' · ', last._pending ? 'not sent yet' : fmt.ago(Date.parse(last.received_at || last.sent_at))) : null,
        x.thread._pending ? badge('not synced', 'pending') : null);
    })) : empty('No conversations yet. Start one with New message.')));
}

function excerpt(text, n = 80) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
}

async function threadView(app, id) {
  const [t, rows, names, marks] = await Promise.all([app.get('thread', id), inbox(app), people(app), app.all('thread_member')]);
  if (!t) {
    return h('div', {}, h('h1', {}, 'Conversation not found'),
      h('p', {}, 'It may not have reached this device yet.'), h('a', { href: '#/messages' }, 'Back to messages'));
  }
  const x = rows.find((r) => r.thread.id === id) || { messages: [], mark: undefined, unread: 0 };
  const me = app.user.id;
  // Read: my mark moves to the newest message the server has taken (never back), while
  // the page is in sight (a conversation left open in a background tab is not read).
  const newest = sortBy(x.messages.filter((m) => !m._pending && m.received_at && m.author_id !== me),
    (m) => timeKey(m.received_at)).map((m) => m.received_at).pop();
  if (newest && (!x.mark || timeKey(newest) > timeKey(x.mark)) && document.visibilityState !== 'hidden') {
    await app.mutate('thread_member', 'put', await memberId(id, me), { thread_id: id, last_read_at: newest });
  }
  const body = h('textarea', { rows: 3, maxlength: MAX_CHARS, required: true, 'data-testid': 'composer' });
  const draftKey = `message:${id}`;
  body.value = (await app.draftGet(draftKey)) || '';
  body.oninput = () => app.draftSet(draftKey, body.value || undefined);
  const counter = h('p', { class: 'hint', id: `count-${id}` }, `Up to ${MAX_CHARS} characters`);
  const list = x.messages.length ? h('ol', { class: 'plain messages', 'data-testid': 'messages' }, x.messages.map((m) => {
    const own = m._pending || m.author_id === me;
    return h('li', { class: `message ${own ? 'own' : ''}`, 'data-message-id': m.id, 'data-pending': m._pending ? '1' : '0' },
      h('div', { class: 'meta' }, h('strong', {}, own ? 'You' : m.author_name || 'Someone'), ' · ',
        m._pending ? badge('not sent yet', 'pending') : h('time', { datetime: m.received_at }, fmt.dateTime(m.received_at))),
      h('p', { class: 'body' }, m.body));
  })) : empty('No messages yet.');
  return h('div', {},
    h('p', {}, h('a', { href: '#/messages' }, '← All messages')),
    h('h1', {}, t.subject || '(no subject)'),
    h('p', { class: 'hint', 'data-testid': 'thread-with' }, `With ${withWhom(app, t, names)}`),
    section('Messages', list, readBy(t, x, marks, me)),
    h('form', {
      class: 'card composer',
      'aria-label': 'Reply',
      onsubmit: async (event) => {
        event.preventDefault();
        const text = body.value.trim();
        if (!text) { app.announce('Write a message first'); return; }
        if (text.length > MAX_CHARS) { app.announce(`A message holds at most ${MAX_CHARS} characters`); return; }
        await app.mutate('message', 'put', app.newId(), { thread_id: id, body: text, sent_at: nowIso() });
        await app.draftSet(draftKey, undefined);
        body.value = '';
        app.announce(navigator.onLine ? 'Message sent' : 'Message saved: it is sent when you are back online');
        app.refresh();
      },
    }, field('Message', body, counter), h('button', { type: 'submit', class: 'primary' }, 'Send')));
}

/** Under my last message: whether the other side has read it (their read marks). */
function readBy(t, x, marks, me) {
  const sent = x.messages.filter((m) => m.author_id === me && m.received_at);
  const last = sent[sent.length - 1];
  if (!last) return null;
  const read = marks.some((k) => k.thread_id === t.id && k.user_id && k.user_id !== me
    && k.last_read_at && timeKey(k.last_read_at) >= timeKey(last.received_at));
  return h('p', { class: 'hint', 'data-testid': 'read-receipt', 'data-read': read ? '1' : '0' },
    read ? 'Your last message was read' : 'Your last message is delivered, not read yet');
}

/** The people I may write to, from the replica (the server checks again). */
async function recipients(app) {
  const { students, instructors } = await people(app);
  const office = { key: 'office', label: 'The office', data: {} };
  const teachers = (ids) => [...new Set(ids)].map((iid) => instructors.get(iid)).filter(Boolean);
  if (app.role === 'student' || app.role === 'guardian') {
    const mine = [...students.values()];
    const out = [];
    for (const s of mine) {
      for (const i of teachers(s.instructor_ids || [])) {
        out.push({
          key: `${s.id}:${i.id}`,
          label: app.role === 'guardian' ? `${i.name} (about ${s.name})` : i.name,
          data: { instructor_id: i.id, student_id: s.id },
        });
      }
    }
    return [...out, office];
  }
  if (app.role === 'instructor') {
    const out = [...students.values()].filter((s) => s.user_id && s.active !== false)
      .map((s) => ({ key: s.id, label: s.name, data: { party_user_id: s.user_id, student_id: s.id } }));
    return [...sortBy(out, (o) => o.label), office];
  }
  // Admins write as the office: to a student, or to an instructor (staff only).
  const learners = [...students.values()].filter((s) => s.user_id && s.active !== false)
    .map((s) => ({ key: s.id, label: `${s.name} (student)`, data: { party_user_id: s.user_id, student_id: s.id } }));
  const staff = [...instructors.values()].filter((i) => i.active !== false)
    .map((i) => ({ key: i.id, label: `${i.name} (instructor)`, data: { instructor_id: i.id } }));
  return [...sortBy(learners, (o) => o.label), ...sortBy(staff, (o) => o.label)];
}

/** A lesson's conversation, with its student (staff open it from the lesson). */
async function lessonRecipient(app, lessonId) {
  const lesson = await app.get('lesson', lessonId);
  const student = lesson && await app.get('student', lesson.student_id);
  if (!lesson || !student || !student.user_id) return [];
  return [{
    key: 'lesson',
    label: `${student.name} (about the lesson on ${fmt.day(lesson.scheduled_start)})`,
    subject: `Lesson on ${fmt.day(lesson.scheduled_start)}`,
    data: { kind: 'lesson', lesson_id: lesson.id, party_user_id: student.user_id, student_id: student.id, instructor_id: lesson.instructor_id },
  }];
}

async function newThread(app, lessonId) {
  const options = lessonId ? await lessonRecipient(app, lessonId) : await recipients(app);
  const to = h('select', { required: true, 'data-testid': 'message-to' },
    lessonId ? null : h('option', { value: '' }, 'Choose…'), options.map((o) => h('option', { value: o.key }, o.label)));
  const subject = h('input', { maxlength: 200, required: true, 'data-testid': 'message-subject', value: (lessonId && options[0]?.subject) || '' });
  const body = h('textarea', { rows: 4, maxlength: MAX_CHARS, required: true, 'data-testid': 'message-body' });
  return h('div', {},
    h('p', {}, h('a', { href: '#/messages' }, '← All messages')),
    h('h1', {}, 'New message'),
    h('form', {
      class: 'card',
      onsubmit: async (event) => {
        event.preventDefault();
        const choice = options.find((o) => o.key === to.value);
        const text = body.value.trim();
        if (!choice || !text) { app.announce('Choose who to write to, and write a message'); return; }
        const tid = app.newId();
        await app.mutate('thread', 'put', tid, { subject: subject.value.trim() || excerpt(text, 60), kind: 'direct', ...choice.data });
        // (a lesson's conversation carries kind: 'lesson' and its lesson in `choice.data`)
        await app.mutate('message', 'put', app.newId(), { thread_id: tid, body: text, sent_at: nowIso() });
        app.announce(navigator.onLine ? 'Message sent' : 'Message saved: it is sent when you are back online');
        app.navigate(`#/messages/${tid}`);
      },
    },
    field('To', to, options.length ? null : 'Nobody to write to yet'),
    field('Subject', subject),
    field('Message', body, `Up to ${MAX_CHARS} characters`),
    h('button', { type: 'submit', class: 'primary' }, 'Send')));
}
