"""Cancellation policy and move requests, through sync pushes on both databases: a
cancellation is judged by when it was made (its clamped HLC time, bounded below by the
version of the booking the device saw), late ones owe the school's fee, staff
cancellations owe nothing; move requests are accepted (slot checks, booking and lesson
moved together), declined or refused on a clash; every change leaves an admin-only
history row."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select, update

from schemas import Booking, OutboxEvent, Tenant
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login
from tests.helpers import Device, uid
from tests.workers.conftest import slot

DAY_MS = 86_400_000
FEE = 2500


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


async def _school(client: Any, **changes: Any) -> dict[str, Any]:
    admin = await login(client, "admin@demo.test")
    resp = await client.patch("/v1/admin/school", json=changes, headers=bearer(admin))
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


async def _booked(client: Any, days: int = 6, hour: int = 13, confirm: bool = True) -> Any:
    """student1 books instructor1 at `days` ahead (a weekday; 13:00 London, clear of the
    seeded lessons at 10, 12 and 15)."""
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    await st.pull(entities="service")
    st.cursor = None
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    bid = uid()
    data = {
        "instructor_id": inst.user["instructor_id"],
        "service_id": service["id"],
        "start": slot(days, hour),
    }
    r = await st.one("booking", bid, "put", data)
    assert r["status"] == "applied", r
    if confirm:
        ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
        assert ok["status"] == "applied", ok
    return st, inst, bid, _at(data["start"])


async def _backdate(db: Db, bid: str, created: dt.datetime, updated: dt.datetime) -> None:
    """The booking was made and last changed earlier (the device has held it since)."""
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(Booking).where(Booking.id == bid).values(created_at=created, updated_at=updated)
        )
        await s.commit()


async def _rev(dev: Device, bid: str) -> int:
    await dev.pull(entities="booking")
    rev: int = dev.of("booking")[bid]["rev"]
    return rev


def _stamp(dev: Device, ms: int) -> str:
    """An HLC stamp at `ms` from this device's clock (Device.hlc never goes back)."""
    return f"{ms:013d}-0000-{dev.client_id}"


def _cutoff_passed(start: dt.datetime, hours_ago: float) -> int:
    """A cut-off (whole hours) that passed at least `hours_ago` hours ago for this start
    (negative: that is at least that far ahead), whatever the rounding to whole hours."""
    left = (start - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    return math.ceil(left + hours_ago) if hours_ago >= 0 else math.floor(left + hours_ago)


async def test_school_sets_cutoff_and_fee_and_devices_learn_them(client: Any) -> None:
    changed = await _school(client, cancel_cutoff_hours=48, late_fee_cents=FEE)
    assert (changed["cancel_cutoff_hours"], changed["late_fee_cents"]) == (48, FEE)
    student = await login(client, "student1@demo.test")
    assert student["school"]["cancel_cutoff_hours"] == 48
    assert student["school"]["late_fee_cents"] == FEE
    admin = await login(client, "admin@demo.test")
    for body in ({"cancel_cutoff_hours": -1}, {"late_fee_cents": -5}, {"late_fee_cents": None}):
        resp = await client.patch("/v1/admin/school", json=body, headers=bearer(admin))
        assert resp.status == 422, body
        assert (await resp.json())["error"]["details"]["field"] == next(iter(body))
    teacher = await login(client, "instructor1@demo.test")
    resp = await client.patch(
        "/v1/admin/school", json={"late_fee_cents": 0}, headers=bearer(teacher)
    )
    assert resp.status == 403


async def test_offline_cancellation_before_the_cutoff_is_on_time(client: Any, db: Db) -> None:
    st, _inst, bid, start = await _booked(client)
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start, 1), late_fee_cents=FEE)
    now = dt.datetime.now(dt.UTC)
    # Booked and confirmed three days ago; the device went offline two days ago and
    # cancelled a day ago, by its own clock, before the cut-off. It reconnects only now,
    # an hour after the cut-off passed.
    await _backdate(db, bid, now - dt.timedelta(days=3), now - dt.timedelta(days=2))
    base = await _rev(st, bid)
    made = _ms(now) - DAY_MS
    r = await st.one(
        "booking", bid, "patch", {"status": "cancelled"}, base_rev=base, hlc=_stamp(st, made)
    )
    assert r["status"] == "applied", r
    await st.pull(entities="booking")
    rec = st.of("booking")[bid]
    assert rec["status"] == "cancelled" and rec["late_fee_cents"] is None
    assert rec["cancelled_by"] == "student"
    assert abs(_ms(_at(rec["cancelled_at"])) - made) < 1000  # judged by when it was made


