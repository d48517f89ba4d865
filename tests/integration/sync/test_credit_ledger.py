"""Packages, the credit ledger and student balances, through sync pushes and pulls and the
admin API, on both databases: the catalogue of packages, bookings paid with credit (drawn
when made, `insufficient_credit` when there is none, the last credit won by one device
only), cancellations giving credit back and charging late fees, series on credit, the
office's adjustments, expiry, and the balance always equal to the sum of the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from schemas import Booking, CreditEntry, StudentBalance
from server.seed import sid
from sync.money import ledger
from sync.money.office import expire_all
from tests.conftest import Db, bearer, login
from tests.helpers import Device, uid

LONDON = ZoneInfo("Europe/London")
TENANT = sid("demo", "tenant")
FEE = 2500


def slot_on(day: dt.date, hour: int) -> str:
    local = dt.datetime.combine(day, dt.time(hour), LONDON)
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def weekdays(first: int, count: int) -> list[dt.date]:
    """`count` distinct weekdays from `first` days ahead (clear of the demo's lessons)."""
    out: list[dt.date] = []
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=first)
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


async def _admin_push(client: Any, entity: str, rid: str, op: str, data: Any) -> dict[str, Any]:
    admin = await Device(client, "admin@demo.test").login()
    return await admin.one(entity, rid, op, data)


async def _package(client: Any, **fields: Any) -> str:
    pid = uid()
    data = {"name": "5 lessons", "lessons": 5, "price_cents": 20000, "valid_days": 90, **fields}
    r = await _admin_push(client, "package", pid, "put", data)
    assert r["status"] == "applied", r
    return pid


async def _grant(db: Db, student_id: str, package_id: str, payment_id: str | None = None) -> None:
    async with db.store.write(TENANT) as txn:
        await ledger.grant_package(
            txn, student_id=student_id, package_id=package_id, payment_id=payment_id or uid()
        )


async def _balance(db: Db, student_id: str) -> tuple[int, int, int]:
    async with db.store.read(TENANT) as s:
        row = await s.scalar(select(StudentBalance).where(StudentBalance.id == student_id))
        if row is None:
            return (0, 0, 0)
        return (row.lessons_left, row.minutes_left, row.owed_cents)


async def _ledger_sum(db: Db, student_id: str) -> tuple[int, int, int]:
    async with db.store.read(TENANT) as s:
        row = (
            await s.execute(
                select(
                    func.coalesce(func.sum(CreditEntry.lessons), 0),
                    func.coalesce(func.sum(CreditEntry.minutes), 0),
                    func.coalesce(func.sum(CreditEntry.amount_cents), 0),
                ).where(CreditEntry.student_id == student_id)
            )
        ).one()
        return (int(row[0]), int(row[1]), int(row[2]))


async def _kinds(db: Db, student_id: str) -> list[str]:
    async with db.store.read(TENANT) as s:
        rows = await s.scalars(
            select(CreditEntry.kind)
            .where(CreditEntry.student_id == student_id)
            .order_by(CreditEntry.rev)
        )
        return list(rows)


async def _setup(client: Any) -> tuple[Device, Device, dict[str, Any]]:
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    await st.pull(entities="service")
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    st.cursor = None
    return st, inst, service


def _booking(inst: Device, service: dict[str, Any], start: str, pay: str = "credit") -> Any:
    return {
        "instructor_id": inst.user["instructor_id"],
        "service_id": service["id"],
        "start": start,
        "pay_with": pay,
    }


