"""`drivesync seed-demo`: the demo school other tests rely on, and a rival school for
isolation checks. Ids are derived from names (uuid5), and a school that already exists is
left alone, so running it twice changes nothing."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import (
    Availability,
    Booking,
    Guardian,
    Instructor,
    Lesson,
    LessonNote,
    Membership,
    NoteRevision,
    Package,
    Payment,
    Service,
    Skill,
    SkillAssessment,
    Student,
    StudentGuardian,
    StudentInstructor,
    StudentProgress,
    Tenant,
    TenantRev,
    TestRecord,
    TheoryQuestion,
    Trip,
    TripSegment,
    User,
)
from server.auth.passwords import hash_password
from server.demo import load_skills, load_theory_bank
from sync.core.derive import Assessed, progress, trip_totals
from sync.money import ledger
from sync.store import Store, WriteTxn
from sync.tenancy import ALL_TENANTS, bind_tenant
from workers.payments import invoicing

DEMO_PASSWORD = "drive-demo-1"
NS = uuid.UUID("6f1c2b1e-3f4a-4c1d-9a77-5d0c0e0d5e11")


def sid(*parts: object) -> str:
    """A stable id for a seeded row."""
    return str(uuid.uuid5(NS, ":".join(str(p) for p in parts)))


@dataclass
class SchoolPlan:
    slug: str
    name: str
    domain: str
    instructors: list[tuple[str, str]]  # (email local part, name)
    students: list[tuple[str, str, int]]  # (local part, name, instructor index)


DEMO = SchoolPlan(
    "demo",
    "Demo Driving School",
    "demo.test",
    [("instructor1", "Priya Shah"), ("instructor2", "Tom Evans")],
    [
        ("student1", "Amelia Clarke", 0),
        ("student2", "Oliver Bennett", 0),
        ("student3", "Isla Murphy", 0),
        ("student4", "Noah Patel", 1),
        ("student5", "Freya Hughes", 1),
        ("student6", "Leo Robinson", 1),
    ],
)
RIVAL = SchoolPlan(
    "rival",
    "Rival Motoring Academy",
    "rival.test",
    [("instructor1", "Grace Walker")],
    [("student1", "Jack Turner", 0), ("student2", "Mia Ward", 0)],
)

SERVICES = [
    ("lesson-60", "60-minute lesson", "lesson", 60, 4200),
    ("lesson-120", "2-hour lesson", "lesson", 120, 8000),
    ("motorway", "Motorway lesson (2 hours)", "lesson", 120, 9000),
    ("test-prep", "Test preparation", "lesson", 90, 6500),
    ("mock-test", "Mock driving test", "mock_test", 60, 5000),
]

NOTES = [
    "Good cockpit drill and mirror checks before moving off. "
    "Keep working on smooth clutch control.",
    "Roundabouts improving: lane choice correct, but signal off earlier when leaving.",
    "Emerging at T-junctions: creep and peep was good; needs more commitment on clear roads.",
    "Parallel park done twice, second attempt within the kerb distance. Practise observation.",
    "Dual carriageway joining speed was too low; build up speed on the slip road.",
    "Independent driving following signs for 20 minutes with no major faults.",
]


async def seed_demo(sessions: async_sessionmaker[AsyncSession], store: Store) -> list[str]:
    """Create the demo and rival schools if missing; returns the slugs created."""
    created = []
    for plan in (DEMO, RIVAL):
        async with sessions() as session:
            bind_tenant(session, ALL_TENANTS)
            exists = await session.scalar(select(Tenant.id).where(Tenant.slug == plan.slug))
        if exists:
            continue
        await _seed_school(sessions, store, plan)
        created.append(plan.slug)
    return created


async def _seed_school(
    sessions: async_sessionmaker[AsyncSession], store: Store, plan: SchoolPlan
) -> None:
    tenant_id = sid(plan.slug, "tenant")
    async with sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        session.add(Tenant(id=tenant_id, slug=plan.slug, name=plan.name))
        await session.flush()
        session.add(TenantRev(tenant_id=tenant_id, rev=0, horizon_rev=0))
    rng = random.Random(plan.slug)
    pw_hash = hash_password(DEMO_PASSWORD)
    tz = ZoneInfo("Europe/London")
    today = dt.datetime.now(tz).date()
    async with store.write(tenant_id) as txn:
        s = txn.session
        row: Any  # one name for each seeded row in turn

        memberships = []

        def user(local: str, name: str, role: str) -> str:
            user_id = sid(plan.slug, "user", local)
            s.add(
                User(
                    tenant_id=tenant_id,
                    id=user_id,
                    email=f"{local}@{plan.domain}",
                    name=name,
                    password_hash=pw_hash,
                )
            )
            memberships.append(Membership(tenant_id=tenant_id, user_id=user_id, role=role))
            return user_id

        user("admin", f"{plan.name} Office", "admin")
        instructors = []
        for local, name in plan.instructors:
            user_id = user(local, name, "instructor")
            inst_row = Instructor(
                tenant_id=tenant_id,
                id=sid(plan.slug, "instructor", local),
                user_id=user_id,
                name=name,
                email=f"{local}@{plan.domain}",
                adi_number=f"ADI{rng.randint(100000, 999999)}",
            )
            await s.flush()
            txn.stamp("instructor", inst_row)
            instructors.append(inst_row)
        await s.flush()
        students = []
        for n, (local, name, inst_idx) in enumerate(plan.students, start=1):
            user_id = user(local, name, "student")
            row = Student(
                tenant_id=tenant_id,
                id=sid(plan.slug, "student", local),
                user_id=user_id,
                name=name,
                email=f"{local}@{plan.domain}",
                phone=f"+4477009{n:05d}",
                licence_number=f"PROV{rng.randint(10**7, 10**8)}",
                address=f"{n * 7} High Street, Exampleton",
            )
            txn.stamp("student", row)
            students.append((row, instructors[inst_idx]))
        await s.flush()
        if plan.slug == DEMO.slug:
            await _seed_guardian(txn, plan, user, [row for row, _inst in students[:2]], today)
        s.add_all(memberships)
        for student_row, inst in students:
            txn.stamp(
                "student_instructor",
                StudentInstructor(
                    tenant_id=tenant_id,
                    id=sid(plan.slug, "assignment", student_row.id),
                    student_id=student_row.id,
                    instructor_id=inst.id,
                    is_primary=True,
                ),
            )
        services = {}
        for key, name, kind, minutes, price in SERVICES:
            row = Service(
                tenant_id=tenant_id,
                id=sid(plan.slug, "service", key),
                name=name,
                kind=kind,
                duration_min=minutes,
                price_cents=price,
                currency="GBP",
            )
            txn.stamp("service", row)
            services[key] = row
        for n, inst in enumerate(instructors):
            for weekday in range(6):
                start, end = ("08:00", "18:00") if weekday < 5 else ("09:00", "13:00")
                if n % 2:
                    start, end = ("09:00", "19:00") if weekday < 5 else ("09:00", "15:00")
                row = Availability(
                    tenant_id=tenant_id,
                    id=sid(plan.slug, "avail", inst.id, weekday),
                    instructor_id=inst.id,
                    weekday=weekday,
                    start_time=start,
                    end_time=end,
                    valid_from=today - dt.timedelta(days=60),
                )
                txn.stamp("availability", row)
        skills = []
        for item in load_skills():
            row = Skill(
                tenant_id=tenant_id,
                id=sid(plan.slug, "skill", item["code"]),
                code=item["code"],
                name=item["name"],
                stage=item["stage"],
                position=item["position"],
            )
            txn.stamp("skill", row)
            skills.append(row)
        for item in load_theory_bank():
            row = TheoryQuestion(
                tenant_id=tenant_id,
                id=sid(plan.slug, "question", item["key"]),
                key=item["key"],
                topic=item["topic"],
                question=item["question"],
                options=item["options"],
                correct_option=item["correct_option"],
                explanation=item["explanation"],
            )
            txn.stamp("theory_question", row)
        await s.flush()
        await _seed_lessons(txn, plan, students, services["lesson-60"], skills, rng, tz, today)
        if plan.slug == DEMO.slug:
            await _seed_credit(txn, plan, [row for row, _inst in students])


# The demo school's packages: (key, name, lessons, minutes, price, valid days).
PACKAGES = [
    ("five", "5 lessons", 5, None, 20000, 180),
    ("ten", "10 lessons", 10, None, 38000, 365),
    ("minutes", "600 minutes", None, 600, 40000, 365),
]


async def _seed_credit(txn: WriteTxn, plan: SchoolPlan, students: list[Student]) -> None:
    """The packages on sale, and student2's 5 lessons bought at the desk with one drawn by
    their lesson in two days (written through the ledger, as the app would)."""
    packages = {}
    for key, name, lessons, minutes, price, days in PACKAGES:
        row = Package(
            tenant_id=txn.tenant_id,
            id=sid(plan.slug, "package", key),
            name=name,
            lessons=lessons,
            minutes=minutes,
            price_cents=price,
            currency="GBP",
            valid_days=days,
        )
        txn.stamp("package", row)
        packages[key] = row
    await txn.session.flush()
    student = students[1]
    payment_id = sid(plan.slug, "payment", "package", student.id)
    # Paid at the desk: a package payment names its package, not a booking.
    paid = Payment(
        tenant_id=txn.tenant_id,
        id=payment_id,
        purpose="package",
        booking_id=None,
        package_id=packages["five"].id,
        payer_user_id=student.user_id,
        student_id=student.id,
        amount_cents=packages["five"].price_cents,
        currency="GBP",
        status="succeeded",
        provider="desk",
        provider_ref=None,
        field_hlc={},
        deleted=False,
    )
    txn.stamp("payment", paid)
    await txn.session.flush()
    await invoicing.settle(txn, paid)  # its invoice, as any payment's
    await ledger.grant_package(
        txn, student_id=student.id, package_id=packages["five"].id, payment_id=payment_id
    )
    booking = await txn.session.scalar(
        select(Booking).where(Booking.id == sid(plan.slug, "booking", f"{student.id}:2"))
    )
    if booking is not None and await ledger.draw_for_booking(
        txn, student_id=student.id, booking_id=booking.id, duration_min=60
    ):
        booking.payment_status = "credit"
        txn.stamp("booking", booking)


async def _seed_guardian(
    txn: WriteTxn,
    plan: SchoolPlan,
    user: Callable[[str, str, str], str],
    wards: list[Student],
    today: dt.date,
) -> None:
    """The demo's guardian (guardian1, the demo password) following its first two
    learners, and a theory test each: one passed, one booked."""
    name = "Sarah Clarke"
    user_id = user("guardian1", name, "guardian")
    await txn.session.flush()
    guardian = Guardian(
        tenant_id=txn.tenant_id,
        id=sid(plan.slug, "guardian", "guardian1"),
        user_id=user_id,
        name=name,
        email=f"guardian1@{plan.domain}",
    )
    txn.stamp("guardian", guardian)
    await txn.session.flush()
    for n, ward in enumerate(wards):
        txn.stamp(
            "guardian_student",
            StudentGuardian(
                tenant_id=txn.tenant_id,
                id=sid(plan.slug, "guardian-link", ward.id),
                student_id=ward.id,
                guardian_id=guardian.id,
            ),
        )
        passed = n == 0
        txn.stamp(
            "test_record",
            TestRecord(
                tenant_id=txn.tenant_id,
                id=sid(plan.slug, "test", ward.id, "theory"),
                student_id=ward.id,
                kind="theory",
                date=today + dt.timedelta(days=-20 if passed else 12),
                centre="Exampleton Theory Test Centre",
                result="passed" if passed else "booked",
                score=47 if passed else None,
            ),
        )


async def _seed_lessons(
    txn: WriteTxn,
    plan: SchoolPlan,
    students: list[tuple[Student, Instructor]],
    service: Service,
    skills: list[Skill],
    rng: random.Random,
    tz: ZoneInfo,
    today: dt.date,
) -> None:
    """A week of bookings and lessons around today: past ones completed with notes,
    assessments and a trip; future ones confirmed; one request waiting for each instructor."""
    s = txn.session
    tenant_id = txn.tenant_id
    hours = [9, 11, 14, 16]
    for n, (student, inst) in enumerate(students):
        assessed: list[Assessed] = []
        for day_offset in (-6, -3, 0, 2, 5):
            day = today + dt.timedelta(days=day_offset)
            if day.weekday() == 6 and day_offset != 0:  # a lesson today, whatever the day
                day += dt.timedelta(days=1)
            hour = hours[n % 3] + (1 if day_offset > 0 else 0)
            start = dt.datetime.combine(day, dt.time(hour), tz).astimezone(dt.UTC)
            end = start + dt.timedelta(minutes=service.duration_min)
            key = f"{student.id}:{day_offset}"
            past = day_offset < 0
            booking = Booking(
                tenant_id=tenant_id,
                id=sid(plan.slug, "booking", key),
                student_id=student.id,
                instructor_id=inst.id,
                service_id=service.id,
                start=start,
                end=end,
                status="completed" if past else "confirmed",
                price_cents=service.price_cents,
                currency=service.currency,
                payment_status="paid" if past else "unpaid",
                pickup_location=student.address,
            )
            txn.stamp("booking", booking)
            await s.flush()
            if past:  # badged paid: the payment that paid it is there too (cash at the desk)
                paid = Payment(
                    tenant_id=tenant_id,
                    id=sid(plan.slug, "payment", key),
                    booking_id=booking.id,
                    student_id=student.id,
                    amount_cents=booking.price_cents,
                    currency=booking.currency,
                    status="succeeded",
                    provider="desk",
                    provider_ref=None,
                    field_hlc={},
                    deleted=False,
                )
                txn.stamp("payment", paid)
                await invoicing.settle(txn, paid)  # its invoice, as any payment's
            lesson = Lesson(
                tenant_id=tenant_id,
                id=sid(plan.slug, "lesson", key),
                booking_id=booking.id,
                instructor_id=inst.id,
                student_id=student.id,
                scheduled_start=start,
                scheduled_end=end,
                status="completed" if past else "scheduled",
                started_at=start if past else None,
                ended_at=end if past else None,
                attended=True if past else None,
            )
            txn.stamp("lesson", lesson)
            await s.flush()
            if not past:
                continue
            note = LessonNote(
                tenant_id=tenant_id,
                id=sid(plan.slug, "note", key),
                lesson_id=lesson.id,
                student_id=student.id,
                body=rng.choice(NOTES),
                private=False,
                tags=["progress"],
            )
            rev = txn.stamp("lesson_note", note)
            private = LessonNote(
                tenant_id=tenant_id,
                id=sid(plan.slug, "pnote", key),
                lesson_id=lesson.id,
                student_id=student.id,
                body="Instructor only: a little anxious on busy roads; keep "
                "routes quiet for another lesson.",
                private=True,
                tags=["private"],
            )
            prev = txn.stamp("lesson_note", private)
            await s.flush()
            s.add(NoteRevision(tenant_id=tenant_id, note_id=note.id, rev=rev, body=note.body))
            s.add(
                NoteRevision(tenant_id=tenant_id, note_id=private.id, rev=prev, body=private.body)
            )
            for skill in skills[: 6 + 2 * (day_offset + 6)]:
                level = min(5, 1 + rng.randint(0, 2) + (1 if day_offset == -3 else 0))
                row = SkillAssessment(
                    tenant_id=tenant_id,
                    id=sid(plan.slug, "assess", key, skill.code),
                    lesson_id=lesson.id,
                    student_id=student.id,
                    skill_id=skill.id,
                    level=level,
                    assessed_at=end,
                )
                arev = txn.stamp("skill_assessment", row)
                assessed.append(Assessed(skill.id, level, end, arev))
            trip = Trip(
                tenant_id=tenant_id,
                id=sid(plan.slug, "trip", key),
                lesson_id=lesson.id,
                student_id=student.id,
                instructor_id=inst.id,
                started_at=start,
                ended_at=end,
            )
            points = _route(rng, start, 120)
            seg = TripSegment(
                tenant_id=tenant_id,
                id=sid(plan.slug, "segment", key, 0),
                trip_id=trip.id,
                student_id=student.id,
                index=0,
                points=points,
            )
            trip.distance_m, trip.duration_s, trip.point_count = trip_totals([(0, points)])
            txn.stamp("trip", trip)
            await s.flush()
            txn.stamp("trip_segment", seg)
        levels, readiness = progress(assessed, [k.id for k in skills])
        prog = StudentProgress(
            tenant_id=tenant_id,
            id=sid(plan.slug, "progress", student.id),
            student_id=student.id,
            levels=levels,
            readiness_pct=readiness,
        )
        txn.stamp("student_progress", prog)
    # One request per instructor, waiting for a decision.
    seen: set[str] = set()
    for student, inst in students:
        if inst.id in seen:
            continue
        seen.add(inst.id)
        day = today + dt.timedelta(days=8)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(10), tz).astimezone(dt.UTC)
        booking = Booking(
            tenant_id=tenant_id,
            id=sid(plan.slug, "booking", student.id, "request"),
            student_id=student.id,
            instructor_id=inst.id,
            service_id=service.id,
            start=start,
            end=start + dt.timedelta(minutes=service.duration_min),
            status="requested",
            price_cents=service.price_cents,
            currency=service.currency,
            pickup_location=student.address,
        )
        txn.stamp("booking", booking)


def _route(rng: random.Random, start: dt.datetime, count: int) -> list[list[Any]]:
    """A plausible wandering route around a town centre, one point every 10 s."""
    lat, lon = 51.4545 + rng.uniform(-0.01, 0.01), -2.5879 + rng.uniform(-0.01, 0.01)
    heading_lat, heading_lon = rng.uniform(-1, 1), rng.uniform(-1, 1)
    t = int(start.timestamp() * 1000)
    out: list[list[Any]] = []
    for _ in range(count):
        heading_lat += rng.uniform(-0.3, 0.3)
        heading_lon += rng.uniform(-0.3, 0.3)
        lat += heading_lat * 0.0004
        lon += heading_lon * 0.0006
        out.append([t, round(lat, 6), round(lon, 6), round(rng.uniform(15, 50), 1), 5])
        t += 10_000
    return out