async def test_cancellation_inside_the_cutoff_records_the_fee(client: Any) -> None:
    st, _inst, bid, start = await _booked(client)
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start, 1), late_fee_cents=FEE)
    r = await st.one("booking", bid, "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    await st.pull(entities="booking")
    rec = st.of("booking")[bid]
    assert rec["late_fee_cents"] == FEE and rec["currency"] == "GBP"
    # The fee is read-only to clients.
    forged = await st.one("booking", bid, "patch", {"late_fee_cents": 0})
    assert forged["error"]["code"] == "read_only_field"
    # The notification says so.
    admin = await Device(client, "admin@demo.test").login()
    await admin.pull(entities="booking_history")
    changes = sorted(
        (h["change"], h["to_value"])
        for h in admin.of("booking_history").values()
        if h["booking_id"] == bid
    )
    assert ("late_fee", str(FEE)) in changes and ("status", "cancelled") in changes


async def test_a_clock_ahead_is_clamped_and_a_clock_behind_is_bounded(client: Any, db: Db) -> None:
    st, _inst, bid, start = await _booked(client, days=6)
    # The cut-off is an hour away: cancelling now is on time.
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start, -1), late_fee_cents=FEE)
    ahead = _ms(dt.datetime.now(dt.UTC)) + 3 * DAY_MS  # a clock three days fast
    r = await st.one("booking", bid, "patch", {"status": "cancelled"}, hlc=_stamp(st, ahead))
    assert r["status"] == "applied", r
    await st.pull(entities="booking")
    rec = st.of("booking")[bid]
    assert rec["late_fee_cents"] is None  # judged at the server's now, not three days later
    assert _at(rec["cancelled_at"]) < dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)

    # A clock thirty days slow cannot place a cancellation before the version it edited:
    # the booking was confirmed (its current version) 30 minutes ago, after the cut-off.
    st2, _inst2, bid2, start2 = await _booked(client, days=7)
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start2, 1), late_fee_cents=FEE)
    now = dt.datetime.now(dt.UTC)
    await _backdate(db, bid2, now - dt.timedelta(days=3), now - dt.timedelta(minutes=30))
    base = await _rev(st2, bid2)
    slow = _ms(now) - 30 * DAY_MS
    r = await st2.one(
        "booking", bid2, "patch", {"status": "cancelled"}, base_rev=base, hlc=_stamp(st2, slow)
    )
    assert r["status"] == "applied", r
    await st2.pull(entities="booking")
    rec2 = st2.of("booking")[bid2]
    assert rec2["late_fee_cents"] == FEE
    assert abs(_at(rec2["cancelled_at"]) - (now - dt.timedelta(minutes=30))) < dt.timedelta(
        seconds=2
    )


