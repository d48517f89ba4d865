/**
 * The app controller: service worker registration, sign-in and sign-out, the user's
 * replica and sync engine, the sync scheduler (backoff, online/offline, pokes, Background
 * Sync), the status bar, the hash router and the views' shared API (`app`).
 */

import { call } from './api.js';
import { deleteDb, openUserDb, userDbName } from './db.js';
import { Live } from './live.js';
import { enqueue, uuid7 } from './outbox.js';
import * as replica from './replica.js';
import { RETRY_AFTER_CAP_MS, reachability, retryDelay } from './retry.js';
import { clearSession, clientId, getSession, setSession } from './session.js';
import { SyncEngine } from './sync.js';
import { h, fmt, clear, plural, verb } from './ui/dom.js';
import { ROUTES, NAV } from './ui/routes.js';
import { unreadTotal } from './ui/messages.js';
import { loginView } from './ui/login.js';
import { accountLink, accountLinkView } from './ui/accept.js';
import { problemsDialog } from './ui/problems.js';
import { recorder } from './ui/trip.js';
import * as focusKeeper from './ui/focus.js';
import { unreadCount } from './ui/inbox.js';

const channel = 'BroadcastChannel' in self ? new BroadcastChannel('drivesync') : null;
const $ = (sel) => document.querySelector(sel);

/** What every view receives. */
export const app = {
  session: null,
  user: null,
  db: null,
  engine: null,
  live: null,
  clientId: null,
  syncing: false,
  lastError: null,
  initialSync: false,

  get role() { return this.user ? this.user.role : null; },
  get isAdmin() { return ['admin', 'owner'].includes(this.role); },
  all(entity) { return replica.all(this.db, entity); },
  get(entity, id) { return replica.get(this.db, entity, id); },
  draftGet(key) { return replica.draftGet(this.db, key); },
  draftSet(key, value) { return replica.draftSet(this.db, key, value); },
  api: call,
  newId: uuid7,
  /** The user asked: try now, even inside a Retry-After (automatic tries honour it). */
  syncNow() { scheduler.notBefore = 0; scheduler.retryNow(); },

  /** Record a change made by the user: outbox first, then push when we can. */
  async mutate(entity, op, id, data) {
    const m = await enqueue(this.db, this.user, this.clientId, { entity, id, op, data });
    scheduler.kick(250);
    requestBackgroundSync();
    updateStatus();
    return m;
  },

  navigate(hash) {
    if (location.hash === hash) render({ focus: true }); else location.hash = hash;
  },

  /** Re-render the current view from the replica (keeps focus where it can). */
  refresh() { return render({ focus: false }); },

  announce(text) {
    const el = $('#announcer');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
  },
};

// For the browser tests and for debugging from the console.
globalThis.__drivesync = app;

// ---------------------------------------------------------------------------- scheduler
const scheduler = {
  timer: null,
  attempt: 0, // failures in a row (reset by a success, `online`, the live socket's return)
  notBefore: 0, // the server's Retry-After: no try before this (ms since epoch), whoever asks
  running: false,
  again: false,
  // The highest rev a poke announced, and how often a pull has come back below it: with
  // several server processes, the process answering the pull may not have heard that
  // commit yet, so the pull is tried again shortly (a few times, then the next poke or
  // poll catches up).
  wantRev: -1,
  behind: 0,

  kick(delay = 0) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), Math.max(delay, this.notBefore - Date.now()));
  },

  /** Try again soon: the server came back (live socket, `online`) or the user asked. */
  retryNow() {
    this.attempt = 0;
    this.kick(0);
  },

  async run() {
    if (!app.engine) return;
    if (this.running) { this.again = true; return; }
    if (!navigator.onLine) { updateStatus(); return; }
    this.running = true;
    app.syncing = true;
    updateStatus();
    let delay = null;
    try {
      await app.engine.flush();
      await app.engine.pull();
      this.attempt = 0;
      this.notBefore = 0;
      app.lastError = null;
      const pulled = (await replica.metaGet(app.db, 'last_pull_rev')) ?? -1;
      if (pulled < this.wantRev && this.behind < 4) {
        this.behind += 1;
        delay = 100 * 2 ** this.behind;
      } else {
        this.behind = 0;
      }
    } catch (err) {
      app.lastError = err;
      // Every failure but a stop (426, expired session) is retried with backoff — a
      // network error too while the browser is online: the server is down or unreachable,
      // and nothing else would tell us when it returns. Offline, the `online` event does.
      if (app.engine && !app.engine.stopped && (navigator.onLine || !err.offline)) {
        this.attempt += 1;
        delay = retryDelay(this.attempt, err.retryAfter);
      }
      this.notBefore = err.retryAfter ? Date.now() + Math.min(err.retryAfter * 1000, RETRY_AFTER_CAP_MS) : 0;
      if (err.offline) requestBackgroundSync({ evenOnline: true });
    } finally {
      this.running = false;
      app.syncing = false;
      app.initialSync = false;
      updateStatus();
      if (this.again) { this.again = false; this.kick(0); } else if (delay !== null) this.kick(delay);
    }
  },
};

