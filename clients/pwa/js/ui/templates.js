/**
 * The school's notification wording, for admins (under the Notifications tab:
 * `#/notifications/templates` and `#/notifications/templates/<kind>`). Online only: the
 * server checks every template against sample data (422 template_invalid, naming the part
 * and line), renders the live preview and sends the test email to the admin.
 */

import { h, section, empty, badge, field, fmt } from './dom.js';

const BASE = '/v1/admin/notification-templates';
const CHANNEL_LABELS = { email: 'Email', webpush: 'Push', sms: 'SMS', whatsapp: 'WhatsApp' };
const PREVIEW_DELAY_MS = 400;
const state = { channel: 'email' };

function offline(root) {
  root.append(h('p', { class: 'notice', 'data-testid': 'templates-offline' },
    'You are offline. Editing and previewing the school\'s notification wording needs a connection.'));
  return root;
}

/** The text a channel's editor starts from: the school's own, else the built-in one. */
function startingText(kind, channel) {
  const own = (kind.overrides || []).find((o) => o.channel === channel);
  if (own) return { own, subject: own.subject || '', body_text: own.body_text || '', body_html: own.body_html || '' };
  const b = kind.builtin;
  if (channel === 'email') return { own: null, subject: b.subject, body_text: b.text, body_html: b.html };
  if (channel === 'webpush') return { own: null, subject: b.subject, body_text: b.short, body_html: '' };
  return { own: null, subject: '', body_text: b.short, body_html: '' };
}

function errorText(err) {
  const d = (err && err.details) || {};
  if (err && err.code === 'template_invalid') {
    return `Not saved: ${d.field === 'body_html' ? 'HTML body' : d.field === 'subject' ? 'subject' : 'text'}${d.line ? `, line ${d.line}` : ''}: ${d.error || err.message}`;
  }
  return `${(err && err.message) || err}`;
}

function listView(app, body) {
  return section('Kinds of notification',
    h('p', { class: 'hint' }, 'Each kind has built-in wording. Write your own for any channel; the built-in one is used where you have not.'),
    h('ul', { class: 'plain list', 'data-testid': 'template-kinds' }, body.kinds.map((k) => h('li', {},
      h('a', { class: 'row-link', href: `#/notifications/templates/${k.kind}` },
        h('span', { class: 'who' }, k.description),
        k.overrides.length ? badge(`own wording: ${k.overrides.map((o) => CHANNEL_LABELS[o.channel] || o.channel).join(', ')}`, 'completed') : null)))));
}

