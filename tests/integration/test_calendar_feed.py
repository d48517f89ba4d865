"""The private iCalendar feed, on both databases: turned on, read by a calendar app with no
token (parsed with the `icalendar` library, as a phone's calendar would), turned to a new
address, off, and closed to accounts that no longer stand. What each role's feed holds is
compared with the database, not with hard-coded counts."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Response
from sqlalchemy import select, update

from schemas import AvailabilityException, Instructor, Lesson, LessonNote, Student, User, utcnow
from server.shell import ShellQuietAccessLogger
from sync.calendar_feed import AHEAD, PAST
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login
from tests.helpers import Device

FEED = "/v1/calendar/feed"


async def turn_on(client: Any, email: str) -> tuple[str, dict[str, str]]:
    """Sign in as `email`, turn the feed on; (the feed's path, the user's auth headers)."""
    headers = bearer(await login(client, email))
    resp = await client.post(FEED, headers=headers)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["enabled"] is True and body["url"].endswith(".ics")
    return urlsplit(body["url"]).path, headers


async def read_feed(client: Any, path: str) -> icalendar.Calendar:
    """The feed as a calendar app reads it: no Authorization header."""
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/calendar"
    assert "private" in resp.headers["Cache-Control"]
    return icalendar.Calendar.from_ical(await resp.read())


def events(cal: icalendar.Calendar) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def expected_lessons(db: Db, **where: str) -> dict[str, Lesson]:
    """The non-deleted lessons of the demo school in the feed's window, by feed UID."""
    now = utcnow()
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        query = select(Lesson).where(
            Lesson.deleted.is_(False),
            Lesson.scheduled_end > now - PAST,
            Lesson.scheduled_start < now + AHEAD,
            Lesson.tenant_id == await demo_tenant(db),
        )
        for column, value in where.items():
            query = query.where(getattr(Lesson, column) == value)
        return {f"lesson-{x.id}@drivesync": x for x in await session.scalars(query)}


async def demo_tenant(db: Db) -> str:
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        user = await session.scalar(select(User).where(User.email == "admin@demo.test"))
        assert user is not None
        return user.tenant_id


async def person(db: Db, cls: Any, email: str) -> Any:
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        row = await session.scalar(
            select(cls).join(User, User.id == cls.user_id).where(User.email == email)
        )
        assert row is not None
        return row


async def test_an_instructors_feed_is_their_lessons_with_names_and_no_notes(
    client: Any, db: Db
) -> None:
    path, _ = await turn_on(client, "instructor1@demo.test")
    cal = await read_feed(client, path)
    assert str(cal["X-WR-CALNAME"]).startswith("Demo Driving School")
    inst = await person(db, Instructor, "instructor1@demo.test")
    wanted = await expected_lessons(db, instructor_id=inst.id)
    got = {uid: e for uid, e in events(cal).items() if uid.startswith("lesson-")}
    assert wanted and set(got) == set(wanted)
    students = {}
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        students = {s.id: s.name for s in await session.scalars(select(Student))}
        notes = [n.body for n in await session.scalars(select(LessonNote)) if n.body]
    for uid, event in got.items():
        lesson = wanted[uid]
        assert event.decoded("DTSTART") == lesson.scheduled_start
        assert event.decoded("DTEND") == lesson.scheduled_end
        assert str(event["SUMMARY"]).startswith(
            f"Driving lesson with {students[lesson.student_id]}"
        )
        assert int(event["SEQUENCE"]) == lesson.rev
        assert str(event["STATUS"]) == "CONFIRMED"
    body = (await (await client.get(path)).read()).decode()
    assert notes and not any(note[:40] in body for note in notes)
    # The seed's waiting request of this instructor is in it, tentative.
    tentative = [e for uid, e in events(cal).items() if uid.startswith("booking-")]
    assert all(str(e["STATUS"]) == "TENTATIVE" for e in tentative)


async def test_a_students_feed_is_their_own_lessons_only(client: Any, db: Db) -> None:
    path, _ = await turn_on(client, "student1@demo.test")
    student = await person(db, Student, "student1@demo.test")
    got = {uid for uid in events(await read_feed(client, path)) if uid.startswith("lesson-")}
    wanted = await expected_lessons(db, student_id=student.id)
    assert wanted and got == set(wanted)