async def test_admin_sells_packages_every_member_reads_them(client: Any) -> None:
    pid = await _package(client)
    st = await Device(client, "student1@demo.test").login()
    await st.pull(entities="package")
    record = st.of("package")[pid]
    assert record["currency"] == "GBP" and record["lessons"] == 5 and record["minutes"] is None
    assert record["active"] is True and record["valid_days"] == 90
    refused = {
        "both units": {"name": "x", "lessons": 5, "minutes": 60, "price_cents": 1, "valid_days": 1},
        "no unit": {"name": "x", "price_cents": 1, "valid_days": 1},
        "another currency": {
            "name": "x",
            "lessons": 1,
            "price_cents": 1,
            "valid_days": 1,
            "currency": "EUR",
        },
        "no days": {"name": "x", "lessons": 1, "price_cents": 1, "valid_days": 0},
        "empty name": {"name": "", "lessons": 1, "price_cents": 1, "valid_days": 1},
        "negative price": {"name": "x", "lessons": 1, "price_cents": -1, "valid_days": 1},
    }
    for why, data in refused.items():
        r = await _admin_push(client, "package", uid(), "put", data)
        assert r["status"] == "rejected" and r["error"]["code"] == "invalid", (why, r)
    # A patch that would leave both units set is refused too; retiring is allowed.
    r = await _admin_push(client, "package", pid, "patch", {"minutes": 60})
    assert r["status"] == "rejected" and r["error"]["code"] == "invalid", r
    r = await _admin_push(client, "package", pid, "delete", None)
    assert r["status"] == "rejected" and r["error"]["code"] == "invalid", r
    r = await _admin_push(client, "package", pid, "patch", {"active": False})
    assert r["status"] == "applied", r
    mine = await st.one("package", uid(), "put", {"name": "free", "lessons": 9})
    assert mine["status"] == "rejected" and mine["error"]["code"] == "forbidden", mine


async def test_credit_booking_draws_and_a_cancellation_gives_it_back(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    await _grant(db, me, await _package(client))
    assert await _balance(db, me) == (5, 0, 0)  # bought and paid: nothing owed
    bid = uid()
    day = weekdays(8, 1)[0]
    r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(day, 13)))
    assert r["status"] == "applied", r
    assert r["record"]["payment_status"] == "credit"
    assert await _balance(db, me) == (4, 0, 0)
    # The student, their instructor and their guardian read the ledger and the balance.
    await st.pull()
    assert st.of("student_balance")[me]["lessons_left"] == 4
    drawn = [e for e in st.of("credit_entry").values() if e["kind"] == "booking"]
    assert [(e["booking_id"], e["lessons"]) for e in drawn] == [(bid, -1)]
    await inst.pull()
    assert inst.of("student_balance")[me]["lessons_left"] == 4
    guardian = await Device(client, "guardian1@demo.test").login()
    await guardian.pull()
    assert guardian.of("student_balance")[me]["lessons_left"] == 4
    # Another student's instructor does not.
    other = await Device(client, "instructor2@demo.test").login()
    await other.pull()
    assert me not in other.of("student_balance")
    # Cancelled in time: the credit comes back, once.
    r = await st.one("booking", bid, "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    r = await st.one("booking", bid, "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    assert await _balance(db, me) == (5, 0, 0)
    assert (await _kinds(db, me)).count("refund") == 1
    # The way a booking is paid is chosen once; clients never write the ledger.
    r = await st.one("booking", bid, "patch", {"pay_with": "card"})
    assert r["status"] == "rejected" and r["error"]["code"] == "invalid", r
    for entity in ("credit_entry", "student_balance"):
        r = await st.one(entity, uid(), "put", {"lessons": 99})
        assert r["status"] == "rejected", r


async def test_no_credit_is_refused_and_the_queue_goes_on(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    first, second = weekdays(9, 2)
    credit, card = uid(), uid()
    body = await st.push(
        st.mutation("booking", credit, "put", _booking(inst, service, slot_on(first, 13))),
        st.mutation("booking", card, "put", _booking(inst, service, slot_on(second, 13), "card")),
    )
    refused, applied = body["results"]
    assert refused["status"] == "rejected" and refused["error"]["code"] == "insufficient_credit", (
        refused
    )
    assert applied["status"] == "applied", applied
    assert applied["record"]["payment_status"] == "unpaid"
    async with db.store.read(TENANT) as s:
        assert await s.scalar(select(Booking.id).where(Booking.id == credit)) is None
    assert await _kinds(db, me) == []


async def test_two_devices_race_for_the_last_credit(client: Any, db: Db) -> None:
    admin = await login(client, "admin@demo.test")
    phone = await Device(client, "student1@demo.test").login()
    tablet = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    await phone.pull(entities="service")
    service = next(s for s in phone.of("service").values() if s["duration_min"] == 60)
    me = phone.user["student_id"]
    resp = await client.post(
        f"/v1/admin/students/{me}/credit-adjustments",
        json={"lessons": 1, "note": "one lesson on the house"},
        headers=bearer(admin),
    )
    assert resp.status == 201, await resp.text()
    first, second = weekdays(10, 2)
    # Both made offline (each device believed one credit was left), pushed together.
    answers = await asyncio.gather(
        phone.one("booking", uid(), "put", _booking(inst, service, slot_on(first, 14))),
        tablet.one("booking", uid(), "put", _booking(inst, service, slot_on(second, 14))),
    )
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["applied", "rejected"], answers
    assert (
        next(a for a in answers if a["status"] == "rejected")["error"]["code"]
        == "insufficient_credit"
    )
    assert await _balance(db, me) == (0, 0, 0)
    assert await _ledger_sum(db, me) == (0, 0, 0)


async def test_late_cancellation_returns_the_credit_and_charges_the_fee(
    client: Any, db: Db
) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    admin = await login(client, "admin@demo.test")
    # Every cancellation inside 30 days is late.
    resp = await client.patch(
        "/v1/admin/school",
        json={"cancel_cutoff_hours": 720, "late_fee_cents": FEE},
        headers=bearer(admin),
    )
    assert resp.status == 200
    await _grant(db, me, await _package(client))
    credit, card = uid(), uid()
    first, second = weekdays(8, 2)
    for bid, day, pay in ((credit, first, "credit"), (card, second, "card")):
        r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(day, 15), pay))
        assert r["status"] == "applied", r
        ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
        assert ok["status"] == "applied", ok
    assert await _balance(db, me) == (4, 0, 0)
    for bid in (credit, card):
        r = await st.one("booking", bid, "patch", {"status": "cancelled"})
        assert r["status"] == "applied", r
    # The credit is back (the fee replaces the lesson, never both); each fee is owed once.
    assert await _balance(db, me) == (5, 0, 2 * FEE)
    kinds = await _kinds(db, me)
    assert kinds.count("fee") == 2 and kinds.count("refund") == 1
    # The office re-opens the credit booking: the credit is drawn again, the fee waived.
    a = await Device(client, "admin@demo.test").login()
    r = await a.one("booking", credit, "patch", {"status": "requested"})
    assert r["status"] == "applied", r
    assert await _balance(db, me) == (4, 0, FEE)
    assert await _ledger_sum(db, me) == await _balance(db, me)


