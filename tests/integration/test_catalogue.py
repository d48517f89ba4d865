"""The catalogue through the sync protocol (issue 11): admins write services, rate cards,
skills and theory questions by pushing mutations; bookings snapshot the most specific
rate card valid on their day in the school's timezone; retired records stay readable.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from schemas import Tenant
from server.app import create_app
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def client(db: Db, tmp_path: Any, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(make_settings(db, tmp_path)))


def _code(result: dict[str, Any]) -> tuple[str, str | None]:
    assert result["status"] == "rejected", result
    error = result["error"]
    return error["code"], error["details"].get("field")


def _weekday(days: int, tz: ZoneInfo = LONDON) -> dt.date:
    day = dt.datetime.now(tz).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _at(day: dt.date, hour: int, minute: int = 0, tz: ZoneInfo = LONDON) -> str:
    local = dt.datetime.combine(day, dt.time(hour, minute), tz)
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def _people(client: Any) -> tuple[Device, Device, Device]:
    admin = await Device(client, "admin@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    return admin, inst, st


async def _service(admin: Device, **extra: Any) -> str:
    sid = uid()
    data = {"name": "Night driving", "duration_min": 60, "price_cents": 4000, **extra}
    r = await admin.one("service", sid, "put", data)
    assert r["status"] == "applied", r
    return sid


async def _book(st: Device, instructor_id: str, service_id: str, start: str) -> dict[str, Any]:
    r = await st.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": instructor_id, "service_id": service_id, "start": start},
    )
    assert r["status"] == "applied", r
    record: dict[str, Any] = r["record"]
    return record


async def test_admin_writes_and_retires_a_service(client: Any) -> None:
    admin, inst, st = await _people(client)
    sid = await _service(admin)
    await st.pull()
    service = st.of("service")[sid]
    # The school's currency fills a service's left-out currency; kind and active default.
    assert (service["currency"], service["kind"], service["active"]) == ("GBP", "lesson", True)
    edit = await admin.one("service", sid, "patch", {"price_cents": 4500, "duration_min": 90})
    assert edit["status"] == "applied", edit
    await st.pull()
    assert (st.of("service")[sid]["price_cents"], st.of("service")[sid]["duration_min"]) == (
        4500,
        90,
    )
    booking = await _book(st, inst.user["instructor_id"], sid, _at(_weekday(20), 10))
    assert (booking["price_cents"], booking["currency"]) == (4500, "GBP")
    assert _code(await admin.one("service", sid, "delete")) == ("invalid", "op")
    assert (await admin.one("service", sid, "patch", {"active": False}))["status"] == "applied"
    refused = await st.one(
        "booking",
        uid(),
        "put",
        {
            "instructor_id": inst.user["instructor_id"],
            "service_id": sid,
            "start": _at(_weekday(21), 10),
        },
    )
    assert _code(refused) == ("not_found", "service_id")
    await st.pull()
    assert st.of("service")[sid]["active"] is False  # retired, still readable


async def test_validation_codes(client: Any) -> None:
    admin, inst, _st = await _people(client)
    iid = inst.user["instructor_id"]
    sid = await _service(admin)
    bad_services = [
        ({"name": "x", "duration_min": 0, "price_cents": 1}, ("invalid", "duration_min")),
        ({"name": "x", "duration_min": 60, "price_cents": -1}, ("invalid", "price_cents")),
        (
            {"name": "x", "duration_min": 60, "price_cents": 1, "currency": "gbp"},
            ("invalid", "currency"),
        ),
        ({"name": "", "duration_min": 60, "price_cents": 1}, ("invalid", "name")),
        ({"name": "x", "duration_min": 60, "price_cents": 1, "kind": "party"}, ("invalid", "kind")),
        ({"duration_min": 60, "price_cents": 1}, ("invalid", "name")),
    ]
    for data, expected in bad_services:
        assert _code(await admin.one("service", uid(), "put", data)) == expected, data
    bad_cards = [
        (
            {
                "service_id": sid,
                "price_cents": 1,
                "valid_from": "2027-02-01",
                "valid_until": "2027-01-31",
            },
            ("invalid_period", "valid_until"),
        ),
        ({"service_id": uid(), "price_cents": 1}, ("not_found", "service_id")),
        (
            {"service_id": sid, "instructor_id": uid(), "price_cents": 1},
            ("not_found", "instructor_id"),
        ),
        ({"price_cents": 1}, ("invalid", "service_id")),
        (
            {"service_id": sid, "price_cents": 1, "valid_from": "2027-13-01"},
            ("invalid", "valid_from"),
        ),
    ]
    for data, expected in bad_cards:
        assert _code(await admin.one("rate_card", uid(), "put", data)) == expected, data
    # A card may run a single day (until == from).
    one_day = {
        "service_id": sid,
        "price_cents": 1,
        "valid_from": "2027-01-05",
        "valid_until": "2027-01-05",
    }
    assert (await admin.one("rate_card", uid(), "put", one_day))["status"] == "applied"
    # Skills: unique code, stage 1..5; questions: the correct option must be an option.
    skill = uid()
    ok = await admin.one("skill", skill, "put", {"code": "night", "name": "Night", "stage": 4})
    assert ok["status"] == "applied", ok
    dup = await admin.one("skill", uid(), "put", {"code": "night", "name": "Again", "stage": 4})
    assert _code(dup) == ("code_taken", "code")
    assert dup["error"]["details"]["skill_id"] == skill
    assert _code(
        await admin.one("skill", uid(), "put", {"code": "x", "name": "X", "stage": 6})
    ) == ("invalid", "stage")
    assert _code(await admin.one("skill", skill, "delete")) == ("invalid", "op")
    q = {"topic": "alertness", "question": "Q?", "options": ["a", "b"], "correct_option": 2}
    assert _code(await admin.one("theory_question", uid(), "put", q)) == (
        "invalid",
        "correct_option",
    )
    assert _code(await admin.one("theory_question", uid(), "put", {**q, "options": ["only"]})) == (
        "invalid",
        "options",
    )
    qid = uid()
    made = await admin.one("theory_question", qid, "put", {**q, "options": ["a", "b", "c"]})
    assert made["status"] == "applied", made
    # A patch cannot leave the correct option outside the options either.
    assert _code(await admin.one("theory_question", qid, "patch", {"options": ["a", "b"]})) == (
        "invalid",
        "correct_option",
    )
    assert _code(
        await admin.one(
            "rate_card",
            uid(),
            "put",
            {"service_id": sid, "instructor_id": iid, "price_cents": 1, "rev": 3},
        )
    ) == ("read_only_field", "rev")


async def test_overlapping_cards_are_refused(client: Any) -> None:
    admin, inst, _st = await _people(client)
    iid = inst.user["instructor_id"]
    sid = await _service(admin)
    jan = {
        "service_id": sid,
        "instructor_id": iid,
        "price_cents": 5000,
        "valid_from": "2027-01-01",
        "valid_until": "2027-01-31",
    }
    first = uid()
    assert (await admin.one("rate_card", first, "put", jan))["status"] == "applied"
    # The same instructor, a period sharing 31 January: refused, naming the other card.
    clash = await admin.one(
        "rate_card", uid(), "put", {**jan, "valid_from": "2027-01-31", "valid_until": None}
    )
    assert _code(clash) == ("overlap", "valid_from")
    assert clash["error"]["details"]["rate_card_id"] == first
    # An open start overlaps too; the day after does not; the school default does not
    # compete with an instructor's card.
    assert (
        _code(
            await admin.one(
                "rate_card", uid(), "put", {**jan, "valid_from": None, "valid_until": "2027-01-01"}
            )
        )[0]
        == "overlap"
    )
    feb = uid()
    after = {**jan, "valid_from": "2027-02-01", "valid_until": None}
    assert (await admin.one("rate_card", feb, "put", after))["status"] == "applied"
    default = {**jan, "instructor_id": None, "valid_from": None, "valid_until": None}
    assert (await admin.one("rate_card", uid(), "put", default))["status"] == "applied"
    # Two overlapping cards in one push: the second sees the first.
    two = await admin.push(
        admin.mutation(
            "rate_card",
            uid(),
            "put",
            {**jan, "valid_from": "2026-06-01", "valid_until": "2026-06-30"},
        ),
        admin.mutation(
            "rate_card",
            uid(),
            "put",
            {**jan, "valid_from": "2026-06-15", "valid_until": "2026-07-15"},
        ),
    )
    assert [r["status"] for r in two["results"]] == ["applied", "rejected"]
    assert two["results"][1]["error"]["code"] == "overlap"
    # A patch moving a card onto another's days is refused; a deleted card frees its days.
    assert (
        _code(await admin.one("rate_card", feb, "patch", {"valid_from": "2027-01-15"}))[0]
        == "overlap"
    )
    assert (await admin.one("rate_card", first, "delete"))["status"] == "applied"
    moved = await admin.one("rate_card", feb, "patch", {"valid_from": "2027-01-15"})
    assert moved["status"] == "applied", moved


async def test_price_precedence(client: Any) -> None:
    admin, inst, st = await _people(client)
    iid = inst.user["instructor_id"]
    sid = await _service(admin, price_cents=4000)
    plain = await _service(admin, price_cents=3900, currency="EUR")
    inside, outside = _weekday(20), _weekday(27)
    cards = [
        {"service_id": sid, "instructor_id": None, "price_cents": 5000},
        {
            "service_id": sid,
            "instructor_id": iid,
            "price_cents": 6000,
            "currency": "EUR",
            "valid_from": inside.isoformat(),
            "valid_until": inside.isoformat(),
        },
    ]
    for card in cards:
        assert (await admin.one("rate_card", uid(), "put", card))["status"] == "applied"
    await st.pull()
    held = [c for c in st.of("rate_card").values() if c["service_id"] == sid]
    # The student's replica holds the cards (catalogue), currency filled from the service.
    assert sorted((c["price_cents"], c["currency"]) for c in held) == [
        (5000, "GBP"),
        (6000, "EUR"),
    ]
    mine = await _book(st, iid, sid, _at(inside, 10))
    assert (mine["price_cents"], mine["currency"]) == (6000, "EUR")  # the instructor's card
    school = await _book(st, iid, sid, _at(outside, 10))
    assert (school["price_cents"], school["currency"]) == (5000, "GBP")  # the school default
    own = await _book(st, iid, plain, _at(outside, 14))
    assert (own["price_cents"], own["currency"]) == (3900, "EUR")  # the service's own price


async def test_price_takes_the_schools_day_not_the_utc_date(client: Any, db: Db) -> None:
    """00:30 in Auckland is 11:30 UTC the day before: the card valid on the school's day
    prices the booking (the UTC date found no card and took the service's price)."""
    auckland = ZoneInfo("Pacific/Auckland")
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(Tenant).where(Tenant.slug == "demo").values(timezone=auckland.key))
    admin, inst, st = await _people(client)
    iid = inst.user["instructor_id"]
    day = _weekday(20, auckland)
    slot = await inst.one(
        "availability",
        uid(),
        "put",
        {"weekday": day.weekday(), "start_time": "00:00", "end_time": "02:00"},
    )
    assert slot["status"] == "applied", slot
    sid = await _service(admin, price_cents=4000)
    card = {
        "service_id": sid,
        "price_cents": 7700,
        "valid_from": day.isoformat(),
        "valid_until": day.isoformat(),
    }
    assert (await admin.one("rate_card", uid(), "put", card))["status"] == "applied"
    start = _at(day, 0, 30, auckland)
    assert dt.datetime.fromisoformat(start).date() == day - dt.timedelta(days=1)  # UTC date
    booking = await _book(st, iid, sid, start)
    assert booking["price_cents"] == 7700