async def test_an_admins_feed_is_the_schools_lessons_and_every_instructors_time_off(
    client: Any, db: Db
) -> None:
    inst = await person(db, Instructor, "instructor1@demo.test")
    start = dt.datetime.combine(utcnow().date() + dt.timedelta(days=20), dt.time(9), dt.UTC)
    block_id, day_id, gone_id = (str(uuid.uuid4()) for _ in range(3))
    async with db.sessions() as session, session.begin():
        bind_tenant(session, inst.tenant_id)
        session.add(
            AvailabilityException(
                tenant_id=inst.tenant_id,
                id=block_id,
                instructor_id=inst.id,
                start=start,
                end=start + dt.timedelta(days=7),
                reason="Family holiday",
            )
        )
        # A whole day off (stored widened to the school's midnights), and a removed block.
        london = ZoneInfo("Europe/London")
        day = utcnow().date() + dt.timedelta(days=40)
        session.add(
            AvailabilityException(
                tenant_id=inst.tenant_id,
                id=day_id,
                instructor_id=inst.id,
                start=dt.datetime.combine(day, dt.time(), london),
                end=dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), london),
                all_day=True,
            )
        )
        session.add(
            AvailabilityException(
                tenant_id=inst.tenant_id,
                id=gone_id,
                instructor_id=inst.id,
                start=start + dt.timedelta(days=30),
                end=start + dt.timedelta(days=31),
                deleted=True,
            )
        )
    admin_path, _ = await turn_on(client, "admin@demo.test")
    admin_events = events(await read_feed(client, admin_path))
    lessons = {uid for uid in admin_events if uid.startswith("lesson-")}
    assert lessons == set(await expected_lessons(db))
    block = admin_events[f"time-off-{block_id}@drivesync"]
    assert str(block["SUMMARY"]) == "Time off: Priya Shah (Family holiday)"
    assert block.decoded("DTSTART") == start
    whole = admin_events[f"time-off-{day_id}@drivesync"]
    assert whole.decoded("DTSTART") == day and whole.decoded("DTEND") == day + dt.timedelta(days=1)
    assert f"time-off-{gone_id}@drivesync" not in admin_events
    # The instructor's own feed has it too; a student's never does (nor its reason).
    inst_path, _ = await turn_on(client, "instructor1@demo.test")
    assert (
        str(events(await read_feed(client, inst_path))[f"time-off-{block_id}@drivesync"]["SUMMARY"])
        == "Time off (Family holiday)"
    )
    student_path, _ = await turn_on(client, "student1@demo.test")
    body = (await (await client.get(student_path)).read()).decode()
    assert "Family holiday" not in body and block_id not in body


async def test_a_moved_lesson_keeps_its_uid_with_a_higher_sequence(client: Any, db: Db) -> None:
    path, _ = await turn_on(client, "instructor1@demo.test")
    inst = await person(db, Instructor, "instructor1@demo.test")
    lessons = await expected_lessons(db, instructor_id=inst.id, status="scheduled")
    uid, lesson = next(iter(lessons.items()))
    before = events(await read_feed(client, path))[uid]
    device = await Device(client, "instructor1@demo.test").login()
    new_start = lesson.scheduled_start + dt.timedelta(minutes=30)
    result = await device.one(
        "lesson",
        lesson.id,
        "patch",
        {
            "scheduled_start": new_start.isoformat(),
            "scheduled_end": (lesson.scheduled_end + dt.timedelta(minutes=30)).isoformat(),
        },
    )
    assert result["status"] == "applied", result
    after = events(await read_feed(client, path))[uid]
    assert after.decoded("DTSTART") == new_start
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])


async def test_a_new_address_replaces_the_old_and_off_ends_it(client: Any, db: Db) -> None:
    first, headers = await turn_on(client, "instructor1@demo.test")
    resp = await client.post(FEED, headers=headers)
    second = urlsplit((await resp.json())["url"]).path
    assert second != first
    gone = await client.get(first)
    assert gone.status == 404 and (await gone.json())["error"]["code"] == "feed_not_found"
    await read_feed(client, second)
    status = await (await client.get(FEED, headers=headers)).json()
    assert status["enabled"] is True and status.get("url") is None  # never shown again
    assert status["fetched_at"] is not None  # the calendar app's read was noted
    resp = await client.delete(FEED, headers=headers)
    assert resp.status == 200 and (await resp.json())["enabled"] is False
    assert (await client.get(second)).status == 404
    assert (await (await client.get(FEED, headers=headers)).json())["enabled"] is False


async def test_a_disabled_account_has_no_feed(client: Any, db: Db) -> None:
    path, _ = await turn_on(client, "student2@demo.test")
    await read_feed(client, path)
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        await session.execute(
            update(User).where(User.email == "student2@demo.test").values(is_active=False)
        )
    resp = await client.get(path)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "feed_not_found"


async def test_unknown_and_malformed_addresses_are_404_and_etag_gives_304(
    client: Any, db: Db
) -> None:
    resp = await client.get("/v1/calendar/feeds/" + "A" * 43 + ".ics")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "feed_not_found"
    for bad in ("short.ics", "%00" * 30 + ".ics", "A" * 43):
        assert (await client.get("/v1/calendar/feeds/" + bad)).status == 404
    assert (await client.post(FEED)).status == 401  # turning it on needs a sign-in
    path, _ = await turn_on(client, "instructor2@demo.test")
    first = await client.get(path)
    etag = first.headers["ETag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag


def test_the_access_log_leaves_the_secret_out(caplog: Any) -> None:
    secret = "S3cr3t_" + "x" * 36
    logger = logging.getLogger("test.access")
    access = ShellQuietAccessLogger(logger, ShellQuietAccessLogger.LOG_FORMAT)
    request = make_mocked_request("GET", f"/v1/calendar/feeds/{secret}.ics")
    with caplog.at_level(logging.INFO, logger="test.access"):
        access.log(request, Response(status=200), 0.01)
        access.log(make_mocked_request("GET", "/v1/sync/info"), Response(status=200), 0.01)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "/v1/sync/info" in lines[1]
    assert "/v1/calendar/feeds/<secret>.ics" in lines[0] and secret not in lines[0]
