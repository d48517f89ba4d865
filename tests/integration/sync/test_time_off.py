"""Time off (`availability_exception`, issue 11) through the sync protocol, on SQLite and
PostgreSQL: who may write it, the staff-only reason kept from students (pull, push answer,
live), the booking check reading live blocks only, all-day blocks in the school's timezone,
and the notices queued when a block lies over confirmed bookings."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import Booking, OutboxEvent
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid

LONDON = ZoneInfo("Europe/London")
REASON = "Hospital appointment (private)"


def _day(days: int) -> dt.date:
    """A weekday `days` ahead (London)."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _at(day: dt.date, hour: int, minute: int = 0) -> str:
    local = dt.datetime.combine(day, dt.time(hour, minute), LONDON)
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def _actors(client: Any) -> tuple[Device, Device, Device, str]:
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()
    await st.pull()
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    return st, inst, admin, service["id"]


async def _book(dev: Device, instructor_id: str, service: str, start: str) -> dict[str, Any]:
    return await dev.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": instructor_id, "service_id": service, "start": start},
    )


async def _events(db: Db, kind: str) -> list[OutboxEvent]:
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == kind))
        return sorted(rows, key=lambda e: e.dedupe_key)


async def test_instructors_write_their_own_time_off_and_admins_anyones(client: Any) -> None:
    st, inst, admin, _service = await _actors(client)
    iid = inst.user["instructor_id"]
    other = (await Device(client, "instructor2@demo.test").login()).user["instructor_id"]
    day = _day(30)
    mine = uid()
    # No instructor_id needed from the instructor: the block is theirs.
    r = await inst.one(
        "availability_exception", mine, "put", {"start": _at(day, 9), "end": _at(day, 12)}
    )
    assert r["status"] == "applied", r
    assert r["record"]["instructor_id"] == iid and r["record"]["all_day"] is False
    refused = [
        (inst, uid(), "put", {"instructor_id": other, "start": _at(day, 9), "end": _at(day, 10)}),
        (st, uid(), "put", {"instructor_id": iid, "start": _at(day, 9), "end": _at(day, 10)}),
        (st, mine, "delete", None),
    ]
    for dev, rid, op, data in refused:
        result = await dev.one("availability_exception", rid, op, data)
        assert result["status"] == "rejected" and result["error"]["code"] == "forbidden", result
    # The admin writes any instructor's; the other instructor cannot touch it.
    theirs = uid()
    r = await admin.one(
        "availability_exception",
        theirs,
        "put",
        {"instructor_id": other, "start": _at(day, 13), "end": _at(day, 15), "reason": "Course"},
    )
    assert r["status"] == "applied" and r["record"]["reason"] == "Course", r
    for op, data in (("patch", {"reason": "mine now"}), ("delete", None)):
        result = await inst.one("availability_exception", theirs, op, data)
        assert result["error"]["code"] in ("forbidden", "not_found"), result
    # Bad input is refused with a stable code naming the field.
    bad = [
        ({"start": _at(day, 12), "end": _at(day, 9)}, "end"),
        ({"start": _at(day, 9), "end": _at(day, 10), "reason": "x" * 201}, "reason"),
        ({"start": "tomorrow", "end": _at(day, 10)}, "start"),
        ({"start": _at(day, 9)}, "end"),
        ({"start": _at(day, 9), "end": _at(day, 10), "all_day": None}, "all_day"),
    ]
    for data, field in bad:
        result = await inst.one("availability_exception", uid(), "put", data)
        assert result["status"] == "rejected", (data, result)
        assert (result["error"]["code"], result["error"]["details"].get("field")) == (
            "invalid",
            field,
        ), (data, result)
    # A patch that puts the end before the start is refused too (not left to the database).
    result = await inst.one("availability_exception", mine, "patch", {"end": _at(day, 8)})
    assert (result["error"]["code"], result["error"]["details"]["field"]) == ("invalid", "end")
    await inst.pull()
    assert set(inst.of("availability_exception")) == {mine}  # the other's is not in scope