async def test_retired_question_stays_readable_and_scored(client: Any) -> None:
    admin, _inst, st = await _people(client)
    qid = uid()
    q = {
        "topic": "alertness",
        "question": "Before turning right you should?",
        "options": ["Check the mirrors", "Sound the horn"],
        "correct_option": 0,
        "explanation": "Mirrors first.",
    }
    assert (await admin.one("theory_question", qid, "put", q))["status"] == "applied"
    await st.pull()
    assert st.of("theory_question")[qid]["active"] is True
    # Answered offline while the question was offered...
    answered = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    early = st.hlc(int(answered.timestamp() * 1000))
    first = uid()
    attempt = {
        "question_id": qid,
        "chosen_option": 0,
        "mode": "practice",
        "answered_at": answered.isoformat().replace("+00:00", "Z"),
    }
    # ...then the admin edits the correct answer and retires the question...
    edit = await admin.one("theory_question", qid, "patch", {"correct_option": 1})
    assert edit["status"] == "applied"
    retire = await admin.one("theory_question", qid, "patch", {"active": False})
    assert retire["status"] == "applied"
    assert _code(await admin.one("theory_question", qid, "delete")) == ("invalid", "op")
    # ...and the attempt, pushed later, is still accepted and scored against the bank.
    late = await st.one("theory_attempt", first, "put", attempt, hlc=early)
    assert late["status"] == "applied", late
    await st.pull()
    assert st.of("theory_question")[qid]["active"] is False  # still in the replica
    assert st.of("theory_attempt")[first]["correct"] is False  # the bank says 1 now
    # Editing the question back never rescores the stored attempt.
    assert (await admin.one("theory_question", qid, "patch", {"correct_option": 0}))[
        "status"
    ] == "applied"
    before = st.of("theory_attempt")[first]
    await st.pull()
    assert st.of("theory_attempt")[first] == before


@pytest.mark.parametrize("email", ["student1@demo.test", "instructor1@demo.test"])
async def test_only_admins_write_the_catalogue(client: Any, email: str) -> None:
    admin = await Device(client, "admin@demo.test").login()
    sid = await _service(admin)
    someone = await Device(client, email).login()
    writes = [
        ("service", uid(), {"name": "Free", "duration_min": 60, "price_cents": 0}),
        ("service", sid, {"price_cents": 1}),
        ("rate_card", uid(), {"service_id": sid, "price_cents": 1}),
        ("skill", uid(), {"code": "mine", "name": "Mine", "stage": 1}),
        (
            "theory_question",
            uid(),
            {"topic": "t", "question": "q", "options": ["a", "b"], "correct_option": 0},
        ),
    ]
    for entity, rid, data in writes:
        r = await someone.one(entity, rid, "put" if rid != sid else "patch", data)
        assert r["error"]["code"] == "forbidden", (entity, r)
    await admin.pull()
    assert admin.of("service")[sid]["price_cents"] == 4000
