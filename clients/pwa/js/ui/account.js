/**
 * The account page (who is signed in, this device's sync state, verify the replica, sign
 * out) and the push notifications opt-in: the subscription is sent to the server with this
 * installation's client_id. Where the server has no push endpoints (404) or the browser no
 * Push API, the card says so instead of offering a button that cannot work. And change
 * password (online only).
 */

import { h, section, field, fmt, plural } from './dom.js';
import { accountError, newPasswordFields, offlineNote } from './accept.js';
import { feedCard } from './calendar.js';
import { settingsCard } from './settings.js';

function b64ToBytes(b64) {
  const pad = '='.repeat((4 - (b64.length % 4)) % 4);
  const raw = atob((b64 + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function bytesToB64(buffer) {
  const bytes = new Uint8Array(buffer);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The server's VAPID public key (applicationServerKey), or null when push is not set up. */
async function vapidKey(app) {
  const body = await app.api('GET', '/v1/push/vapid-key');
  if (!body || body.enabled === false) return null;
  return body.public_key || null;
}

/** Subscribe this browser and tell the server. */
export async function subscribePush(app) {
  const key = await vapidKey(app);
  if (!key) throw new Error('the server has no push key configured');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications are blocked in this browser\'s settings');
  const reg = await navigator.serviceWorker.ready;
  const sub = (await reg.pushManager.getSubscription())
    || (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) }));
  const json = sub.toJSON ? sub.toJSON() : {};
  const keys = (json && json.keys) || { p256dh: bytesToB64(sub.getKey('p256dh')), auth: bytesToB64(sub.getKey('auth')) };
  await app.api('POST', '/v1/push/subscriptions', { endpoint: sub.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, client_id: app.clientId });
  return sub;
}

export function pushCard(app) {
  const body = h('div', { 'data-testid': 'push-card' }, h('p', { class: 'hint' }, 'Checking…'));
  const card = section('Notifications', body);
  const say = (...nodes) => body.replaceChildren(...nodes);
  (async () => {
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
      say(h('p', {}, 'This browser cannot receive notifications.'));
      return;
    }
    if (!navigator.onLine) { say(h('p', {}, 'Connect to the internet to turn notifications on.')); return; }
    let key = null;
    try {
      key = await vapidKey(app);
    } catch (err) {
      say(h('p', { 'data-testid': 'push-unavailable' }, err.status === 404
        ? 'Notifications are not available from your school\'s server yet.'
        : `Notifications cannot be set up right now (${err.message}).`));
      return;
    }
    if (!key) {
      say(h('p', { 'data-testid': 'push-unavailable' }, 'Notifications are not available from your school\'s server yet (push is not set up there).'));
      return;
    }
    const reg = await navigator.serviceWorker.ready;
    const existing = await reg.pushManager.getSubscription();
    if (existing && Notification.permission === 'granted') {
      say(h('p', { 'data-testid': 'push-on' }, 'Notifications are on for this device.'));
      return;
    }
    if (Notification.permission === 'denied') {
      say(h('p', {}, 'Notifications are blocked for this site in the browser settings.'));
      return;
    }
    const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'push-enable', onclick: async () => {
      button.disabled = true;
      try {
        await subscribePush(app);
        say(h('p', { 'data-testid': 'push-on', role: 'status' }, 'Notifications are on for this device.'));
      } catch (err) {
        button.disabled = false;
        say(h('p', { role: 'alert' }, `Could not turn notifications on: ${err.message}`), button);
      }
    } }, 'Turn on notifications');
    say(h('p', {}, 'Get a reminder before each lesson, and news of bookings and results.'), button);
  })();
  return card;
}

/**
 * Change password: online only (a password never goes through the outbox). The server
 * checks the current one and signs out the user's other devices; this one stays.
 */
export function passwordCard(app) {
  const current = h('input', { name: 'current-password', type: 'password', autocomplete: 'current-password', required: true });
  const pw = newPasswordFields();
  const status = h('p', { role: 'status', 'data-testid': 'password-status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h('form', {
    'data-testid': 'password-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const problem = pw.problem();
      if (problem) { status.textContent = problem; pw.password.focus(); return; }
      if (!navigator.onLine) { status.textContent = 'You are offline. Changing your password needs a connection.'; return; }
      button.disabled = true;
      status.textContent = 'Saving…';
      try {
        await app.api('POST', '/v1/auth/password/change', { current_password: current.value, new_password: pw.password.value });
        form.reset();
        status.textContent = 'Password changed. Your other devices are signed out.';
      } catch (err) {
        status.textContent = accountError(err);
        (err.code === 'wrong_password' ? current : pw.password).focus();
      } finally {
        button.disabled = false;
      }
    },
  }, offlineNote(), field('Current password', current), ...pw.nodes, status, button);
  return section('Change password', form);
}

export async function accountView(app) {
  const st = await app.engine.status();
  const out = h('p', { role: 'status' });
  const syncNow = async () => {
    out.textContent = 'Syncing…';
    try { await app.engine.flush(); await app.engine.pull(); out.textContent = 'Up to date.'; } catch (err) { out.textContent = `Could not sync: ${err.message}`; }
    app.syncNow(); // and let the scheduler see it (status bar, backoff) at once
  };
  const verify = async () => {
    out.textContent = 'Checking this device\'s copy against the server…';
    try {
      const r = await app.engine.verify();
      out.textContent = r.ok ? `This device's copy matches the server (${plural(r.checked, 'kind')} of record).` : `Differences found in ${r.mismatched.join(', ')}: downloaded again.`;
    } catch (err) { out.textContent = `Could not check: ${err.message}`; }
  };
  return h('div', {},
    h('h1', {}, 'Account'),
    section('You', h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, app.user.name || '—'),
      h('dt', {}, 'Email'), h('dd', {}, app.user.email || '—'),
      h('dt', {}, 'Role'), h('dd', {}, app.user.role),
      h('dt', {}, 'School'), h('dd', {}, app.session.tenant || app.user.tenant_id))),
    section('This device', h('dl', { class: 'facts' },
      h('dt', {}, 'Changes waiting'), h('dd', {}, String(st.pending)),
      h('dt', {}, 'Last synced'), h('dd', {}, fmt.ago(st.lastSyncedAt)),
      h('dt', {}, 'Data as of revision'), h('dd', {}, String(st.lastPullRev ?? '—')),
      h('dt', {}, 'Installation id'), h('dd', { class: 'mono' }, app.clientId)),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: syncNow }, 'Sync now'),
      h('button', { type: 'button', onclick: verify }, 'Verify data')),
    out),
    pushCard(app),
    settingsCard(),
    feedCard(app),
    passwordCard(app),
    section('Sign out', h('p', {}, 'Signing out removes your data from this device.'),
      h('button', { type: 'button', class: 'danger', onclick: () => document.getElementById('signout').click() }, 'Sign out')));
}
