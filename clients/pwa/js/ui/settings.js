/**
 * Settings → Notifications (`#/settings/notifications`, every role; the emails' footer links
 * here): which channels each kind of event comes by, quiet hours and a pause of everything,
 * through GET/PUT /v1/me/notification-preferences. It needs the network: offline the
 * screen says so and shows the values last loaded on this device (kept in its drafts
 * store), read-only.
 */

import { h, section, field, empty } from './dom.js';

export const SETTINGS_ROUTE = '#/settings/notifications';
const SAVED_KEY = 'notification-preferences';
const CHANNEL_LABELS = { webpush: 'Push', email: 'Email', sms: 'SMS', whatsapp: 'WhatsApp' };

function channelLabel(c) {
  return CHANNEL_LABELS[c] || c;
}

/** The form for one loaded body; `online` false renders it read-only. */
function prefsForm(app, body, online, status) {
  const boxes = new Map(); // event -> Map(channel -> checkbox)
  const events = Object.entries(body.events || {});
  const eventSets = events.map(([event, choice]) => {
    const mine = new Map();
    boxes.set(event, mine);
    const legendId = `ev-${event}`;
    return h('fieldset', { class: 'pref-event', 'data-event': event, 'aria-labelledby': legendId },
      h('legend', { id: legendId, class: 'pref-legend' }, choice.description,
        choice.default ? h('span', { class: 'hint' }, ' (default)') : null),
      h('div', { class: 'pref-channels' }, (body.channels || []).map((c) => {
        const box = h('input', { type: 'checkbox', id: `pref-${event}-${c}`, 'data-channel': c,
          checked: (choice.channels || []).includes(c) });
        mine.set(c, box);
        return h('label', { class: 'check', for: box.id }, box, ` ${channelLabel(c)}`);
      })));
  });
  const quiet = body.quiet_hours;
  const quietOn = h('input', { type: 'checkbox', id: 'quiet-on', checked: !!quiet });
  const qStart = h('input', { type: 'time', id: 'quiet-start', value: quiet ? quiet.start : '22:00' });
  const qEnd = h('input', { type: 'time', id: 'quiet-end', value: quiet ? quiet.end : '07:00' });
  const pause = h('input', { type: 'checkbox', id: 'pause-all', checked: !!body.opted_out });
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'save-prefs' }, 'Save notification settings');
  const form = h('form', {
    'data-testid': 'prefs-form',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!navigator.onLine) { status.textContent = 'You are offline. Changing notification settings needs a connection.'; return; }
      const changed = {};
      for (const [ev, choice] of events) {
        const picked = [...boxes.get(ev)].filter(([, box]) => box.checked).map(([c]) => c);
        const before = [...(choice.channels || [])].sort().join(',');
        if (picked.slice().sort().join(',') !== before) changed[ev] = { channels: picked };
      }
      const payload = { events: changed, opted_out: pause.checked,
        quiet_hours: quietOn.checked ? { start: qStart.value, end: qEnd.value } : null };
      save.disabled = true;
      status.textContent = 'Saving…';
      try {
        const fresh = await app.api('PUT', '/v1/me/notification-preferences', payload);
        await app.draftSet(SAVED_KEY, fresh);
        status.textContent = 'Notification settings saved.';
        app.announce('Notification settings saved');
      } catch (err) {
        status.textContent = `Could not save: ${err.message}`;
      } finally {
        save.disabled = false;
      }
    },
  },
  h('fieldset', { disabled: !online, 'data-testid': 'prefs-fields' },
    section('Quiet hours',
      h('p', { class: 'hint' }, `Push, SMS and WhatsApp wait until the end of your quiet hours (times in ${body.timezone || 'the school\'s timezone'}); nothing is lost.`),
      h('p', {}, h('label', { class: 'check', for: quietOn.id }, quietOn, ' Quiet hours on')),
      h('div', { class: 'pref-row' }, field('From', qStart), field('Until', qEnd)),
      h('p', {}, h('label', { class: 'check', for: pause.id }, pause, ' Pause all notifications'))),
    section('By kind of event', h('p', { class: 'hint' }, 'Choose how each kind reaches you.'), eventSets),
    h('div', { class: 'actions' }, save)));
  return form;
}

export async function settingsView(app, sub = 'notifications') {
  const root = h('div', {}, h('h1', {}, 'Notification settings'),
    h('p', { class: 'sub-line' }, h('a', { href: '#/account' }, 'Settings'), ' → Notifications'));
  if (sub !== 'notifications') { root.append(empty('No such settings page.')); return root; }
  const status = h('p', { role: 'status', 'data-testid': 'prefs-status' });
  let body = null;
  let online = navigator.onLine;
  if (online) {
    try {
      body = await app.api('GET', '/v1/me/notification-preferences');
      await app.draftSet(SAVED_KEY, body);
    } catch (err) {
      online = false;
      status.textContent = `Could not load your settings (${err.message}).`;
    }
  }
  if (!body) body = await app.draftGet(SAVED_KEY);
  if (!online) {
    root.append(h('p', { class: 'notice', 'data-testid': 'prefs-offline' }, body
      ? 'You are offline. These are your settings as last loaded on this device; changing them needs a connection.'
      : 'You are offline. Notification settings need a connection to your school.'));
  }
  root.append(status);
  if (body) root.append(prefsForm(app, body, online, status));
  return root;
}

/** The Account page's card leading here. */
export function settingsCard() {
  return section('Notification settings',
    h('p', {}, 'Choose how each kind of news reaches you (push, email, SMS, WhatsApp) and set quiet hours.'),
    h('a', { href: SETTINGS_ROUTE, class: 'button-link', 'data-testid': 'open-settings' }, 'Settings → Notifications'));
}
