/**
 * Lesson sign-off: the student signs on the instructor's phone at the end of the lesson,
 * offline like everything else (a `lesson_signature` in the outbox). A pad drawn with pointer
 * events (touch, pen and mouse alike), and a keyboard alternative: confirming with the typed
 * name alone (no strokes). Everyone who sees the lesson sees the signature, drawn as inline
 * SVG from its strokes.
 *
 * Strokes (docs/protocol.md, "Lesson sign-off"): a 0..1000 box on both axes, each stroke a
 * flat list [x0, y0, dx1, dy1, …]: the first point absolute, then deltas. The pad is twice
 * as wide as it is high, and the SVG is drawn stretched to the same 2:1, so the shape keeps.
 */

import { h, s, section, badge, fmt, field, empty } from './dom.js';

export const BOX = 1000;
const MAX_STROKES = 64;
const MAX_STROKE_POINTS = 1000;
const MAX_POINTS = 4000;

/** Absolute points [[x, y], …] of each stroke → the wire's delta form. */
export function encodeStrokes(strokes) {
  return strokes.filter((pts) => pts.length).map((pts) => {
    const out = [pts[0][0], pts[0][1]];
    for (let i = 1; i < pts.length; i += 1) out.push(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
    return out;
  });
}

/** The wire's delta form → absolute points of each stroke. */
export function decodeStrokes(strokes) {
  return (strokes || []).map((flat) => {
    const pts = [];
    let x = 0; let y = 0;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      x = i === 0 ? flat[0] : x + flat[i];
      y = i === 0 ? flat[1] : y + flat[i + 1];
      pts.push([x, y]);
    }
    return pts;
  });
}

/** The signature as inline SVG (role img, named by who signed and when). */
export function signatureSvg(sig) {
  const lines = decodeStrokes(sig.strokes).map((pts) => (pts.length === 1
    ? s('circle', { cx: pts[0][0], cy: pts[0][1], r: 6, fill: 'currentColor' })
    : s('polyline', { points: pts.map((p) => p.join(',')).join(' '), fill: 'none', stroke: 'currentColor',
      'stroke-width': 8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })));
  return s('svg', { viewBox: `0 0 ${BOX} ${BOX}`, preserveAspectRatio: 'none', class: 'signature-svg',
    role: 'img', 'aria-label': `Signature of ${sig.signed_by}`, 'data-testid': 'signature-svg' }, lines);
}

function shownSignature(sig) {
  return h('div', { class: 'signature', 'data-testid': 'signature' },
    sig.strokes && sig.strokes.length ? signatureSvg(sig) : h('p', { class: 'typed-signature' }, sig.signed_by),
    h('p', { class: 'hint' }, `Signed by ${sig.signed_by} · ${fmt.day(sig.signed_at)} ${fmt.time(sig.signed_at)}`,
      sig.strokes && sig.strokes.length ? '' : ' · confirmed by typed name',
      sig._pending ? badge('not synced', 'pending') : null));
}

/** A drawing pad: a canvas that records strokes in the 0..1000 box. */
function pad(onChange) {
  const strokes = [];
  let current = null;
  let total = 0;
  const canvas = h('canvas', { class: 'signature-pad', 'data-testid': 'signature-pad', 'aria-hidden': 'true' });
  const ctx = canvas.getContext('2d');
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(BOX, Math.round(v)));
    return [clamp(((event.clientX - r.left) / r.width) * BOX), clamp(((event.clientY - r.top) / r.height) * BOX)];
  };
  const paint = () => {
    const r = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(r.width * ratio)) {
      canvas.width = Math.round(r.width * ratio);
      canvas.height = Math.round(r.height * ratio);
    }
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 2.5 * ratio;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#111';
    for (const pts of strokes) {
      ctx.beginPath();
      pts.forEach(([x, y], i) => {
        const px = (x / BOX) * canvas.width; const py = (y / BOX) * canvas.height;
        if (i === 0) { ctx.moveTo(px, py); ctx.lineTo(px + 0.1, py); } else ctx.lineTo(px, py);
      });
      ctx.stroke();
    }
  };
  const add = (point) => {
    if (!current || total >= MAX_POINTS) return;
    const last = current[current.length - 1];
    if (last && last[0] === point[0] && last[1] === point[1]) return;
    if (current.length >= MAX_STROKE_POINTS) {
      if (strokes.length >= MAX_STROKES) return;
      current = [last];
      strokes.push(current);
    }
    current.push(point);
    total += 1;
    paint();
  };
  canvas.addEventListener('pointerdown', (event) => {
    if (strokes.length >= MAX_STROKES) return;
    event.preventDefault();
    try { canvas.setPointerCapture(event.pointerId); } catch { /* synthetic events */ }
    current = [];
    strokes.push(current);
    add(at(event));
  });
  canvas.addEventListener('pointermove', (event) => { if (current) { event.preventDefault(); add(at(event)); } });
  const end = () => { if (current) { current = null; onChange(strokes.length); } };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('pointerleave', end);
  return {
    canvas,
    strokes: () => encodeStrokes(strokes),
    clear: () => { strokes.length = 0; total = 0; current = null; paint(); onChange(0); },
    paint,
  };
}