async def test_students_never_see_the_reason(client: Any) -> None:
    st, inst, admin, _service = await _actors(client)
    ws = await client.ws_connect("/v1/sync/live", headers=st.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    day = _day(31)
    xid = uid()
    r = await inst.one(
        "availability_exception",
        xid,
        "put",
        {"start": _at(day, 9), "end": _at(day, 17), "reason": REASON},
    )
    assert r["status"] == "applied" and r["record"]["reason"] == REASON
    # Live: the student is poked (the block is in their scope) and the poke carries no record.
    raw = await ws.receive_str(timeout=5)
    assert json.loads(raw)["type"] == "poke" and REASON not in raw
    await ws.close()
    # Pull: the student gets the block, without the key at all; staff get the reason.
    changes = await st.pull()
    record = st.of("availability_exception")[xid]
    assert "reason" not in record and record["start"] == _at(day, 9)
    assert REASON not in json.dumps(changes)
    for staff in (inst, admin):
        await staff.pull()
        assert staff.of("availability_exception")[xid]["reason"] == REASON
    # An edit of the reason alone reaches the student as a new rev, still without it.
    r = await inst.one("availability_exception", xid, "patch", {"reason": "Dentist " + REASON})
    assert r["status"] == "applied"
    changes = await st.pull()
    assert [c["id"] for c in changes] == [xid] and "reason" not in changes[0]["record"]
    # Push answers: a student's write of it is refused, and the answer hands over no reason.
    resp = await st.push_raw([st.mutation("availability_exception", xid, "patch", {"reason": "?"})])
    body = await resp.text()
    assert resp.status == 200 and "forbidden" in body and REASON not in body
    # A guardian's view is a student's: checked at the record level, the one place records
    # are built (sync.records), with the reader's staff flag from the principal.
    from sync.records import RecordContext, to_record

    class Row:
        id, rev, updated_at = xid, 1, dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        instructor_id, start, end, reason, all_day = "i", updated_at, updated_at, REASON, False

    assert "reason" not in to_record("availability_exception", Row(), RecordContext("UTC", {}))
    staff_view = to_record("availability_exception", Row(), RecordContext("UTC", {}, staff=True))
    assert staff_view["reason"] == REASON


async def test_a_block_refuses_bookings_until_it_is_deleted(client: Any) -> None:
    st, inst, _admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    day = _day(32)
    xid = uid()
    r = await inst.one(
        "availability_exception", xid, "put", {"start": _at(day, 10), "end": _at(day, 12)}
    )
    assert r["status"] == "applied"
    inside = await _book(st, iid, service, _at(day, 11))
    assert inside["error"]["code"] == "unavailable", inside
    straddling = await _book(st, iid, service, _at(day, 9, 30))
    assert straddling["error"]["code"] == "unavailable", straddling
    assert (await _book(st, iid, service, _at(day, 12)))["status"] == "applied"  # ends at 12
    assert (await inst.one("availability_exception", xid, "delete"))["status"] == "applied"
    freed = await _book(st, iid, service, _at(day, 11))
    assert freed["status"] == "applied", freed


async def test_all_day_covers_whole_days_of_the_schools_timezone(client: Any) -> None:
    st, inst, _admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    # A summer week (British Summer Time, UTC+1): a local day starts at 23:00 UTC.
    monday = dt.date(dt.datetime.now(LONDON).year + 1, 7, 1)
    while monday.weekday() != 0:
        monday += dt.timedelta(days=1)
    wednesday, thursday = monday + dt.timedelta(days=2), monday + dt.timedelta(days=3)
    xid = uid()
    r = await inst.one(
        "availability_exception",
        xid,
        "put",
        {"start": _at(monday, 12), "end": _at(wednesday, 10), "all_day": True},
    )
    assert r["status"] == "applied", r
    local_midnight = dt.datetime.combine(monday, dt.time(0), LONDON)
    assert (
        r["record"]["start"] == _z(local_midnight) == f"{monday - dt.timedelta(days=1)}T23:00:00Z"
    )
    assert r["record"]["end"] == _z(dt.datetime.combine(thursday, dt.time(0), LONDON))
    for day in (monday, wednesday):
        for hour in (8, 17):
            refused = await _book(st, iid, service, _at(day, hour))
            assert refused["error"]["code"] == "unavailable", (day, hour, refused)
    assert (await _book(st, iid, service, _at(thursday, 8)))["status"] == "applied"
    # Widened on a patch too: turning all_day off keeps the days, turning it on widens again.
    r = await inst.one(
        "availability_exception",
        xid,
        "patch",
        {"start": _at(thursday, 15), "end": _at(thursday, 16)},
    )
    assert r["status"] == "applied" and r["record"]["start"] == _z(
        dt.datetime.combine(thursday, dt.time(0), LONDON)
    )


async def test_a_block_over_confirmed_bookings_tells_each_student_once(client: Any, db: Db) -> None:
    st, inst, _admin, service = await _actors(client)
    st2 = await Device(client, "student2@demo.test").login()
    iid = inst.user["instructor_id"]
    day = _day(33)
    confirmed: dict[str, list[str]] = {st.user["student_id"]: [], st2.user["student_id"]: []}
    for dev, hour in ((st, 9), (st2, 11), (st, 14)):
        r = await _book(dev, iid, service, _at(day, hour))
        assert r["status"] == "applied", r
        assert (await inst.one("booking", r["record"]["id"], "patch", {"status": "confirmed"}))[
            "status"
        ] == "applied"
        confirmed[dev.user["student_id"]].append(r["record"]["id"])
    requested = await _book(st2, iid, service, _at(day, 16))  # not confirmed: not told
    assert requested["status"] == "applied"
    outside = await _book(st, iid, service, _at(_day(34), 9))
    await inst.one("booking", outside["record"]["id"], "patch", {"status": "confirmed"})

    xid = uid()
    put = inst.mutation(
        "availability_exception",
        xid,
        "put",
        {"start": _at(day, 8), "end": _at(day, 18), "reason": "Sick"},
    )
    body = await inst.push(put)
    assert body["results"][0]["status"] == "applied"
    rev = body["results"][0]["rev"]
    told = await _events(db, "time_off_clash")
    assert [(e.dedupe_key, e.payload) for e in told] == sorted(
        (
            f"time_off_clash:{xid}:{rev}:{sid}",
            {"exception_id": xid, "student_id": sid, "booking_ids": ids},
        )
        for sid, ids in confirmed.items()
    )
    (flag,) = await _events(db, "time_off_clash_admin")
    first, second = confirmed[st.user["student_id"]], confirmed[st2.user["student_id"]]
    assert flag.payload == {
        "exception_id": xid,
        "instructor_id": iid,
        "booking_ids": [first[0], second[0], first[1]],  # in time order
        "student_ids": sorted(confirmed),
    }
    # The bookings stay confirmed: the admin decides.
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        ids = [b for v in confirmed.values() for b in v]
        statuses = set(await s.scalars(select(Booking.status).where(Booking.id.in_(ids))))
    assert statuses == {"confirmed"}
    # Resent (a duplicate) or only its reason edited: nobody is told again.
    again = await inst.push_raw([put])
    assert (await again.json())["results"][0]["duplicate"] is True
    assert (await inst.one("availability_exception", xid, "patch", {"reason": "Flu"}))[
        "status"
    ] == "applied"
    assert len(await _events(db, "time_off_clash")) == 2
    # A block over nothing confirmed tells nobody.
    assert (
        await inst.one(
            "availability_exception",
            uid(),
            "put",
            {"start": _at(_day(40), 8), "end": _at(_day(40), 9)},
        )
    )["status"] == "applied"
    assert len(await _events(db, "time_off_clash_admin")) == 1
