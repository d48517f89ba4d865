/**
 * The screens behind the links in account emails: `#/accept?token=…` (an invitation: set
 * your first password) and `#/reset?token=…` (forgot password: set a new one). Both send
 * the token and the new password to the server and sign in with the answer, like the
 * sign-in form. They need the network: nothing here goes through the outbox (a password
 * is never stored on the device), and offline the screen says so instead of queueing.
 */

import { h, field } from './dom.js';

const KINDS = {
  accept: {
    title: 'Set your password',
    intro: 'Welcome! Choose a password for your account. You will use it with your email address to sign in.',
    button: 'Set password and sign in',
    path: '/v1/auth/invitations/accept',
  },
  reset: {
    title: 'Choose a new password',
    intro: 'Choose a new password for your account. Other devices signed in to it will be signed out.',
    button: 'Save new password and sign in',
    path: '/v1/auth/password/reset',
  },
};

export const MIN_PASSWORD = 8; // the server's rule (sync/accounts.py); it has the last word

/** {kind, token} when the address is an account link, else null. */
export function accountLink(hash) {
  const m = /^#\/(accept|reset)\?(.*)$/.exec(hash || '');
  if (!m) return null;
  const token = new URLSearchParams(m[2]).get('token');
  return token ? { kind: m[1], token } : null;
}

/** What a refused password or link means, in words. */
export function accountError(err) {
  if (err.offline) return 'You are offline. Connect to the internet and try again.';
  if (err.code === 'invalid_token') return 'This link has expired or was already used. Ask your school for a new invitation, or use "Forgot password?" on the sign-in page.';
  if (err.code === 'weak_password') {
    const why = err.details && err.details.reason;
    if (why === 'is_email') return 'Your password must not be your email address.';
    return `Your password needs at least ${MIN_PASSWORD} characters.`;
  }
  if (err.code === 'wrong_password') return 'Your current password is not right.';
  if (err.code === 'rate_limited') return 'Too many tries. Wait a little and try again.';
  return `Could not save the password: ${err.message}`;
}

/** Two password inputs (new and again) with a check that they match. */
export function newPasswordFields() {
  const password = h('input', { name: 'new-password', type: 'password', autocomplete: 'new-password', required: true });
  const again = h('input', { name: 'new-password-again', type: 'password', autocomplete: 'new-password', required: true });
  const problem = () => {
    if (password.value.length < MIN_PASSWORD) return `Your password needs at least ${MIN_PASSWORD} characters.`;
    if (password.value !== again.value) return 'The two passwords are not the same.';
    return null;
  };
  return {
    password, again, problem,
    nodes: [field('New password', password, `At least ${MIN_PASSWORD} characters.`), field('New password again', again)],
  };
}

export function offlineNote() {
  const note = h('p', { class: 'notice', 'data-testid': 'needs-network', hidden: navigator.onLine },
    'You are offline. Setting a password needs a connection to your school.');
  const update = () => {
    if (!note.isConnected && note.dataset.shown) { // its view is gone: stop listening
      removeEventListener('online', update);
      removeEventListener('offline', update);
      return;
    }
    note.dataset.shown = '1';
    note.hidden = navigator.onLine;
  };
  addEventListener('online', update);
  addEventListener('offline', update);
  return note;
}

/**
 * The form of an account link. `call` is the API call (api.js), `onSignedIn(tokens)`
 * starts the app with the answer, `onSignIn()` goes to the sign-in page.
 */
export function accountLinkView(link, call, onSignedIn, onSignIn) {
  const kind = KINDS[link.kind];
  const pw = newPasswordFields();
  const status = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'account-error' });
  const button = h('button', { type: 'submit', class: 'primary' }, kind.button);
  const form = h('form', {
    class: 'card login', 'data-testid': `account-${link.kind}`,
    oninput: () => { status.textContent = ''; }, // an old complaint must not outlive its cause
    onsubmit: async (event) => {
      event.preventDefault();
      status.textContent = '';
      const problem = pw.problem();
      if (problem) { status.textContent = problem; pw.password.focus(); return; }
      if (!navigator.onLine) { status.textContent = 'You are offline. Connect to the internet to set your password.'; return; }
      button.disabled = true;
      button.textContent = 'Saving…';
      try {
        const tokens = await call('POST', kind.path, { token: link.token, password: pw.password.value }, { auth: false });
        await onSignedIn(tokens);
      } catch (err) {
        status.textContent = accountError(err);
        button.disabled = false;
        button.textContent = kind.button;
        if (err.code !== 'invalid_token') pw.password.focus();
      }
    },
  },
  h('h1', { tabindex: '-1' }, kind.title),
  h('p', {}, kind.intro),
  offlineNote(),
  ...pw.nodes,
  status,
  button,
  h('p', {}, h('a', { href: '#/', onclick: (e) => { e.preventDefault(); onSignIn(); } }, 'Back to sign in')));
  return h('div', { class: 'narrow' }, form);
}
