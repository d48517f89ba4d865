// The messaging helpers of the PWA (no browser needed): read-mark ids agree with the
// server's (sync/rules/messaging.py member_id: uuid5 of "<thread>:<user>"), and what
// counts as unread.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isUnread, memberId, timeKey, uuid5 } from '../js/ui/messages.js';

test('uuid5 is Python\'s uuid.uuid5', async () => {
  // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org')
  assert.equal(await uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'),
    '886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

test('a read mark\'s id is the server\'s member_id', async () => {
  // sync.rules.messaging.member_id('a', 'b')
  assert.equal(await memberId('a', 'b'), 'fb26c461-27d4-52e0-a51b-8cc2ac651b12');
});

test('unread: written by someone else, taken by the server after my mark', () => {
  const m = { author_id: 'them', received_at: '2026-12-02T10:00:00Z' };
  assert.equal(isUnread(m, 'me', undefined), true);
  assert.equal(isUnread(m, 'me', '2026-12-02T09:59:59Z'), true);
  assert.equal(isUnread(m, 'me', '2026-12-02T10:00:00Z'), false);
  assert.equal(isUnread({ ...m, author_id: 'me' }, 'me', undefined), false);
  assert.equal(isUnread({ ...m, _pending: true }, 'me', undefined), false);
});

test('server times compare as times, a zero fraction left out or not', () => {
  assert.ok(timeKey('2026-12-02T10:00:12.5Z') > timeKey('2026-12-02T10:00:12Z'));
  assert.equal(timeKey('2026-12-02T10:00:12Z'), timeKey('2026-12-02T10:00:12.000000Z'));
  const m = { author_id: 'them', received_at: '2026-12-02T10:00:12.000001Z' };
  assert.equal(isUnread(m, 'me', '2026-12-02T10:00:12Z'), true);
});
