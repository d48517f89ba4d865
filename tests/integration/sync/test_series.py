"""Recurring lessons (`booking_series`) on both databases: a weekly series with one clash
becomes five requested bookings and one refusal with its reason; the instructor confirms
it once (one notification, a lesson per date); "this and following" cancels the rest; an
occurrence is cancelled alone; and the series' rules refuse what they must."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import OutboxEvent
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid

LONDON = ZoneInfo("Europe/London")


def _weekday_at(days: int, hour: int) -> dt.datetime:
    """A London wall-clock time on a weekday at least `days` ahead."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), LONDON)


def _z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _events(db: Db, kind: str) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == kind))
        return [r.payload for r in rows]


async def _actors(client: Any) -> tuple[Device, Device, str]:
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    await st.pull()
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    return st, inst, service["id"]


async def test_a_weekly_series_with_one_clash_confirmed_once_then_cut_short(
    client: Any, db: Db
) -> None:
    st, inst, service = await _actors(client)
    iid = inst.user["instructor_id"]
    first = _weekday_at(30, 10)
    # The third week's date is already taken by a booking of the same student.
    clash = await st.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": iid, "service_id": service, "start": _z(first + dt.timedelta(days=14))},
    )
    assert clash["status"] == "applied", clash
    sid = uid()
    r = await st.one(
        "booking_series",
        sid,
        "put",
        {
            "instructor_id": iid,
            "service_id": service,
            "first_start": _z(first),
            "every": "week",
            "count": 6,
            "pickup_location": "12 High Street",
        },
    )
    assert r["status"] == "applied", r
    occurrences = r["record"]["occurrences"]
    assert [_utc(o["start"]) for o in occurrences] == [
        (first + dt.timedelta(weeks=k)).astimezone(dt.UTC) for k in range(6)
    ]
    refused = [o for o in occurrences if o["refused"]]
    assert len(refused) == 1 and refused[0]["refused"] == "overlap"
    assert _utc(refused[0]["start"]) == (first + dt.timedelta(days=14)).astimezone(dt.UTC)
    assert refused[0]["reason"] and refused[0]["booking_id"] is None
    booked = [o["booking_id"] for o in occurrences if o["booking_id"]]
    assert len(booked) == 5

    await st.pull()
    bookings = {b["id"]: b for b in st.of("booking").values() if b["series_id"] == sid}
    assert set(bookings) == set(booked)
    assert {b["status"] for b in bookings.values()} == {"requested"}
    assert {b["pickup_location"] for b in bookings.values()} == {"12 High Street"}
    assert st.of("booking_series")[sid]["status"] == "requested"
    # One notification for the series, none per booking.
    assert len(await _events(db, "series_requested")) == 1
    assert not [e for e in await _events(db, "booking_requested") if e["booking_id"] in booked]

    # The student cannot confirm; the instructor confirms the whole series once.
    no = await st.one("booking_series", sid, "patch", {"status": "confirmed"})
    assert no["error"]["code"] == "invalid_transition"
    ok = await inst.one("booking_series", sid, "patch", {"status": "confirmed"})
    assert ok["status"] == "applied", ok
    await st.pull()
    assert {st.of("booking")[b]["status"] for b in booked} == {"confirmed"}
    lessons = [x for x in st.of("lesson").values() if x["booking_id"] in booked]
    assert len(lessons) == 5 and {x["status"] for x in lessons} == {"scheduled"}
    assert len(await _events(db, "series_confirmed")) == 1
    assert not [e for e in await _events(db, "booking_confirmed") if e["booking_id"] in booked]

    # One occurrence cancelled alone: the others stay.
    alone = booked[0]
    assert (await st.one("booking", alone, "patch", {"status": "cancelled"}))["status"] == (
        "applied"
    )
    # "This and following" from the fifth date: the last date before it is the fourth's.
    fourth = (first + dt.timedelta(weeks=3)).date()
    cut = await st.one("booking_series", sid, "patch", {"until": fourth.isoformat()})
    assert cut["status"] == "applied", cut
    await st.pull()
    by_start = sorted((st.of("booking")[b] for b in booked), key=lambda b: b["start"])
    statuses = [b["status"] for b in by_start]
    # Weeks 1, 2, 4, 5, 6 were booked (3 refused): 1 cancelled alone, 2 and 4 kept, 5-6 cut.
    assert statuses == ["cancelled", "confirmed", "confirmed", "cancelled", "cancelled"]
    lesson_status = {x["booking_id"]: x["status"] for x in st.of("lesson").values()}
    assert [lesson_status[b["id"]] for b in by_start] == [
        "cancelled",
        "scheduled",
        "scheduled",
        "cancelled",
        "cancelled",
    ]
    cancelled = await _events(db, "series_cancelled")
    assert len(cancelled) == 1 and cancelled[0]["lessons"] == 2
    # The series cannot grow back.
    grow = await st.one(
        "booking_series", sid, "patch", {"until": (fourth + dt.timedelta(weeks=4)).isoformat()}
    )
    assert grow["error"]["code"] == "invalid"

    # Another student's replica never hears of the series.
    other = await Device(client, "student2@demo.test").login()
    await other.pull()
    assert sid not in other.of("booking_series")