async def test_minutes_package_pays_the_lesson_length(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    pid = await _package(client, name="600 minutes", lessons=None, minutes=600, price_cents=30000)
    await _grant(db, me, pid)
    bid = uid()
    r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(weekdays(8, 1)[0], 9)))
    assert r["status"] == "applied", r
    assert await _balance(db, me) == (0, 540, 0)
    async with db.store.write(TENANT) as txn:
        assert await ledger.lesson_value(txn, bid) == 30000 * 60 // 600


async def test_lesson_value_is_the_package_price_per_lesson(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    await _grant(db, me, await _package(client, lessons=3, price_cents=10000))
    bid = uid()
    r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(weekdays(8, 1)[0], 9)))
    assert r["status"] == "applied", r
    async with db.store.write(TENANT) as txn:
        assert await ledger.lesson_value(txn, bid) == 3333
        assert await ledger.lesson_value(txn, uid()) is None


async def test_series_on_credit_draws_per_occurrence(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    await _grant(db, me, await _package(client, lessons=2))
    first = weekdays(8, 1)[0]
    series = {
        "instructor_id": inst.user["instructor_id"],
        "service_id": service["id"],
        "first_start": slot_on(first, 16),
        "every": "week",
        "count": 3,
        "pay_with": "credit",
    }
    r = await st.one("booking_series", uid(), "put", series)
    assert r["status"] == "applied", r
    refused = [o["refused"] for o in r["record"]["occurrences"]]
    assert refused.count("insufficient_credit") == 1 and refused.count(None) == 2, refused
    assert await _balance(db, me) == (0, 0, 0)
    # Cancelling the series gives both back.
    r = await st.one("booking_series", r["record"]["id"], "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    assert await _balance(db, me) == (2, 0, 0)


async def test_admin_adjusts_credit_within_bounds(client: Any, db: Db) -> None:
    admin = await login(client, "admin@demo.test")
    student = await login(client, "student1@demo.test")
    me = student["user"]["student_id"]
    url = f"/v1/admin/students/{me}/credit-adjustments"

    async def post(body: Any, who: dict[str, Any] = admin, path: str = url) -> Any:
        return await client.post(path, json=body, headers=bearer(who))

    resp = await post({"lessons": 3, "amount_cents": 9000, "note": "sold at the desk"})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["balance"]["lessons_left"] == 3 and body["balance"]["owed_cents"] == 9000
    assert [e["kind"] for e in body["entries"]] == ["adjustment"]
    resp = await post({"lessons": -5, "note": "too many"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "insufficient_credit"
    resp = await post({"amount_cents": -9000, "note": "paid in cash"})
    assert resp.status == 201
    resp = await post({"lessons": -1, "note": "no-show"})
    assert resp.status == 201
    assert await _balance(db, me) == (2, 0, 0) == await _ledger_sum(db, me)
    for bad in (
        {"lessons": 1, "minutes": 30, "note": "both"},
        {"note": "nothing"},
        {"lessons": 1},
        {"lessons": 1, "note": ""},
        {"lessons": 10_000, "note": "too many"},
        {"lessons": "1", "note": "text"},
        {"lessons": 1, "note": "x", "extra": 1},
    ):
        resp = await post(bad)
        assert resp.status == 422, (bad, await resp.text())
        assert (await resp.json())["error"]["code"] == "invalid"
    resp = await post({"lessons": 1, "note": "x"}, student)
    assert resp.status == 403
    resp = await post(
        {"lessons": 1, "note": "x"}, path=f"/v1/admin/students/{uid()}/credit-adjustments"
    )
    assert resp.status == 404
    resp = await post(
        {"lessons": 1, "note": "x"}, path="/v1/admin/students/not-an-id/credit-adjustments"
    )
    assert resp.status in (404, 422)
    assert await _balance(db, me) == (2, 0, 0)


async def test_unused_credit_expires_once(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    await _grant(db, me, await _package(client, valid_days=30))
    bid = uid()
    r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(weekdays(8, 1)[0], 9)))
    assert r["status"] == "applied", r
    await st.pull(entities="student_balance")
    assert st.of("student_balance")[me]["next_expiry"] is not None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert await expire_all(db.store, later) >= 1
    assert await _balance(db, me) == (0, 0, 0)
    before = await _kinds(db, me)
    assert before.count("expiry") == 1
    await expire_all(db.store, later)
    assert await _kinds(db, me) == before  # a second sweep writes nothing
    # The drawn lesson, cancelled after the package expired, returns to it and expires.
    r = await st.one("booking", bid, "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    await expire_all(db.store, later)
    assert await _balance(db, me) == (0, 0, 0) == await _ledger_sum(db, me)


async def test_balance_is_the_sum_of_the_ledger_after_random_operations(
    client: Any, db: Db
) -> None:
    """Random sequences of purchases, credit bookings, cancellations in time and late,
    adjustments and expiry: after each step the balance equals the ledger's sums and
    nothing is ever negative."""
    st, inst, service = await _setup(client)
    a = await Device(client, "admin@demo.test").login()
    admin = a.tokens
    me = st.user["student_id"]
    packages = [
        await _package(client, lessons=2, price_cents=8000),
        await _package(client, name="120 min", lessons=None, minutes=120, valid_days=20),
    ]
    days = iter(weekdays(8, 60))
    live: list[str] = []
    rng = random.Random(12)
    late = False
    for _step in range(24):
        op = rng.choice(["buy", "book", "book", "cancel", "late", "adjust", "expire"])
        if op == "buy":
            await _grant(db, me, rng.choice(packages))
        elif op == "book":
            bid = uid()
            start = slot_on(next(days), rng.choice([9, 11, 13]))
            r = await st.one("booking", bid, "put", _booking(inst, service, start))
            assert r["status"] == "applied" or r["error"]["code"] == "insufficient_credit", r
            if r["status"] == "applied":
                ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
                assert ok["status"] == "applied", ok
                live.append(bid)
        elif op in ("cancel", "late") and live:
            if late != (op == "late"):
                late = op == "late"
                resp = await client.patch(
                    "/v1/admin/school",
                    json={"cancel_cutoff_hours": 720 if late else 0, "late_fee_cents": FEE},
                    headers=bearer(admin),
                )
                assert resp.status == 200
            bid = live.pop(rng.randrange(len(live)))
            r = await st.one("booking", bid, "patch", {"status": "cancelled"})
            assert r["status"] == "applied", r
        elif op == "adjust":
            lessons = rng.choice([-1, 1, 2])
            resp = await client.post(
                f"/v1/admin/students/{me}/credit-adjustments",
                json={"lessons": lessons, "amount_cents": rng.choice([0, 500]), "note": "r"},
                headers=bearer(admin),
            )
            assert resp.status in (201, 409), await resp.text()
        elif op == "expire":
            await expire_all(db.store, dt.datetime.now(dt.UTC) + dt.timedelta(days=25))
        balance = await _balance(db, me)
        assert balance == await _ledger_sum(db, me), op
        assert balance[0] >= 0 and balance[1] >= 0, op


async def test_the_demo_sells_packages_and_student2_holds_credit(client: Any, db: Db) -> None:
    st = await Device(client, "student2@demo.test").login()
    await st.pull()
    me = st.user["student_id"]
    names = sorted(p["name"] for p in st.of("package").values())
    assert names == ["10 lessons", "5 lessons", "600 minutes"]
    balance = st.of("student_balance")[me]
    assert (balance["lessons_left"], balance["owed_cents"]) == (4, 0)
    assert balance["next_expiry"] is not None
    kinds = sorted(e["kind"] for e in st.of("credit_entry").values())
    assert kinds == ["booking", "payment", "purchase"]
    on_credit = [b for b in st.of("booking").values() if b["payment_status"] == "credit"]
    assert len(on_credit) == 1
    assert await _balance(db, me) == await _ledger_sum(db, me)


HOSTILE = [None, "", "x" * 300, -1, 0, 2**63, 1.5, True, [], {}, "GBP\x00", "\ud800", "credit "]


async def test_hostile_package_and_pay_with_values_are_rejected_alone(client: Any) -> None:
    """Every field of a package, and a booking's pay_with, given hostile values: each is
    refused (or applied when it happens to be valid) on its own, never a 500, and the
    device's queue goes on."""
    admin = await Device(client, "admin@demo.test").login()
    valid = {"name": "5 lessons", "lessons": 5, "price_cents": 100, "valid_days": 30}
    for name in ("name", "lessons", "minutes", "price_cents", "currency", "valid_days", "active"):
        for value in HOSTILE:
            resp = await admin.push_raw(
                [admin.mutation("package", uid(), "put", {**valid, name: value})]
            )
            assert resp.status == 200, await resp.text()
            (result,) = (await resp.json())["results"]
            assert result["status"] in ("applied", "rejected"), (name, value, result)
    st, inst, service = await _setup(client)
    day = iter(weekdays(8, len(HOSTILE) + 1))
    for value in HOSTILE:
        data = {**_booking(inst, service, slot_on(next(day), 9)), "pay_with": value}
        resp = await st.push_raw([st.mutation("booking", uid(), "put", data)])
        assert resp.status == 200, await resp.text()
        (result,) = (await resp.json())["results"]
        if value is None:  # left out: paid by card
            assert result["status"] == "applied", result
            assert result["filled"]["payment_status"] == "unpaid", result
            continue
        assert result["status"] == "rejected", (value, result)
        assert result["error"]["code"] in ("invalid", "insufficient_credit"), result
    ok = await st.one(
        "booking", uid(), "put", _booking(inst, service, slot_on(next(day), 9), "card")
    )
    assert ok["status"] == "applied", ok


async def test_a_lesson_cancelled_in_the_car_gives_the_credit_back(client: Any, db: Db) -> None:
    st, inst, service = await _setup(client)
    me = st.user["student_id"]
    await _grant(db, me, await _package(client, lessons=1))
    bid = uid()
    r = await st.one("booking", bid, "put", _booking(inst, service, slot_on(weekdays(9, 1)[0], 14)))
    assert r["status"] == "applied", r
    ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
    assert ok["status"] == "applied", ok
    assert await _balance(db, me) == (0, 0, 0)
    await inst.pull(entities="lesson")
    (lesson,) = [x for x in inst.of("lesson").values() if x["booking_id"] == bid]
    r = await inst.one("lesson", lesson["id"], "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    async with db.store.read(TENANT) as s:
        assert await s.scalar(select(Booking.status).where(Booking.id == bid)) == "cancelled"
    assert await _balance(db, me) == (1, 0, 0) == await _ledger_sum(db, me)
