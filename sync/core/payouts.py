"""Instructors' payouts, the pure rules: where a payout's money stands, an instructor's
Stripe Connect state from their account, and the share of a refund taken back from them.

A payout's `transfer_status` only moves forward, because Stripe's webhooks and our transfer
job report in any order: a late `transfer.created` must not undo a `payout.paid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# NULL (nothing sent) < sending (row marked, Stripe being asked) < sent (a transfer exists)
# < payout_failed (Stripe could not pay it to the bank; it retries with the next payout)
# < paid_out (in the instructor's bank) < reversed (taken back).
TRANSFER_RANK: dict[str | None, int] = {
    None: 0,
    "sending": 1,
    "sent": 2,
    "payout_failed": 3,
    "paid_out": 4,
    "reversed": 5,
}
TRANSFER_STATUSES = tuple(s for s in TRANSFER_RANK if s is not None)
CONNECT_STATUSES = ("none", "pending", "enabled", "restricted")


def moves_forward(current: str | None, target: str) -> bool:
    """Whether a payout's transfer status may move from `current` to `target`."""
    return TRANSFER_RANK[target] > TRANSFER_RANK.get(current, 0)


def connect_status(account: Mapping[str, Any]) -> tuple[bool, str]:
    """(payouts_enabled, connect_status) of a Stripe account object: 'enabled' once Stripe
    pays out to it; 'restricted' when Stripe disabled it (but while it only verifies what
    was given) or still wants something after the details were given; 'pending' while the
    onboarding is unfinished or being verified."""
    if account.get("payouts_enabled"):
        return True, "enabled"
    requirements = account.get("requirements") or {}
    reason = str(requirements.get("disabled_reason") or "")
    wanted = requirements.get("currently_due") or requirements.get("past_due")
    if reason and reason != "requirements.pending_verification":
        return False, "restricted"
    if account.get("details_submitted") and wanted:
        return False, "restricted"
    return False, "pending"


def refund_share(net_cents: int, gross_cents: int, refunded_cents: int) -> int:
    """The instructor's part of `refunded_cents` of a lesson's `gross_cents`: their share
    in the same proportion, rounded down (the school keeps a rounding cent, the instructor
    is never asked for more than they got)."""
    if gross_cents <= 0 or refunded_cents <= 0:
        return 0
    return net_cents * min(refunded_cents, gross_cents) // gross_cents


def country_of(locale: str | None) -> str:
    """The school's country for a Connect account, from its locale ("en-GB" → "GB")."""
    region = (locale or "").replace("_", "-").split("-")[1:2]
    code = region[0].upper() if region else ""
    return code if len(code) == 2 and code.isalpha() else "GB"


def split_fee(gross: int, fee_bps: int) -> tuple[int, int]:
    """(platform fee, instructor share) of `gross` minor units; the fee is rounded half up
    to a whole minor unit and the share is the rest, so the two always add up."""
    if not 0 <= fee_bps <= 10_000:
        raise ValueError("fee_bps must be between 0 and 10000")
    fee = (gross * fee_bps + 5_000) // 10_000
    return fee, gross - fee