async def test_staff_and_unconfirmed_cancellations_owe_nothing(client: Any) -> None:
    _st, inst, bid, start = await _booked(client, days=6)
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start, 1), late_fee_cents=FEE)
    r = await inst.one("booking", bid, "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    _st2, _i2, bid2, _s2 = await _booked(client, days=6, hour=14)
    admin = await Device(client, "admin@demo.test").login()
    assert (await admin.one("booking", bid2, "patch", {"status": "cancelled"}))[
        "status"
    ] == "applied"
    st3, _i3, bid3, _s3 = await _booked(client, days=6, hour=16, confirm=False)
    assert (await st3.one("booking", bid3, "patch", {"status": "cancelled"}))["status"] == "applied"
    await admin.pull(entities="booking")
    got = {b: admin.of("booking")[b] for b in (bid, bid2, bid3)}
    assert [(got[b]["cancelled_by"], got[b]["late_fee_cents"]) for b in (bid, bid2, bid3)] == [
        ("instructor", None),
        ("admin", None),
        ("student", None),
    ]
    # A lesson cancelled in the car cancels its booking the same way: staff, no fee.
    _st4, inst4, bid4, _s4 = await _booked(client, days=6, hour=11)
    await inst4.pull(entities="lesson")
    lesson = next(x for x in inst4.of("lesson").values() if x["booking_id"] == bid4)
    r = await inst4.one("lesson", lesson["id"], "patch", {"status": "cancelled"})
    assert r["status"] == "applied", r
    await admin.pull(entities="booking")
    rec = admin.of("booking")[bid4]
    assert (rec["status"], rec["cancelled_by"], rec["late_fee_cents"]) == (
        "cancelled",
        "instructor",
        None,
    )


async def test_late_fee_is_in_the_cancellation_notification(client: Any, db: Db) -> None:
    st, _inst, bid, start = await _booked(client)
    await _school(client, cancel_cutoff_hours=_cutoff_passed(start, 1), late_fee_cents=FEE)
    assert (await st.one("booking", bid, "patch", {"status": "cancelled"}))["status"] == "applied"
    from workers.notifications.events import expand
    from workers.notifications.recipients import Facts
    from workers.notifications.templates import Renderer

    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        event = await s.scalar(
            select(OutboxEvent).where(OutboxEvent.event_type == "booking_cancelled")
        )
        assert event is not None and event.payload["booking_id"] == bid
        tenant = await s.scalar(select(Tenant).where(Tenant.id == event.tenant_id))
        assert tenant is not None
        bind_tenant(s, tenant.id)
        expansion = await expand(Facts(s, tenant), "booking_cancelled", event.payload)
    assert [r.role for r in expansion.recipients] == ["student", "instructor"]
    assert expansion.context["booking"]["late_fee"] == "£25.00"
    context = expansion.context | {"recipient": {"name": "Amelia"}}
    mail = Renderer().render("booking_cancelled", "email", context)
    assert "a fee of £25.00 applies" in mail.text and "£25.00" in (mail.html or "")
    sms = Renderer().render("booking_cancelled", "sms", context)
    assert "Late cancellation: a fee of £25.00 applies." in sms.text
    # An on-time cancellation says nothing of a fee.
    quiet = context | {"booking": {**context["booking"], "late_fee": ""}}
    assert "fee" not in Renderer().render("booking_cancelled", "email", quiet).text


async def test_move_request_accept_decline_and_clash(client: Any, db: Db) -> None:
    st, inst, bid, _start = await _booked(client, days=9)
    iid = inst.user["instructor_id"]
    # Staff move the booking itself; a student asks.
    assert (await st.one("booking", bid, "patch", {"start": slot(9, 14)}))["error"][
        "code"
    ] == "forbidden"
    assert (
        await inst.one("booking_move", uid(), "put", {"booking_id": bid, "start": slot(9, 14)})
    )["error"]["code"] == "forbidden"
    ask = uid()
    r = await st.one(
        "booking_move", ask, "put", {"booking_id": bid, "start": slot(9, 14), "note": "Work"}
    )
    assert r["status"] == "applied", r
    assert r["record"]["status"] == "requested" and r["record"]["instructor_id"] == iid
    # One open request per booking; a student cannot accept their own.
    again = await st.one("booking_move", uid(), "put", {"booking_id": bid, "start": slot(9, 15)})
    assert again["error"]["code"] == "move_pending"
    own = await st.one("booking_move", ask, "patch", {"status": "accepted"})
    assert own["error"]["code"] == "invalid_transition"
    # A requested time that cannot work is refused at once, with its reason.
    bad = await st.one("booking_move", uid(), "put", {"booking_id": bid, "start": slot(9, 21)})
    assert bad["error"]["code"] in ("unavailable", "move_pending")
    ok = await inst.one("booking_move", ask, "patch", {"status": "accepted"})
    assert ok["status"] == "applied", ok
    await st.pull()
    booking = st.of("booking")[bid]
    lesson = next(x for x in st.of("lesson").values() if x["booking_id"] == bid)
    assert booking["start"] == slot(9, 14) and lesson["scheduled_start"] == slot(9, 14)
    assert st.of("booking_move")[ask]["status"] == "accepted"
    assert st.of("booking_move")[ask]["decided_by"] == "instructor"

    # Declined: the booking stays.
    ask2 = uid()
    assert (await st.one("booking_move", ask2, "put", {"booking_id": bid, "start": slot(9, 16)}))[
        "status"
    ] == "applied"
    assert (await inst.one("booking_move", ask2, "patch", {"status": "declined"}))[
        "status"
    ] == "applied"
    await st.pull()
    assert st.of("booking")[bid]["start"] == slot(9, 14)

    # A clash that arose after the request refuses the acceptance with its reason.
    ask3 = uid()
    assert (await st.one("booking_move", ask3, "put", {"booking_id": bid, "start": slot(9, 11)}))[
        "status"
    ] == "applied"
    st2 = await Device(client, "student2@demo.test").login()
    await st2.pull(entities="service")
    service = next(s for s in st2.of("service").values() if s["duration_min"] == 60)
    taken = await st2.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": iid, "service_id": service["id"], "start": slot(9, 11)},
    )
    assert taken["status"] == "applied", taken
    clash = await inst.one("booking_move", ask3, "patch", {"status": "accepted"})
    assert clash["status"] == "rejected" and clash["error"]["code"] == "overlap"
    await st.pull()
    assert st.of("booking")[bid]["start"] == slot(9, 14)
    assert st.of("booking_move")[ask3]["status"] == "requested"
    # The student withdraws it.
    assert (await st.one("booking_move", ask3, "patch", {"status": "withdrawn"}))[
        "status"
    ] == "applied"
    events = await _events(db)
    assert events.count("booking_move_requested") == 3
    assert events.count("booking_move_accepted") == 1
    assert events.count("booking_move_declined") == 1


