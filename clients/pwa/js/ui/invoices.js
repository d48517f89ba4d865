/**
 * Invoices and credit notes (the synced `invoice` records, issued by the server when a
 * payment succeeds or a refund does): a list for the student and, per learner, for their
 * guardian. The list reads the replica, so it works offline; the PDF is fetched when asked
 * for (GET /v1/invoices/{id}.pdf with the bearer token) and saved from a blob, so a
 * download needs a connection and says so.
 */

import { download } from '../api.js';
import { h, section, empty, badge, fmt, sortBy } from './dom.js';

const OFFLINE = 'Download needs a connection';

async function save(app, inv, status) {
  if (!navigator.onLine) {
    status.textContent = OFFLINE;
    app.announce(OFFLINE);
    return;
  }
  status.textContent = 'Downloading…';
  try {
    const { blob, filename } = await download(`/v1/invoices/${encodeURIComponent(inv.id)}.pdf`);
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: filename || `${inv.number}.pdf`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30_000); // once the browser has taken it
    status.textContent = '';
    app.announce(`${inv.number} downloaded`);
  } catch (err) {
    status.textContent = err.offline ? OFFLINE : `Download failed: ${err.message}`;
    app.announce(status.textContent);
  }
}

function row(app, inv) {
  const credit = inv.kind === 'credit_note';
  const status = h('span', { class: 'hint', role: 'status', 'data-testid': 'invoice-download-status' });
  // The name begins with the visible text, as speech input users say what they see.
  const label = `Download PDF of ${credit ? 'credit note' : 'invoice'} ${inv.number}`;
  return h('li', { class: 'invoice', 'data-testid': 'invoice', 'data-invoice-id': inv.id },
    h('div', {}, h('strong', {}, inv.number), ' · ', fmt.day(inv.issued_at), ' · ',
      fmt.money(inv.total_cents, inv.currency), ' ',
      credit ? badge('credit note') : badge(inv.status, inv.status === 'paid' ? 'completed' : '')),
    h('div', { class: 'hint' }, (inv.lines || []).map((l) => l.description).join('; ')),
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'aria-label': label, onclick: () => save(app, inv, status) },
        'Download PDF'), ' ', status));
}

/** The "Invoices" section of one student's invoices, newest first. */
export function invoicesSection(app, invoices, studentId) {
  const mine = sortBy(invoices.filter((i) => i.student_id === studentId), (i) => `${i.issued_at}|${i.number}`, true);
  return section('Invoices', mine.length
    ? h('ul', { class: 'plain list', 'data-testid': 'invoices' }, mine.map((inv) => row(app, inv)))
    : empty('No invoices yet: one is issued with every payment.'));
}