/**
 * Ask the service worker to push the outbox when the browser next has a connection, even
 * if this page is closed by then. Offline, that is when the network returns; with
 * `evenOnline` (the server was unreachable) it fires at once, and the browser retries a
 * failed one later with its own backoff.
 */
async function requestBackgroundSync({ evenOnline = false } = {}) {
  try {
    if (navigator.onLine && !evenOnline) return;
    if (evenOnline && !(app.engine && (await app.engine.status()).pending)) return;
    const reg = await navigator.serviceWorker.ready;
    if (reg.sync) await reg.sync.register('outbox');
  } catch { /* no Background Sync here: the `online` event flushes instead */ }
}

// ---------------------------------------------------------------------------- status bar
let statusTimer = null;
async function updateStatus() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(paintStatus, 30);
}

async function paintStatus() {
  const el = $('#sync-status');
  if (!el || !app.engine) return;
  const st = await app.engine.status();
  const net = netState();
  announceNet(net);
  const items = [];
  items.push(h('span', { class: `pill ${NET_LOOK[net][0]}`, 'data-testid': 'net', 'data-state': net }, NET_LOOK[net][1]));
  if (st.stopped === 'upgrade_required') {
    items.push(h('span', { class: 'pill warn' }, 'Update required: reload to get the new version (your changes are kept)'));
  } else if (st.stopped === 'signed_out') {
    items.push(h('button', { class: 'pill warn', type: 'button', onclick: () => signOut({ keepData: true }) },
      'Session expired: sign in again'));
  }
  items.push(h('span', { class: `pill ${st.pending ? 'warn' : ''}`, 'data-testid': 'pending', 'data-count': st.pending },
    st.pending ? `${st.pending} to sync` : 'All saved'));
  items.push(h('span', { class: 'pill', 'data-testid': 'synced', 'data-at': st.lastSyncedAt || '' },
    // With changes waiting (or the server out of reach) "Synced just now" would read as
    // if all were sent: say it is the last sync.
    app.syncing ? 'Syncing…' : `${st.pending ? 'Last synced' : 'Synced'} ${fmt.ago(st.lastSyncedAt)}`));
  if (app.lastError && !reachability(app.lastError, true) && !st.stopped) {
    items.push(h('span', { class: 'pill warn' }, `Retrying: ${app.lastError.message}`));
  }
  if (st.problems) {
    items.push(h('button', { class: 'pill bad', type: 'button', 'data-testid': 'problems',
      onclick: () => problemsDialog(app) }, plural(st.problems, 'problem')));
  }
  // #sync-status is a polite live region: repaint only what changed, so a screen reader
  // hears a change, not the same bar every 30 s, and a focused button in it keeps focus.
  const next = items.map((n) => n.outerHTML).join('');
  if (next === el.dataset.painted) return;
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  el.dataset.painted = next;
  el.replaceChildren(...items);
  if (focused) el.querySelector(`[data-testid="${focused}"]`)?.focus();
}

/** The connection as the user should understand it: the browser's network first, then
 * whether the server answered the last sync (a sync that fails while the browser is
 * online means the server is down or unreachable, which is not the user's network). */
