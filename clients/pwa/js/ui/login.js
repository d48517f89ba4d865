/** The sign-in form, and "Forgot password?" (asks the server to email a reset link). */

import { call } from '../api.js';
import { h, field } from './dom.js';

export function loginView(onSubmit, message) {
  const tenant = h('input', { name: 'tenant', autocomplete: 'organization', required: true, value: 'demo', autocapitalize: 'none' });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const wrap = h('div', { class: 'narrow' });
  const forgot = h('p', {}, h('a', { href: '#/forgot', 'data-testid': 'forgot-link', onclick: (event) => {
    event.preventDefault();
    wrap.replaceChildren(forgotView({ tenant: tenant.value.trim(), email: email.value.trim() }, () => {
      wrap.replaceChildren(form);
      email.focus();
    }));
    wrap.querySelector('h1').focus();
  } }, 'Forgot password?'));
  const form = h('form', {
    class: 'card login', novalidate: false,
    onsubmit: async (event) => {
      event.preventDefault();
      status.textContent = '';
      if (!navigator.onLine) { status.textContent = 'You are offline. Signing in needs a connection once; after that the app works offline.'; return; }
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await onSubmit({ tenant: tenant.value.trim(), email: email.value.trim(), password: password.value });
      } catch (err) {
        status.textContent = err.status === 401 ? 'Email or password not recognised for this school.' : `Could not sign in: ${err.message}`;
        button.disabled = false;
        button.textContent = 'Sign in';
        password.focus();
      }
    },
  },
  h('h1', { tabindex: '-1' }, 'Sign in'),
  message ? h('p', { class: 'notice' }, message) : null,
  field('School', tenant, 'Your school\'s short name, e.g. demo'),
  field('Email', email),
  field('Password', password),
  status,
  button,
  forgot);
  wrap.append(form);
  return wrap;
}

/**
 * Ask for a password-reset email. The server answers the same whether or not the account
 * exists, so this screen says the same too. Online only (nothing is queued).
 */
export function forgotView(prefill, onBack) {
  const tenant = h('input', { name: 'tenant', autocomplete: 'organization', required: true, value: prefill.tenant || '', autocapitalize: 'none' });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, value: prefill.email || '', autocapitalize: 'none' });
  const status = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'notice', role: 'status', 'data-testid': 'forgot-sent', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Email me a link');
  return h('form', {
    class: 'card login', 'data-testid': 'forgot-form',
    onsubmit: async (event) => {
      event.preventDefault();
      status.textContent = '';
      done.hidden = true;
      if (!navigator.onLine) { status.textContent = 'You are offline. Asking for a new password needs a connection.'; return; }
      button.disabled = true;
      try {
        const body = await call('POST', '/v1/auth/password/forgot', { school: tenant.value.trim(), email: email.value.trim() }, { auth: false });
        done.textContent = `${body.message} The link works for a short time, once. Check your spam folder if it does not arrive.`;
        done.hidden = false;
      } catch (err) {
        status.textContent = err.code === 'rate_limited'
          ? 'Too many requests for this address. Wait a while and try again.'
          : err.offline ? 'You are offline. Asking for a new password needs a connection.' : `Could not send: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', { tabindex: '-1' }, 'Forgot password'),
  h('p', {}, 'Enter your school and email address. If they match an account, we email you a link to choose a new password.'),
  field('School', tenant, 'Your school\'s short name, e.g. demo'),
  field('Email', email),
  status,
  done,
  button,
  h('p', {}, h('a', { href: '#/', onclick: (event) => { event.preventDefault(); onBack(); } }, 'Back to sign in')));
}