async def _events(db: Db) -> list[str]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list(await s.scalars(select(OutboxEvent.event_type)))


async def test_history_rows_reach_admins_only(client: Any) -> None:
    st, inst, bid, _start = await _booked(client, days=10)
    ask = uid()
    assert (await st.one("booking_move", ask, "put", {"booking_id": bid, "start": slot(10, 14)}))[
        "status"
    ] == "applied"
    assert (await inst.one("booking_move", ask, "patch", {"status": "accepted"}))[
        "status"
    ] == "applied"
    assert (await inst.one("booking", bid, "patch", {"pickup_location": "Station"}))[
        "status"
    ] == "applied"
    admin = await Device(client, "admin@demo.test").login()
    await admin.pull()
    rows = sorted(
        (h["change"], h["field"], h["role"], h["from_value"], h["to_value"])
        for h in admin.of("booking_history").values()
        if h["booking_id"] == bid
    )
    assert rows == sorted(
        [
            ("created", "status", "student", None, "requested"),
            ("status", "status", "instructor", "requested", "confirmed"),
            ("moved", "start", "instructor", slot(10, 13), slot(10, 14)),
            ("moved", "end", "instructor", slot(10, 14), slot(10, 15)),
            ("pickup", "pickup_location", "instructor", None, "Station"),
        ]
    )
    # Students and instructors never receive them, not even by asking for the entity.
    for dev in (st, inst):
        dev.cursor = None
        await dev.pull()
        assert dev.of("booking_history") == {}
        dev.cursor = None
        page = await dev.pull_page(entities="booking_history")
        assert page["changes"] == []
    # Nobody writes them.
    hid = next(iter(admin.of("booking_history")))
    r = await admin.one("booking_history", hid, "patch", {"to_value": "x"})
    assert r["status"] == "rejected" and r["error"]["code"] == "forbidden"


async def _rendered(db: Db, event_type: str) -> tuple[list[str], str, str]:
    """Recipients' roles, subject and HTML of the latest event of a type, as the
    dispatcher would expand and render it now."""
    from workers.notifications.events import expand
    from workers.notifications.recipients import Facts
    from workers.notifications.templates import Renderer

    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        event = (
            await s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.event_type == event_type)
                .order_by(OutboxEvent.created_at.desc())
            )
        ).first()
        assert event is not None, event_type
        tenant = await s.scalar(select(Tenant).where(Tenant.id == event.tenant_id))
        assert tenant is not None
        bind_tenant(s, tenant.id)
        expansion = await expand(Facts(s, tenant), event_type, event.payload)
    if expansion.stale:
        return [], expansion.stale, ""
    context = expansion.context | {"recipient": {"name": "X"}}
    mail = Renderer().render(event_type, "email", context)
    return [r.role for r in expansion.recipients], mail.subject, mail.html or ""


