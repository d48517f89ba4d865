/** The sign-in form. */

import { h, field } from './dom.js';

export function loginView(onSubmit, message) {
  const tenant = h('input', { name: 'tenant', autocomplete: 'organization', required: true, value: 'demo', autocapitalize: 'none' });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
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
  button);
  return h('div', { class: 'narrow' }, form);
}
