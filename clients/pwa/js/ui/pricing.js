/**
 * The price a booking will be snapshotted at, computed from the replica with the server's
 * rules (sync/core/pricing.py): on the school's day of the lesson, the instructor's rate
 * card, else the school's default card (no instructor), else the service's own price. A
 * card is valid from `valid_from` to `valid_until`, both included, null ends open.
 */

/** Whether a card is in force on `day` (YYYY-MM-DD, the school's day). */
export function validOn(card, day) {
  return (!card.valid_from || card.valid_from <= day) && (!card.valid_until || day <= card.valid_until);
}

/** { price_cents, currency, source } for a booking of `service` with `instructorId` on
 * `day`; source is 'instructor', 'school' or 'service' (what the screen says it is). */
export function priceFor(cards, service, instructorId, day) {
  const valid = cards.filter((c) => c.service_id === service.id && validOn(c, day));
  for (const [wanted, source] of [[instructorId, 'instructor'], [null, 'school']]) {
    const mine = valid.filter((c) => (c.instructor_id ?? null) === wanted);
    if (mine.length) {
      // Latest-starting first, as the server breaks a tie old data might hold.
      const best = mine.reduce((a, b) => ((b.valid_from || '') > (a.valid_from || '') ? b : a));
      return { price_cents: best.price_cents, currency: best.currency, source };
    }
  }
  return { price_cents: service.price_cents, currency: service.currency, source: 'service' };
}
