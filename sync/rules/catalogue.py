"""The catalogue written through sync by admins (the CATALOGUE policy): services, rate
cards, packages, skills and theory questions.

Each is a last-writer-wins record (sync.rules.lww) checked first, on the state it would
have once the write's winning fields are applied, so a patch cannot leave a record that a
put would have been refused for:

- services, skills and questions are retired (`active: false`), never deleted, because
  bookings, assessments and attempts name them (`invalid` on op delete); a retired service
  can no longer be booked (sync.rules.booking), a retired skill or question is no longer
  offered on devices but stays readable;
- a skill's `code` is unique in the school (`code_taken`);
- a question's `correct_option` must be one of its `options` (`invalid`);
- a package holds either lessons or minutes (exactly one, positive), priced in the
  school's currency (`invalid`); retired, never deleted (the ledger names it);
- a rate card names a service and, unless it is the school's default, an instructor of
  the school (`not_found`); `valid_until` may not precede `valid_from` (`invalid_period`),
  and two live cards of the same service and instructor may not share a day (`overlap`,
  with the other card's id) — so a booking's price (sync.core.pricing) never depends on
  which of two cards is read first. A card may be deleted (bookings keep their snapshot).

A service's or card's `currency` left out is filled in: a service takes the school's, a
card its service's.

Editing a question never rescores what was already scored: an attempt's `correct` and a
mock test's `score` are stored when they arrive (sync.rules.append). Attempts and mock
tests that name a retired question are accepted and scored against it like any other:
devices stop offering a question once they pull its retirement, so such an attempt was
made while the device still offered it, usually offline before the retirement, and
refusing it would only lose the student's work (docs/protocol.md, "Catalogue").
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from schemas import RateCard, Skill
from sync.core.command import Command, Outcome, Reject
from sync.core.policy import lww
from sync.core.pricing import overlaps
from sync.rules.batch import Context, load_row
from sync.rules.lww import apply_lww

# Entities that are retired, never deleted: other records name them.
RETIRED_NOT_DELETED = frozenset({"service", "skill", "theory_question", "package"})


async def apply_catalogue(ctx: Context, m: Command) -> Outcome:
    """Apply an admin's write of a catalogue record."""
    name = m.spec.name
    if m.op == "delete":
        if name in RETIRED_NOT_DELETED:
            raise Reject(
                "invalid", f"a {name} is not deleted: set active to false to retire it", "op"
            )
        return await apply_lww(ctx, m)
    row = await load_row(ctx, name, m.id)
    if row is None and m.op == "put":
        m = await _fill(ctx, m)
    after = _after(m, row)
    if name == "skill":
        await _check_skill(ctx, m, after)
    elif name == "theory_question":
        _check_question(after)
    elif name == "rate_card":
        await _check_card(ctx, m, after)
    elif name == "package":
        _check_package(ctx, after)
    return await apply_lww(ctx, m)


async def _fill(ctx: Context, m: Command) -> Command:
    """A new service or card with no currency gets the school's or its service's."""
    if m.data.get("currency") is not None or m.spec.name not in ("service", "rate_card", "package"):
        return m
    currency = ctx.tenant.currency
    if m.spec.name == "rate_card" and isinstance(m.data.get("service_id"), str):
        service = await load_row(ctx, "service", m.data["service_id"])
        if service is not None:
            currency = service.currency
    return dataclasses.replace(m, data={**m.data, "currency": currency})


def _after(m: Command, row: Any) -> dict[str, Any]:
    """The record's fields once the write is applied: a new record's defaults and data, or
    the row with the fields the write wins by last-writer-wins."""
    if row is None:
        return {**m.spec.defaults, **m.data}
    current = {f: getattr(row, f) for f in m.spec.writable}
    won = lww(dict(m.data), m.hlc, row.field_hlc or {}).apply
    return {**current, **won}


async def _check_skill(ctx: Context, m: Command, after: dict[str, Any]) -> None:
    code = after.get("code")
    if code is None or "code" not in m.data:
        return
    taken = await ctx.session.scalar(select(Skill.id).where(Skill.code == code, Skill.id != m.id))
    if taken is not None:
        raise Reject("code_taken", f"another skill has the code {code!r}", "code", skill_id=taken)


def _check_package(ctx: Context, after: dict[str, Any]) -> None:
    """A package holds lessons or minutes (exactly one), in the school's currency: the
    ledger sums one currency per school."""
    units = [f for f in ("lessons", "minutes") if after.get(f) is not None]
    if len(units) != 1:
        raise Reject("invalid", "a package holds either lessons or minutes", "lessons")
    currency = after.get("currency")
    if currency is not None and currency != ctx.tenant.currency:
        raise Reject(
            "invalid",
            f"a package is sold in the school's currency ({ctx.tenant.currency})",
            "currency",
        )


def _check_question(after: dict[str, Any]) -> None:
    options, correct = after.get("options"), after.get("correct_option")
    if options is not None and correct is not None and correct >= len(options):
        raise Reject(
            "invalid",
            f"correct_option {correct} is not one of the {len(options)} options",
            "correct_option",
        )


async def _check_card(ctx: Context, m: Command, after: dict[str, Any]) -> None:
    start, until = after.get("valid_from"), after.get("valid_until")
    if start is not None and until is not None and until < start:
        raise Reject("invalid_period", "valid_until is before valid_from", "valid_until")
    service_id, instructor_id = after.get("service_id"), after.get("instructor_id")
    if service_id is None:
        return  # a new card without one is refused as incomplete by sync.rules.lww
    service = await load_row(ctx, "service", service_id)
    if service is None or service.deleted:
        raise Reject("not_found", "service_id names no service", "service_id")
    if instructor_id is not None:
        instructor = await load_row(ctx, "instructor", instructor_id)
        if instructor is None or instructor.deleted:
            raise Reject("not_found", "instructor_id names no instructor", "instructor_id")
    same_owner = (
        RateCard.instructor_id.is_(None)
        if instructor_id is None
        else RateCard.instructor_id == instructor_id
    )
    others = await ctx.session.scalars(
        select(RateCard).where(
            RateCard.service_id == service_id,
            same_owner,
            RateCard.id != m.id,
            RateCard.deleted.is_(False),
        )
    )
    for other in others:
        if overlaps(start, until, other.valid_from, other.valid_until):
            raise Reject(
                "overlap",
                "another rate card of this service and instructor is valid on some of these days",
                "valid_from",
                rate_card_id=other.id,
            )
