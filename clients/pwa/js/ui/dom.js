/** Tiny DOM helpers and formatting shared by the views. No framework: `h()` builds nodes. */

/**
 * h('button', {class: 'primary', onclick}, 'Save') → <button class="primary">Save</button>.
 * Attributes starting with `on` become listeners (never inline handlers: the CSP refuses
 * them); `style` is set through the CSSOM; `false`/`null` attributes are skipped;
 * children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag === 'svg' || attrs.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined || k === 'svg') continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = !!v;
    // Through the CSSOM: the Content-Security-Policy (style-src 'self') refuses a style
    // attribute in markup, not a style set from script.
    else if (k === 'style') el.style.cssText = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** An SVG element (attributes set verbatim). */
export function s(tag, attrs = {}, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

let uid = 0;
/** A unique element id, for label/for and aria-describedby pairs. */
export function newId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field. */
export function field(label, control, hint) {
  const id = control.id || newId();
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

export function section(title, ...children) {
  const id = newId('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/**
 * A count with its noun in the right number: plural(1, 'change') → "1 change",
 * plural(2, 'change') → "2 changes", plural(0, 'entry', 'entries') → "0 entries".
 * Every count the UI shows goes through here, so none reads "1 changes".
 */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The verb after a count: 1 → `one` ("has"), anything else → `many` ("have"). */
export function verb(n, one, many) {
  return n === 1 ? one : many;
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

export const fmt = {
  day: (iso) => (iso ? dayFmt.format(new Date(iso)) : ''),
  time: (iso) => (iso ? timeFmt.format(new Date(iso)) : ''),
  dateTime: (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : ''),
  money: (cents, currency = 'GBP') => new Intl.NumberFormat(undefined, { style: 'currency', currency }).format((cents || 0) / 100),
  km: (m) => `${((m || 0) / 1000).toFixed(2)} km`,
  duration: (s) => {
    const total = Math.max(0, Math.round(s || 0));
    const hh = Math.floor(total / 3600);
    const mm = Math.floor((total % 3600) / 60);
    const ss = total % 60;
    return hh ? `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${mm}:${String(ss).padStart(2, '0')}`;
  },
  ago: (ms) => {
    if (!ms) return 'never';
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 10) return 'just now';
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return dateTimeFmt.format(new Date(ms));
  },
};

/** Start of the local day containing `d` (a Date). */
export function startOfDay(d = new Date()) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

export function addDays(d, n) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
}

/** Monday of the week containing `d`. */
export function startOfWeek(d = new Date()) {
  const day = (d.getDay() + 6) % 7;
  return addDays(startOfDay(d), -day);
}

export function byKey(list, key = 'id') {
  return new Map(list.map((x) => [x[key], x]));
}

export function sortBy(list, fn, desc = false) {
  return [...list].sort((a, b) => {
    const x = fn(a); const y = fn(b);
    const r = x < y ? -1 : x > y ? 1 : 0;
    return desc ? -r : r;
  });
}

export function nowIso() {
  return new Date().toISOString();
}