async def test_move_notifications_reach_the_other_side(client: Any, db: Db) -> None:
    st, inst, bid, _start = await _booked(client, days=9)
    ask = uid()
    data = {"booking_id": bid, "start": slot(9, 14), "note": "Exam <moved>"}
    assert (await st.one("booking_move", ask, "put", data))["status"] == "applied"
    roles, subject, html = await _rendered(db, "booking_move_requested")
    assert roles == ["instructor"] and subject.startswith("Amelia Clarke asks to move a lesson")
    assert "Exam &lt;moved&gt;" in html  # the student's note, escaped
    assert (await inst.one("booking_move", ask, "patch", {"status": "accepted"}))[
        "status"
    ] == "applied"
    roles, subject, _html = await _rendered(db, "booking_move_accepted")
    assert roles == ["student"] and subject.startswith("Your lesson was moved to ")
    # A request already answered is not sent late to the instructor.
    roles, why, _ = await _rendered(db, "booking_move_requested")
    assert roles == [] and "accepted" in why
    ask2 = uid()
    data2 = {"booking_id": bid, "start": slot(9, 16)}
    assert (await st.one("booking_move", ask2, "put", data2))["status"] == "applied"
    assert (await inst.one("booking_move", ask2, "patch", {"status": "declined"}))[
        "status"
    ] == "applied"
    roles, subject, _html = await _rendered(db, "booking_move_declined")
    assert roles == ["student"] and subject.startswith("Your lesson stays at ")


async def test_a_new_booking_or_move_request_without_its_required_fields_is_invalid(
    client: Any,
) -> None:
    st = await Device(client, "student1@demo.test").login()
    for entity, data, field in (
        ("booking", {"service_id": uid()}, "instructor_id"),  # was a 500 before this check
        ("booking_move", {"note": "x"}, "booking_id"),
        ("booking_move", {"booking_id": uid()}, "start"),
    ):
        r = await st.one(entity, uid(), "put", data)
        assert r["status"] == "rejected", r
        assert (r["error"]["code"], r["error"]["details"]["field"]) == ("invalid", field)


async def test_a_move_requests_note_is_the_students(client: Any) -> None:
    st, inst, bid, _start = await _booked(client, days=9)
    ask = uid()
    data = {"booking_id": bid, "start": slot(9, 14), "note": "Work"}
    assert (await st.one("booking_move", ask, "put", data))["status"] == "applied"
    edited = await st.one("booking_move", ask, "patch", {"note": "Work shift"})
    assert edited["status"] == "applied", edited
    staff = await inst.one("booking_move", ask, "patch", {"status": "declined", "note": "No"})
    assert (staff["status"], staff["error"]["code"]) == ("rejected", "forbidden")
    assert (await inst.one("booking_move", ask, "patch", {"status": "declined"}))[
        "status"
    ] == "applied"
    await st.pull(entities="booking_move")
    assert st.of("booking_move")[ask]["note"] == "Work shift"
    late = await st.one("booking_move", ask, "patch", {"note": "Please"})
    assert late["error"]["code"] == "forbidden"  # answered: nothing more to edit


async def test_cancelling_a_booking_closes_its_open_move_request(client: Any) -> None:
    st, inst, bid, _start = await _booked(client, days=11)
    ask = uid()
    r = await st.one("booking_move", ask, "put", {"booking_id": bid, "start": slot(11, 15)})
    assert r["status"] == "applied", r
    assert (await inst.one("booking", bid, "patch", {"status": "cancelled"}))["status"] == (
        "applied"
    )
    await inst.pull()
    assert inst.of("booking_move")[ask]["status"] == "withdrawn"  # nothing left to answer
    late = await inst.one("booking_move", ask, "patch", {"status": "accepted"})
    assert late["status"] == "rejected", late
