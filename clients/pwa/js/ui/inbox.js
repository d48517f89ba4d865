/**
 * The notification centre: every notification this user was sent (push, email or SMS, or
 * none when they turned a kind off) is kept by the server as their own `inbox_item`, so the
 * list is read from the replica, offline too. Marking an item read is a patch of its
 * `read_at` like any change: it reaches the user's other devices through sync, and the
 * first read on any device is the one kept.
 */

import { h, empty, fmt, badge, plural, sortBy, nowIso } from './dom.js';

/** Unread items of the replica (the header's count). */
export async function unreadCount(app) {
  return (await app.all('inbox_item')).filter((i) => !i.read_at).length;
}

async function markRead(app, items) {
  const at = nowIso();
  for (const item of items) await app.mutate('inbox_item', 'patch', item.id, { read_at: at });
}

function itemView(app, item) {
  const unread = !item.read_at;
  const open = item.link
    ? h('a', { href: item.link, onclick: () => { if (unread) markRead(app, [item]); } }, 'Open')
    : null;
  const read = unread
    ? h('button', {
      type: 'button',
      'data-focus': `read-${item.id}`,
      onclick: async () => { await markRead(app, [item]); app.announce('Marked read'); app.refresh(); },
    }, 'Mark read')
    : null;
  return h('li', { class: `inbox-item${unread ? ' unread' : ''}`, 'data-inbox-id': item.id },
    h('div', { class: 'inbox-head' },
      h('strong', {}, item.title),
      unread ? badge('new', 'info') : null,
      h('span', { class: 'hint' }, ` · ${fmt.dateTime(item.created_at)}`)),
    h('p', {}, item.body),
    open || read ? h('div', { class: 'actions' }, open, read) : null);
}

export async function inboxView(app) {
  const items = sortBy(await app.all('inbox_item'), (i) => i.created_at, true);
  const unread = items.filter((i) => !i.read_at);
  const all = unread.length
    ? h('button', {
      type: 'button',
      'data-focus': 'read-all',
      onclick: async () => { await markRead(app, unread); app.announce('All marked read'); app.refresh(); },
    }, 'Mark all read')
    : null;
  return h('div', { class: 'card' },
    h('h1', {}, 'Inbox'),
    h('p', { class: 'hint', 'data-testid': 'inbox-summary' },
      items.length ? `${unread.length ? `${plural(unread.length, 'unread notification')} of ${items.length}` : `${plural(items.length, 'notification')}, all read`}. Kept on this device: readable offline.`
        : 'Nothing yet: notifications you are sent (bookings, lessons, payments) are kept here.'),
    all ? h('div', { class: 'actions' }, all) : null,
    items.length
      ? h('ul', { class: 'plain list inbox', 'data-testid': 'inbox' }, items.map((i) => itemView(app, i)))
      : empty('No notifications.'));
}