function netState() {
  if (!navigator.onLine) return 'offline';
  const failure = reachability(app.lastError, true);
  if (failure === 'unavailable') return failure; // it answers, but cannot sync (503…)
  if (app.live && app.live.connected) return 'live'; // the server answers right now
  return failure || 'online';
}

const NET_LOOK = {
  offline: ['off', 'Offline'],
  unreachable: ['down', 'Server unreachable — retrying'],
  unavailable: ['down', 'Server unavailable — retrying'],
  online: ['ok', 'Online'],
  live: ['ok', 'Online · live'],
};

let lastNet = null;
/** Tell screen-reader users when the server goes away and comes back (the browser's own
 * offline/online is announced by its event handlers). */
function announceNet(net) {
  const down = net === 'unreachable' || net === 'unavailable';
  const wasDown = lastNet === 'unreachable' || lastNet === 'unavailable';
  if (down && !wasDown) app.announce('The school\'s server cannot be reached. Your changes are kept on this device and sent when it answers again.');
  if (wasDown && (net === 'online' || net === 'live')) app.announce('Connected to the school\'s server again.');
  lastNet = net;
}

// ---------------------------------------------------------------------------- rendering
let renderTimer = null;
let renderToken = 0;
let deferred = false;

/** True while the user types in the view (or a view holds still, like a running mock
 * test): a data-driven re-render then waits, so it never steals focus or text. */
function editing() {
  if ($('#main [data-hold]')) return true;
  const a = document.activeElement;
  return a && $('#main').contains(a) && (a.matches('input, textarea, select, [contenteditable]'));
}

function scheduleRender(delay = 80) {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(() => {
    if (editing()) { deferred = true; return; }
    render({ focus: false });
  }, delay);
}

function currentRoute() {
  const parts = (location.hash || '').replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const routes = ROUTES[app.isAdmin ? 'admin' : app.role] || {};
  const name = parts[0] && routes[parts[0]] ? parts[0] : NAV[app.isAdmin ? 'admin' : app.role][0][0];
  return { name, view: routes[name], params: parts.slice(1) };
}

async function render({ focus }) {
  if (!app.engine) return;
  const token = ++renderToken;
  deferred = false;
  const { name, view, params } = currentRoute();
  paintNav(name);
  paintInbox(name);
  const main = $('#main');
  let node;
  try {
    node = await view(app, ...params);
    // After the view: opening a thread marks it read first.
    badges.messages = await unreadTotal(app);
  } catch (err) {
    console.error(err);
    node = h('div', { class: 'card' }, h('h1', { tabindex: '-1' }, 'Something went wrong'), h('p', {}, String(err.message || err)));
  }
  if (token !== renderToken) return;
  paintNav(name);
  // The focused control (or the last one, if the focus already fell to <body>): the new
  // view gets the same control, or its heading, back (ui/focus.js). Read now, not before
  // the view's data loaded: a key pressed meanwhile moved the focus, and a render that
  // remembered the earlier control would take the focus back to it.
  const kept = focus ? null : focusKeeper.remember(main);
  const scroll = window.scrollY;
  main.replaceChildren(node);
  main.dataset.view = name;
  const heading = main.querySelector('h1');
  if (heading) heading.setAttribute('tabindex', '-1'); // focusable by script, not by Tab
  if (focus) {
    focusKeeper.forget();
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  } else {
    window.scrollTo(0, scroll);
    focusKeeper.restore(main, kept);
  }
}

/** Counts shown on tabs (unread messages), kept between renders. */
const badges = { messages: 0 };

/** A tab's label with its count: the number is in the link's text, so a screen reader
 * reads "Messages, 3 unread". */
function tabLabel(route, label) {
  const n = badges[route] || 0;
  if (!n) return label;
  return [label, h('span', { class: 'tab-count', 'data-testid': `${route}-badge`, 'data-count': n },
    h('span', { class: 'sr-only' }, ', '), String(n), h('span', { class: 'sr-only' }, ' unread'))];
}

/** The header's Inbox link: its unread count (in its text, so a screen reader says it). */
async function paintInbox(active) {
  const link = $('#inbox-link');
  if (active === 'inbox') link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  const unread = app.engine ? await unreadCount(app) : 0;
  const count = $('#inbox-count');
  count.hidden = !unread;
  count.textContent = unread ? String(unread) : '';
  if (unread) count.append(h('span', { class: 'sr-only' }, ' unread'));
}