function editor(app, kind) {
  const channel = kind.channels.includes(state.channel) ? state.channel : kind.channels[0];
  const start = startingText(kind, channel);
  const status = h('p', { role: 'status', 'data-testid': 'template-status' });
  const problem = h('p', { role: 'alert', class: 'warn-text', 'data-testid': 'template-error' });
  const chooser = h('select', { id: 'template-channel', onchange: () => { state.channel = chooser.value; app.refresh(); } },
    kind.channels.map((c) => h('option', { value: c, selected: c === channel }, CHANNEL_LABELS[c] || c)));
  const subject = h('input', { id: 'template-subject', value: start.subject, maxlength: 300, autocomplete: 'off' });
  const text = h('textarea', { id: 'template-text', class: 'code', rows: 8, value: start.body_text, spellcheck: 'false' });
  const html = h('textarea', { id: 'template-html', class: 'code', rows: 8, value: start.body_html, spellcheck: 'false' });
  const pSubject = h('span', { 'data-testid': 'preview-subject' });
  const pText = h('pre', { 'data-testid': 'preview-text' });
  const pHtml = h('iframe', { title: 'HTML email preview', sandbox: '', class: 'template-frame', 'data-testid': 'preview-html' });
  const draft = () => ({
    subject: channel === 'sms' || channel === 'whatsapp' ? null : subject.value,
    body_text: text.value,
    body_html: channel === 'email' && html.value.trim() ? html.value : null,
  });
  let timer = null;
  let seq = 0;
  let lastHtml = null;
  // Loaded only when opened: the email's inline styles are refused by the app's CSP (the
  // frame inherits it), which the console reports.
  const htmlShown = h('details', { ontoggle: () => { if (htmlShown.open && lastHtml) pHtml.srcdoc = lastHtml; } },
    h('summary', {}, 'As the HTML email'), pHtml);
  const preview = async () => {
    clearTimeout(timer);
    const mine = ++seq;
    if (!navigator.onLine) { problem.textContent = 'Offline: the preview needs a connection.'; return; }
    try {
      const r = await app.api('POST', `${BASE}/${kind.kind}/preview`, { channel, ...draft() });
      if (mine !== seq) return;
      problem.textContent = '';
      pSubject.textContent = channel === 'sms' || channel === 'whatsapp' ? '' : r.subject;
      pText.textContent = channel === 'email' ? r.text : r.short;
      lastHtml = channel === 'email' ? r.html : null;
      if (htmlShown.open && lastHtml) pHtml.srcdoc = lastHtml;
    } catch (err) {
      if (mine === seq) problem.textContent = errorText(err);
    }
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(preview, PREVIEW_DELAY_MS); };
  for (const el of [subject, text, html]) el.addEventListener('input', later);
  const save = async (event) => {
    event.preventDefault();
    status.textContent = 'Saving…';
    try {
      await app.api('PUT', `${BASE}/${kind.kind}/channels/${channel}`, draft());
      problem.textContent = '';
      status.textContent = 'Saved: this wording is used from now on.';
      app.announce('Template saved');
    } catch (err) {
      status.textContent = '';
      problem.textContent = errorText(err);
    }
  };
  const revert = async () => {
    try {
      await app.api('DELETE', `${BASE}/${kind.kind}/channels/${channel}`);
      app.announce('Back to the built-in wording');
      await app.refresh();
    } catch (err) { problem.textContent = errorText(err); }
  };
  const test = async () => {
    status.textContent = 'Sending…';
    try {
      const r = await app.api('POST', `${BASE}/${kind.kind}/test`);
      status.textContent = `Test email on its way to ${r.to}, with your saved wording and sample data.`;
    } catch (err) { status.textContent = ''; problem.textContent = errorText(err); }
  };
  setTimeout(preview, 0);
  const sms = channel === 'sms' || channel === 'whatsapp';
  return h('div', {},
    h('form', { 'data-testid': 'template-form', onsubmit: save },
      section(`Wording${start.own ? '' : ' (built-in)'}`,
        field('Channel', chooser),
        start.own ? h('p', { class: 'hint' }, `Your own wording, changed ${fmt.dateTime(start.own.updated_at)}.`) : h('p', { class: 'hint' }, 'Showing the built-in wording: change it and save to use your own.'),
        sms ? null : field(channel === 'email' ? 'Subject' : 'Title', subject),
        field(channel === 'email' ? 'Text body' : 'Message', text, 'Jinja2: {{ booking.start }}, {% if … %}…{% endif %}. Variables as in the built-in wording.'),
        channel === 'email' ? field('HTML body (empty: the built-in one)', html) : null,
        problem,
        h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'primary', 'data-testid': 'template-save' }, 'Save'),
          start.own ? h('button', { type: 'button', onclick: revert, 'data-testid': 'template-revert' }, 'Back to built-in') : null,
          h('button', { type: 'button', onclick: test, 'data-testid': 'template-test' }, 'Send me a test')),
        status)),
    section('Preview with sample data',
      h('div', { class: 'template-preview', 'data-testid': 'template-preview' },
        sms ? null : h('p', {}, h('strong', {}, channel === 'email' ? 'Subject: ' : 'Title: '), pSubject),
        pText),
      channel === 'email' ? htmlShown : null));
}

export async function templatesView(app, kindName) {
  const root = h('div', {}, h('h1', {}, kindName ? 'Notification wording' : 'Notification templates'),
    h('p', { class: 'sub-line' }, h('a', { href: '#/notifications' }, 'Notifications'), ' → ',
      kindName ? h('a', { href: '#/notifications/templates' }, 'Templates') : 'Templates'));
  if (!navigator.onLine) return offline(root);
  let body;
  try {
    body = await app.api('GET', BASE);
  } catch (err) {
    root.append(empty(`Could not load the templates: ${err.message}`));
    return root;
  }
  if (!kindName) { root.append(listView(app, body)); return root; }
  const kind = body.kinds.find((k) => k.kind === kindName);
  if (!kind) { root.append(empty('No such kind of notification.')); return root; }
  root.append(h('p', {}, h('strong', {}, kind.description)), editor(app, kind));
  return root;
}
