/**
 * Keeping keyboard focus through a re-render. A view is rebuilt whole from the replica
 * (after a sync, after the user's own change), so the focused control is replaced by a new
 * node; without this the focus falls to <body> and the next keypress is lost. Before a
 * render, `remember()` describes the focused control; after it, `restore()` focuses the
 * control the new view has in its place, or the view's heading when there is none (the
 * button pressed is gone: "Finish lesson" after the lesson finished).
 *
 * A control is found again by, in order: its id; its `data-focus` key (controls that
 * replace each other share one: "Record route" and "Stop recording" are one toggle);
 * its tag, text and position among controls with the same tag and text.
 */

let last = null; // the last control focused inside the view (the focus may be on <body> now)

/** Call once with the view's container: tracks where focus was last inside it. */
export function track(main) {
  document.addEventListener('focusin', (event) => {
    const el = event.target;
    if (main.contains(el) && el !== main) last = describe(main, el);
    else last = null; // focus moved to the header, the nav, a dialog: nothing to keep
  });
  // A control the user left (blur(), a click on the page) is still in the document: the
  // focus is on <body> by choice, and a render must not take it back there. Only a control
  // that a render removed is brought back.
  document.addEventListener('focusout', (event) => {
    const el = event.target;
    setTimeout(() => { if (el.isConnected && !main.contains(document.activeElement)) last = null; }, 0);
  });
}

/** Forget the last focused control (a navigation to another view). */
export function forget() {
  last = null;
}

function text(el) {
  return (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 120);
}

function describe(main, el) {
  const tag = el.tagName;
  const label = text(el);
  const same = [...main.querySelectorAll(tag)].filter((x) => text(x) === label);
  return { id: el.id || null, key: el.dataset ? el.dataset.focus || null : null, tag, label, nth: same.indexOf(el) };
}

/**
 * What to bring back after the render: the focused control if it is in the view, or the
 * last one focused there when the focus has since fallen to <body> (its node was removed).
 * Null when the focus is elsewhere (header, nav) or nowhere yet (a fresh load, where the
 * skip link stays the first stop for Tab).
 */
export function remember(main) {
  const a = document.activeElement;
  if (a && a !== main && main.contains(a)) return describe(main, a);
  if ((!a || a === document.body) && last) return last;
  return null;
}

function find(main, want) {
  if (want.id) {
    const el = document.getElementById(want.id);
    if (el && main.contains(el)) return el;
  }
  if (want.key) {
    const el = main.querySelector(`[data-focus="${CSS.escape(want.key)}"]`);
    if (el) return el;
  }
  const same = [...main.querySelectorAll(want.tag)].filter((x) => text(x) === want.label);
  return same[want.nth] || same[0] || null;
}

/** Focus the remembered control in the new view, or its heading; never scrolls. */
export function restore(main, want) {
  if (!want) return;
  const el = find(main, want);
  const usable = el && !el.disabled && !el.closest('[hidden]') && el.getClientRects().length;
  const target = usable ? el : main.querySelector('h1');
  if (target && document.activeElement !== target) target.focus({ preventScroll: true });
}