function paintNav(active) {
  const nav = $('#nav');
  const items = NAV[app.isAdmin ? 'admin' : app.role] || [];
  const next = JSON.stringify([active, items, badges]);
  if (nav.dataset.painted === next && nav.firstChild) return; // a keyboard user's focus stays
  nav.dataset.painted = next;
  const focused = nav.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
  nav.replaceChildren(h('ul', {}, items.map(([route, label]) => h('li', {},
    h('a', { href: `#/${route}`, 'aria-current': route === active ? 'page' : false }, tabLabel(route, label))))));
  if (focused) nav.querySelector(`a[href="${focused}"]`)?.focus();
  // On a phone the bar scrolls sideways: bring the current tab into sight (only sideways:
  // the page itself must not move under a re-render).
  const current = nav.querySelector('a[aria-current="page"]');
  if (current && nav.scrollWidth > nav.clientWidth) {
    const bar = nav.getBoundingClientRect();
    const tab = current.getBoundingClientRect();
    if (tab.left < bar.left) nav.scrollLeft -= bar.left - tab.left + 16;
    else if (tab.right > bar.right) nav.scrollLeft += tab.right - bar.right + 16;
  }
}

// ---------------------------------------------------------------------------- session
async function start(session) {
  app.session = session;
  app.user = session.user;
  app.clientId = await clientId();
  app.db = await openUserDb(session.user.tenant_id, session.user.id);
  app.engine = new SyncEngine({
    db: app.db, user: app.user, clientId: app.clientId,
    onChange: (what) => { scheduleRender(); updateStatus(); if (channel) channel.postMessage({ type: 'changed', what }); },
  });
  app.initialSync = !(await replica.metaGet(app.db, 'cursor'));
  document.body.dataset.role = app.role;
  $('#who').textContent = `${app.user.name || app.user.email || ''} · ${app.role}`;
  $('#signout').hidden = false;
  $('#inbox-link').hidden = false;
  $('#signout').onclick = () => signOut({});
  app.live = new Live(async (rev) => {
    const last = (await replica.metaGet(app.db, 'last_pull_rev')) ?? -1;
    if (rev > last) {
      scheduler.wantRev = Math.max(scheduler.wantRev, rev);
      scheduler.behind = 0;
      scheduler.kick(30);
    }
  }, (connected) => {
    updateStatus();
    if (!app.engine) return;
    // The socket is up: the server answers again, so push what waits now (a poke or
    // `ready` alone only pulls). Down while the browser is online: find out, and show,
    // whether the server can be reached at all.
    if (connected && (app.lastError || scheduler.attempt)) scheduler.retryNow();
    else if (connected) app.engine.status().then((st) => { if (st.pending) scheduler.retryNow(); });
    else if (navigator.onLine && !scheduler.running) scheduler.kick(1000);
  });
  app.live.start();
  if (app.role === 'instructor') await recorder.resume(app).catch((err) => console.error(err));
  await render({ focus: false }); // on load, the skip link stays the first stop for Tab
  updateStatus();
  scheduler.kick(0);
}

async function signOut({ keepData = false }) {
  if (!app.engine) return;
  if (keepData) {
    // Expired session: sign in again as the same user; the outbox stays and is pushed then.
    stopSync();
    await clearSession();
    return showLogin('Your session expired. Sign in again: your unsynced changes are kept on this device.');
  }
  const st = await app.engine.status();
  if (st.pending && navigator.onLine) {
    try { await app.engine.flush(); } catch { /* counted below */ }
  }
  const left = (await app.engine.status()).pending;
  if (left && !confirm(`${plural(left, 'change')} ${verb(left, 'has', 'have')} not reached the school yet and will be lost. Sign out anyway?`)) return;
  const session = app.session;
  stopSync();
  try { await call('POST', '/v1/auth/logout', { refresh_token: session.refresh_token }, { auth: false }); } catch { /* offline: the token expires */ }
  app.db.close();
  await deleteDb(userDbName(session.user.tenant_id, session.user.id)); // logout wipes the replica
  await clearSession();
  app.db = null;
  showLogin('Signed out. This device no longer holds your data.');
}