/**
 * The lesson's sign-off card: the signature when there is one; otherwise, for staff on a
 * started or finished lesson, the pad and the typed-name alternative.
 */
export function signatureSection(app, lesson, student, signatures) {
  const sig = signatures.find((x) => x.lesson_id === lesson.id);
  if (sig) return section('Sign-off', shownSignature(sig));
  const staff = app.isAdmin || app.role === 'instructor';
  if (!staff || !['in_progress', 'completed'].includes(lesson.status)) {
    return section('Sign-off', empty(lesson.status === 'completed' ? 'Not signed.' : 'The student signs at the end of the lesson.'));
  }
  const name = h('input', { id: 'signer-name', value: student ? student.name : '', maxlength: 200, autocomplete: 'off', required: true });
  const status = h('p', { class: 'hint', role: 'status', 'data-testid': 'signature-state' }, 'Sign in the box with a finger, pen or mouse.');
  const save = h('button', { type: 'button', class: 'primary', disabled: true, 'data-testid': 'save-signature' }, 'Save signature');
  const p = pad((n) => { save.disabled = n === 0; status.textContent = n ? 'Drawn. Save it, or clear and sign again.' : 'Sign in the box with a finger, pen or mouse.'; });
  const submit = async (strokes) => {
    const signedBy = name.value.trim();
    if (!signedBy) { app.announce('Type the student\'s name first'); name.focus(); return; }
    await app.mutate('lesson_signature', 'put', app.newId(), {
      lesson_id: lesson.id, signed_by: signedBy, signed_at: new Date().toISOString(), strokes });
    app.announce(strokes.length ? 'Signature saved' : 'Sign-off confirmed with the typed name');
    await app.refresh();
    // The pad's buttons are gone: keep keyboard users on the card that replaced them.
    const heading = document.querySelector('[data-testid="signature"]')?.closest('section')?.querySelector('h2');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
  };
  save.addEventListener('click', () => submit(p.strokes()));
  requestAnimationFrame(() => p.paint());
  return section('Sign-off',
    h('p', {}, 'Hand the phone to the student to sign that the lesson took place.'),
    field('Student\'s name', name),
    h('div', { class: 'signature-box' }, p.canvas),
    status,
    // Not `.actions`: the lesson's Finish button hands the focus to the first `.actions`
    // button (ui/lesson.js), which must not be this pad's (disabled) Save.
    h('div', { class: 'sign-actions' },
      save,
      h('button', { type: 'button', onclick: () => p.clear() }, 'Clear'),
      h('button', { type: 'button', 'data-testid': 'typed-signature', onclick: () => submit([]) }, 'Confirm with typed name instead')));
}

/** A student's (or guardian's) latest signed lessons, each with its signature; none: nothing. */
export function signedLessons(signatures, lessonById, count = 3) {
  if (!signatures.length) return null;
  const when = (sig) => (lessonById.get(sig.lesson_id) || {}).scheduled_start || sig.signed_at;
  const latest = [...signatures].sort((a, b) => (when(a) < when(b) ? 1 : -1)).slice(0, count);
  return section('Signed lessons', h('ul', { class: 'plain list', 'data-testid': 'signed-lessons' }, latest.map((sig) => h('li', {},
    h('p', {}, h('strong', {}, `Lesson of ${fmt.day(when(sig))}`)),
    shownSignature(sig)))));
}