async def test_series_rules(client: Any) -> None:
    st, inst, service = await _actors(client)
    iid = inst.user["instructor_id"]
    other_inst = (await Device(client, "instructor2@demo.test").login()).user["instructor_id"]
    first = _weekday_at(40, 11)
    base = {"instructor_id": iid, "service_id": service, "first_start": _z(first), "every": "week"}
    cases: list[tuple[dict[str, Any], str, Device]] = [
        ({**base}, "invalid", st),  # neither count nor until
        ({**base, "count": 3, "until": first.date().isoformat()}, "invalid", st),  # both
        ({**base, "count": 53}, "invalid", st),  # over the limit (the write model's)
        ({**base, "until": (first.date() + dt.timedelta(days=400)).isoformat()}, "invalid", st),
        ({**base, "until": (first.date() - dt.timedelta(days=1)).isoformat()}, "invalid", st),
        ({**base, "count": 2, "status": "confirmed"}, "invalid_transition", st),
        ({**base, "count": 2, "instructor_id": other_inst}, "not_assigned", st),
        ({**base, "count": 2, "every": "day"}, "invalid", st),
        ({**base, "count": 2, "first_start": "2020-01-06T10:00:00Z"}, "unavailable", st),
        ({**base, "count": 2, "first_start": _z(_weekday_at(40, 21))}, "unavailable", st),
    ]
    mine = {**base, "count": 2, "student_id": st.user["student_id"]}
    cases.append(({**mine, "instructor_id": other_inst}, "forbidden", inst))
    for data, code, who in cases:
        r = await who.one("booking_series", uid(), "put", data)
        assert r["status"] == "rejected" and r["error"]["code"] == code, (data, r)
    # An instructor books a series straight into their diary, confirmed.
    student1 = st.user["student_id"]
    sid = uid()
    made = await inst.one(
        "booking_series",
        sid,
        "put",
        {**base, "student_id": student1, "count": 2, "every": "2weeks", "status": "confirmed"},
    )
    assert made["status"] == "applied", made
    starts = [_utc(o["start"]) for o in made["record"]["occurrences"]]
    assert starts == [first.astimezone(dt.UTC), (first + dt.timedelta(weeks=2)).astimezone(dt.UTC)]
    # Fixed once made; deleting is cancelling.
    moved = await inst.one("booking_series", sid, "patch", {"every": "week"})
    assert moved["error"]["code"] == "invalid"
    assert (await inst.one("booking_series", sid, "delete"))["error"]["code"] == "invalid"
    done = await st.one("booking_series", sid, "patch", {"status": "cancelled"})
    assert done["status"] == "applied", done
    await st.pull()
    mine = [b for b in st.of("booking").values() if b["series_id"] == sid]
    assert len(mine) == 2 and {b["status"] for b in mine} == {"cancelled"}