function stopSync() {
  if (app.live) app.live.stop();
  clearTimeout(scheduler.timer);
  app.engine = null;
  app.live = null;
}

function showLogin(message) {
  document.body.dataset.role = '';
  $('#who').textContent = '';
  $('#signout').hidden = true;
  $('#inbox-link').hidden = true;
  $('#nav').replaceChildren();
  delete $('#nav').dataset.painted;
  badges.messages = 0;
  $('#sync-status').replaceChildren();
  delete $('#sync-status').dataset.painted;
  $('#main').replaceChildren(loginView(async (body) => {
    const tokens = await call('POST', '/v1/auth/login', body, { auth: false });
    const session = { access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user, tenant: body.tenant, school: tokens.school };
    await setSession(session);
    await start(session);
  }, message));
  const heading = $('#main h1');
  if (heading) heading.focus();
}

/** A link from an account email (#/accept?token=…, #/reset?token=…) opened on a device
 * where nobody is signed in: set the password, then start as after a sign-in. The token
 * leaves the address bar once it is spent (or the user goes back to sign in). */
function showAccountLink(link) {
  showLogin();
  const forget = () => history.replaceState(null, '', location.pathname + location.search);
  $('#main').replaceChildren(accountLinkView(link, call, async (tokens) => {
    const session = { access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user, tenant: tokens.school.slug, school: tokens.school };
    await setSession(session);
    forget();
    await start(session);
    app.announce('Your password is set. You are signed in.');
  }, () => { forget(); showLogin(); }));
  $('#main h1').focus();
}

// ---------------------------------------------------------------------------- boot
async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
    // A page that loaded while the worker was installing can miss its clients.claim():
    // ask the active worker to take it, so that this page's reloads work offline too.
    navigator.serviceWorker.ready.then((reg) => {
      if (!navigator.serviceWorker.controller && reg.active) reg.active.postMessage({ type: 'claim' });
    });
    let shown = false;
    const hadController = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      if (!hadController || shown) return; // the first claim is not an update
      shown = true;
      const bar = $('#update');
      bar.hidden = false;
    });
  } catch (err) {
    console.warn('service worker not registered', err);
  }
}

async function boot() {
  registerWorker();
  addEventListener('hashchange', () => {
    const link = !app.engine && accountLink(location.hash);
    if (link) showAccountLink(link); else render({ focus: true });
  });
  addEventListener('online', () => {
    if (app.lastError && app.lastError.offline) app.lastError = null; // that was our network
    scheduler.retryNow(); updateStatus();
    if (app.engine) app.announce('Back online: syncing your changes');
  });
  // Back in sight: re-render (an open conversation is marked read only while visible).
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && app.engine) scheduleRender(0);
  });
  addEventListener('offline', () => {
    updateStatus();
    if (app.engine) app.announce('You are offline. Changes are saved on this device and sent when you are back online.');
  });
  $('#skip').onclick = (event) => { event.preventDefault(); $('#main').focus(); };
  focusKeeper.track($('#main'));
  // The sticky header's height changes (the status bar wraps on a phone): the page keeps
  // that much room at the top when it scrolls a focused control into view, so tabbing
  // backwards never leaves it under the header (app.css has a fixed fallback).
  const header = $('header.top');
  if (header && 'ResizeObserver' in self) {
    new ResizeObserver(() => {
      document.documentElement.style.scrollPaddingTop = `${header.offsetHeight + 8}px`;
    }).observe(header);
  }
  document.addEventListener('focusout', () => {
    if (deferred) setTimeout(() => { if (!editing() && deferred) { deferred = false; render({ focus: false }); } }, 50);
  });
  if (channel) channel.onmessage = (e) => { if (e.data && e.data.type === 'changed') { scheduleRender(); updateStatus(); } };
  setInterval(() => { updateStatus(); if (navigator.onLine && !(app.live && app.live.connected)) scheduler.kick(0); }, 30000);
  $('#update-reload').onclick = () => location.reload();
  const session = await getSession();
  const link = accountLink(location.hash);
  if (session) await start(session); else if (link) showAccountLink(link); else showLogin();
  document.documentElement.dataset.ready = '1';
}

boot();
