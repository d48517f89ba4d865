"""Nothing a client sends gets a 500 (issue 9), property-based, on both databases.

Hypothesis draws what a hostile or broken client might send — arbitrary JSON, strings from
every Unicode category including lone surrogates (sent as JSON `\\udxxx` escapes, which is
how a real body carries them) and NUL, extreme numbers (1e308, -0, integers past 64 bits),
impossible dates and times (year 0, 9999-12-31T24:00, month 13, offsets that push a time
out of the calendar), deep nesting in unknown fields, and the wrong type in every field —
and sends it to the real app through push, pull and login:

- a push whose envelope is fuzzed answers 200 or a 4xx in the project's error shape;
- a poison mutation (one field of an otherwise valid write of each writable entity, or a
  fuzzed mutation envelope) between two valid neighbours: the push answers 200, the
  neighbours are applied, the poison gets a result of its own (`rejected` when it carries
  text no database can hold), and the device's next seq is accepted: one mutation never
  blocks the queue (docs/protocol.md);
- a pull with fuzzed query parameters, a login and a refresh with fuzzed bodies: never 500.

The named cases of the issue are also kept as plain parametrized tests at the end, so a
regression names itself. Example counts are small and fixed (the profile is derandomized,
tests/conftest.py); `HYPOTHESIS_PROFILE=explore` and `DRIVESYNC_NO500_EXAMPLES=500` look
further by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import urllib.parse
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from yarl import URL

from server.app import create_app
from server.keys import SETTINGS as APP_SETTINGS
from sync.rules.messaging import member_id
from tests.conftest import Templates, _make_db, _need_pg, make_settings
from tests.helpers import Device, uid

T = TypeVar("T")

EXAMPLES = int(os.environ.get("DRIVESYNC_NO500_EXAMPLES", "40"))

# Shrinking a failure replays it hundreds of times (minutes); the draws are fixed, so a
# failure replays as is, and DRIVESYNC_NO500_SHRINK=1 shrinks it by hand.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
if os.environ.get("DRIVESYNC_NO500_SHRINK") == "1":
    PHASES.append(Phase.shrink)

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=False,
    phases=PHASES,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# ---------------------------------------------------------------------------------------
# What a client might send
# ---------------------------------------------------------------------------------------

# Every Unicode category, surrogates (Cs) and controls (Cc, NUL included) too.
ANY_CHAR = st.characters(exclude_categories=())
NASTY_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "\udbff\udc00",  # a valid pair written as two escapes: one astral character
        "\u202e\u200b\ufeff",
        "\U0001d54f\U0001f600",
        "\\u0000",
        "' OR 1=1 --",
        "",
    ]
)
SHORT_TEXT = st.one_of(st.text(ANY_CHAR, max_size=40), NASTY_TEXT)
TEXT = st.one_of(SHORT_TEXT, st.just("x" * 20_001))

EXTREME_INTS = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            2**31 - 1,
            2**31,
            -(2**31) - 1,
            2**53 + 1,
            2**63 - 1,
            2**63,
            -(2**63) - 1,
            2**64,
            10**30,
            -(10**30),
        ]
    ),
    st.integers(),
)
EXTREME_FLOATS = st.one_of(
    st.sampled_from([1e308, -1e308, -0.0, 5e-324, float("inf"), float("-inf"), float("nan")]),
    st.floats(),
)
NUMBERS = st.one_of(EXTREME_INTS, EXTREME_FLOATS)

BAD_TIMESTAMPS = st.sampled_from(
    [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:30:00-01:00",  # past year 9999 once in UTC
        "9999-12-31T24:00",
        "9999-12-31T24:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-00-10T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-06-01T25:00:00Z",
        "2026-06-01T10:00:00+24:00",
        "2026-06-01T10:00:00",  # no zone
        "2026-06-01",
        "10:00",
        "+2026-06-01T10:00:00Z",
        "2026-06-01T10:00:00.123456789Z",
        "2026-06-01T10:00:00Z\x00",
        "1e308",
        "",
    ]
)
OFFSETS = st.builds(
    dt.timezone, st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59),
                               max_value=dt.timedelta(hours=23, minutes=59))
)  # fmt: skip
TIMESTAMPS = st.one_of(
    BAD_TIMESTAMPS,
    st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat()),
)
DATES = st.one_of(
    st.sampled_from(["0000-01-01", "9999-12-31", "2026-13-01", "2026-02-30", "2026-1-1", "x"]),
    st.dates().map(lambda d: d.isoformat()),
)
TIMES = st.sampled_from(
    [
        "00:00",
        "23:59",
        "24:00",
        "24:01",
        "23:60",
        "-1:00",
        "9:00",
        "09:00:00",
        "\x0009:00",
        "\u0660\u0669:\u0660\u0660",
    ]  # Arabic-Indic digits
)
UUIDISH = st.one_of(
    st.sampled_from(
        [
            "00000000-0000-0000-0000-000000000000",
            "{12345678-1234-5678-1234-567812345678}",
            "urn:uuid:12345678-1234-5678-1234-567812345678",
            "12345678123456781234567812345678",
            "12345678-1234-5678-1234-56781234567\x00",
            "12345678-1234-5678-1234-56781234567\ud800",
        ]
    ),
    st.uuids().map(str),
    TEXT,
)


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` levels deep (objects and lists in turn), written out by
    `encode` directly: the json module itself cannot write past ~1000 levels."""

    depth: int

    def text(self) -> str:
        opens = "".join('{"k":' if level % 2 == 0 else "[" for level in range(self.depth))
        closes = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(self.depth)))
        return f'{opens}"leaf"{closes}'


# Depths past what orjson writes (254 levels) or parses (1024) and past Python's own
# recursion limit are the named cases, tested below with their own marks.
DEPTHS = st.integers(min_value=1, max_value=200)

JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)

# A field's poison by what the field holds (the name says it); any JSON at all sometimes.
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "uuid": UUIDISH,
    "timestamp": TIMESTAMPS,
    "date": DATES,
    "time": TIMES,
    "text": TEXT,
    "int": NUMBERS,
    "bool": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None])),
    "points": st.lists(st.lists(st.one_of(NUMBERS, st.none()), max_size=6), max_size=4),
    "answers": st.lists(
        st.fixed_dictionaries({"question_id": UUIDISH, "chosen_option": NUMBERS}), max_size=3
    ),
    "tags": st.lists(TEXT, max_size=4),
    "enum": TEXT,
}


def kind_of(name: str) -> str:
    if name.endswith("_id"):
        return "uuid"
    if name in ("valid_from", "valid_until"):
        return "date"
    if name in ("start_time", "end_time"):
        return "time"
    if name.endswith("_at") or name in ("start", "end", "scheduled_start", "scheduled_end"):
        return "timestamp"
    if name in ("level", "chosen_option", "index", "weekday"):
        return "int"
    if name in ("private", "attended"):
        return "bool"
    if name in ("status", "mode", "kind"):
        return "enum"
    if name in ("points", "answers", "tags"):
        return name
    return "text"


def holds_unstorable_text(value: Any) -> bool:
    """Whether `value` carries text no database column can hold: NUL (PostgreSQL refuses
    it) or a lone surrogate (not UTF-8 at all)."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(holds_unstorable_text(k) or holds_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_unstorable_text(v) for v in value)
    return False


def as_received(value: Any) -> Any:
    """`value` as the server parses it from `encode(value)` (an escaped surrogate pair
    is one character again; a lone one stays lone)."""
    return json.loads(encode(value))


def encode(body: Any) -> bytes:
    """JSON as a client writes it: ASCII, other characters as `\\u` escapes, so a lone
    surrogate goes out as `\\ud800` (the only way a body carries one) and NaN/Infinity as
    literals."""
    deep: dict[str, Deep] = {}

    def mark(value: Deep) -> str:
        deep[f"@@deep{len(deep)}@@"] = value
        return f"@@deep{len(deep) - 1}@@"

    text = json.dumps(body, ensure_ascii=True, allow_nan=True, default=mark)
    for token, value in deep.items():
        text = text.replace(f'"{token}"', value.text())
    return text.encode()


# ---------------------------------------------------------------------------------------
# The school the requests go to
# ---------------------------------------------------------------------------------------


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class School:
    """Signed-in devices of the demo school and ids of records they can write to."""

    client: Any
    instructor: Device
    student: Device
    lessons: list[str]  # instructor1's lessons except `note_lesson`
    note_lesson: str  # the neighbours' notes go here; no poison targets it
    students: list[str]
    skills: list[str]
    services: list[str]
    questions: list[str]
    trip: str
    instructor_id: str
    thread: str  # student1's conversation with instructor1 (issue 13)
    kind: str = "sqlite"
    runner: asyncio.Runner | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the loop the app lives on."""
        assert self.runner is not None
        return self.runner.run(work)

    def __repr__(self) -> str:  # hypothesis prints the fixture with a failing example
        return f"School({self.client.server.app[APP_SETTINGS].database_url!r})"

    def device(self, like: Device) -> Device:
        """A new installation of `like`'s user (its own client_id and seq from 1), so every
        example starts with an empty queue whatever the last one did."""
        dev = Device(self.client, like.email)
        dev.tokens, dev.user = like.tokens, like.user
        return dev


async def _school(client: Any) -> School:
    inst = await Device(client, "instructor1@demo.test").login()
    student = await Device(client, "student1@demo.test").login()
    await inst.pull()
    await student.pull()
    now = dt.datetime.now(dt.UTC)
    lessons = sorted(
        r["id"]
        for r in inst.of("lesson").values()
        if r["instructor_id"] == inst.user["instructor_id"]
    )
    trip = uid()
    result = await inst.one("trip", trip, "put", {"lesson_id": lessons[0], "started_at": iso(now)})
    assert result["status"] == "applied", result
    thread = uid()
    opened = await student.one(
        "thread", thread, "put", {"subject": "Hi", "instructor_id": inst.user["instructor_id"]}
    )
    assert opened["status"] == "applied", opened
    return School(
        client=client,
        instructor=inst,
        student=student,
        lessons=lessons[1:],
        note_lesson=lessons[0],
        students=sorted(inst.of("student")),
        skills=sorted(inst.of("skill")),
        services=sorted(inst.of("service")),
        questions=sorted(student.of("theory_question")),
        trip=trip,
        instructor_id=inst.user["instructor_id"],
        thread=thread,
    )


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def school(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[School]:
    """One app per database for the whole module (built once: a fresh one per test would
    cost more than the tests), on a loop of its own; every example writes as a new
    installation, so examples do not depend on each other."""
    if request.param == "pg":
        _need_pg(templates)
    root = tmp_path_factory.mktemp("no500")
    runner = asyncio.Runner()
    databases = _make_db(request.param, templates, root, seeded=True)
    db = runner.run(anext(databases))

    async def start() -> School:
        client = TestClient(TestServer(create_app(make_settings(db, root))))
        await client.start_server()
        return await _school(client)

    built = runner.run(start())
    built.runner, built.kind = runner, request.param
    try:
        yield built
    finally:
        runner.run(built.client.close())
        runner.run(databases.aclose())
        runner.close()


class Pick:
    """The choices a valid write leaves open: drawn by hypothesis, or the first ones."""

    def __init__(self, draw: Any = None) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        return lo if self.draw is None else int(self.draw(st.integers(lo, hi)))

    def one(self, items: list[str]) -> str:
        return items[0] if self.draw is None else str(self.draw(st.sampled_from(items)))


def valid_write(school: School, entity: str, pick: Pick) -> tuple[str, str, str, dict[str, Any]]:
    """(who, op, id, data) of a write of `entity` the server would accept as is."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    later = now + dt.timedelta(days=pick.int(2, 60), hours=pick.int(0, 8))
    lesson = pick.one(school.lessons)
    if entity == "lesson":
        if pick.int(0, 1):
            return "instructor", "patch", lesson, {"attended": True}
        data = {
            "instructor_id": school.instructor_id,
            "student_id": pick.one(school.students),
            "scheduled_start": iso(later),
            "scheduled_end": iso(later + dt.timedelta(hours=1)),
        }
        return "instructor", "put", uid(), data
    if entity == "lesson_note":
        data = {"lesson_id": lesson, "body": "Mirrors.", "private": False, "tags": ["ok"]}
        return "instructor", "put", uid(), data
    if entity == "skill_assessment":
        data = {
            "lesson_id": lesson,
            "skill_id": pick.one(school.skills),
            "level": 3,
            "comment": "steady",
            "assessed_at": iso(now),
        }
        return "instructor", "put", uid(), data
    if entity == "trip":
        data = {"lesson_id": lesson, "started_at": iso(now), "ended_at": iso(later)}
        return "instructor", "put", uid(), data
    if entity == "trip_segment":
        t = int(now.timestamp() * 1000)
        data = {
            "trip_id": school.trip,
            "index": pick.int(0, 100_000),
            "points": [[t, 51.5, -0.12, 30.0, 5.0], [t + 1000, 51.5001, -0.1201, None, None]],
        }
        return "instructor", "put", uid(), data
    if entity == "theory_attempt":
        data = {
            "question_id": pick.one(school.questions),
            "chosen_option": 1,
            "mode": "practice",
            "answered_at": iso(now),
        }
        return "student", "put", uid(), data
    if entity == "mock_test":
        data = {
            "started_at": iso(now - dt.timedelta(minutes=20)),
            "finished_at": iso(now),
            "answers": [{"question_id": q, "chosen_option": 0} for q in school.questions[:3]],
        }
        return "student", "put", uid(), data
    if entity == "booking":
        data = {
            "instructor_id": school.instructor_id,
            "service_id": pick.one(school.services),
            "start": iso(later),
            "pickup_location": "Station",
        }
        return "student", "put", uid(), data
    if entity == "availability_exception":
        data = {
            "start": iso(later),
            "end": iso(later + dt.timedelta(hours=pick.int(1, 200))),
            "reason": "Course",
            "all_day": bool(pick.int(0, 1)),
        }
        return "instructor", "put", uid(), data
    if entity == "thread":
        data = {"subject": "Thursday", "kind": "direct", "instructor_id": school.instructor_id}
        return "student", "put", uid(), data
    if entity == "message":
        data = {"thread_id": school.thread, "body": "See you at 9", "sent_at": iso(now)}
        return pick.one(["student", "instructor"]), "put", uid(), data
    if entity == "thread_member":  # the student's own read mark, at its derived id
        data = {"thread_id": school.thread, "last_read_at": iso(now)}
        return "student", "put", member_id(school.thread, school.student.user["id"]), data
    if entity == "test_record":
        data = {
            "student_id": pick.one(school.students),
            "kind": "practical",
            "date": (later.date()).isoformat(),
            "centre": "Town",
            "result": "booked",
        }
        return "instructor", "put", uid(), data
    if entity == "lesson_signature":
        data = {
            "lesson_id": lesson,
            "signed_by": "Sam Student",
            "signed_at": iso(now),
            "strokes": [[100, 100, 20, 5, 15, -3]],
        }
        return "instructor", "put", uid(), data
    if entity == "booking_series":
        data = {
            "instructor_id": school.instructor_id,
            "service_id": pick.one(school.services),
            "first_start": iso(later),
            "every": "week",
            "count": pick.int(1, 3),
        }
        return "student", "put", uid(), data
    assert entity == "availability"
    data = {
        "weekday": pick.int(0, 6),
        "start_time": "09:00",
        "end_time": "17:00",
        "valid_from": "2026-01-01",
        "valid_until": "2027-12-31",
    }
    return "instructor", "put", uid(), data


WRITABLE = [
    "lesson",
    "lesson_note",
    "skill_assessment",
    "trip",
    "trip_segment",
    "theory_attempt",
    "mock_test",
    "booking",
    "availability",
    "availability_exception",
    "thread",  # issue 13: messaging
    "message",
    "thread_member",
    # Written by staff or students, added after issue 13: a driving test's record, a
    # lesson's sign-off (refused unless the lesson is under way or done) and a series.
    "test_record",
    "lesson_signature",
    "booking_series",
]


def unsequenced(
    dev: Device, entity: str, rid: str, op: str, data: Any = None, **extra: Any
) -> dict[str, Any]:
    """A mutation of `dev` without its seq (push_around numbers the batch)."""
    m = {"entity": entity, "id": rid, "op": op, "hlc": dev.hlc(), **extra}
    if data is not None:
        m["data"] = data
    return m


def neighbour(dev: Device, school: School) -> dict[str, Any]:
    """A mutation that applies wherever it stands: a new note (by staff) or a practice
    answer (by a student)."""
    if dev.user["role"] == "student":
        data = {
            "question_id": school.questions[0],
            "chosen_option": 0,
            "mode": "practice",
            "answered_at": iso(dt.datetime.now(dt.UTC)),
        }
        return dev.mutation("theory_attempt", uid(), "put", data)
    return dev.mutation(
        "lesson_note", uid(), "put", {"lesson_id": school.note_lesson, "body": "ok"}
    )


async def post(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else encode(body)
    resp = await client.post(
        path, data=raw, headers={"Content-Type": "application/json", **(headers or {})}
    )
    return resp, await resp.read()


def outcome(result: dict[str, Any]) -> str:
    """A result's status and code, for `--hypothesis-show-statistics`."""
    code = result.get("error", {}).get("code")
    return f"{result['status']} {code}" if code else str(result["status"])


def error_shaped(status: int, raw: bytes) -> None:
    """A 4xx in the project's error shape; never a 5xx."""
    if currently_in_test_context():
        event(f"answer {status}")
    assert status < 500, f"{status}: {raw[:500]!r}"
    if status >= 400:
        body = json.loads(raw)
        assert set(body) == {"error"}, body
        error = body["error"]
        assert isinstance(error["code"], str) and error["code"], body
        assert isinstance(error["message"], str), body
        assert isinstance(error["details"], dict), body


async def push_around(school: School, dev: Device, poison: dict[str, Any]) -> dict[str, Any]:
    """Push [neighbour, poison, neighbour] as a new installation of `dev`, then the next
    seq alone; check the queue moved on and return the poison's result."""
    first = neighbour(dev, school)
    dev.seq += 1
    poison = {**poison, "seq": dev.seq}
    last = neighbour(dev, school)
    body = {"client_id": dev.client_id, "schema_version": 1, "mutations": [first, poison, last]}
    resp, raw = await post(school.client, "/v1/sync/push", body, dev.headers)
    assert resp.status == 200, f"{resp.status}: {raw[:800]!r}"
    answer = json.loads(raw)
    by_seq = {r["seq"]: r for r in answer["results"]}
    assert set(by_seq) == {first["seq"], poison["seq"], last["seq"]}, answer
    for m in (first, last):
        assert by_seq[m["seq"]]["status"] == "applied", (by_seq[m["seq"]], answer)
    assert answer["acked_seq"] == last["seq"]
    result = by_seq[poison["seq"]]
    assert result["status"] in ("applied", "merged", "conflict", "rejected"), result
    if result["status"] == "rejected":
        assert result["error"]["code"] and isinstance(result["error"]["message"], str)
    # The device's queue is not blocked: the next seq is accepted.
    follow = await dev.push(neighbour(dev, school))
    assert follow["acked_seq"] == dev.seq and follow["results"][0]["status"] == "applied"
    return result


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), entity=st.sampled_from(WRITABLE))
def test_a_poison_field_is_rejected_alone(school: School, data: Any, entity: str) -> None:
    school.run(_a_poison_field_is_rejected_alone(school, data, entity))


async def _a_poison_field_is_rejected_alone(school: School, data: Any, entity: str) -> None:
    """One field of a valid write replaced by something hostile; sometimes an unknown field
    nested deep rides along."""
    who, op, rid, body = valid_write(school, entity, Pick(data.draw))
    from schemas.wire import WRITE_MODELS

    name = data.draw(st.sampled_from(sorted(WRITE_MODELS[entity].model_fields)), label="field")
    value = data.draw(st.one_of(KINDS[kind_of(name)], JSON), label="value")
    body = {**body, name: value}
    if data.draw(st.integers(0, 4)) == 0:
        body["zz_unknown"] = Deep(data.draw(DEPTHS, label="depth"))
    signed_in = school.instructor if who == "instructor" else school.student
    dev = school.device(signed_in)
    note(f"{entity} {op} {name}={value!r}")
    poison = unsequenced(dev, entity, rid, op, body)
    result = await push_around(school, dev, poison)
    note(f"result {result}")
    event(f"envelope: {outcome(result)}")
    event(f"{entity}: {outcome(result)}")
    if holds_unstorable_text(as_received(body)):
        assert result["status"] == "rejected", result
        assert result["error"]["code"] == "invalid", result
    if "zz_unknown" in body:
        assert result["status"] == "rejected", result
    # Whatever was stored can be pulled back (an incremental pull: this change only).
    await signed_in.pull()


@PROPERTY
@given(data=st.data())
def test_a_poison_envelope_is_rejected_alone(school: School, data: Any) -> None:
    school.run(_a_poison_envelope_is_rejected_alone(school, data))


async def _a_poison_envelope_is_rejected_alone(school: School, data: Any) -> None:
    """The mutation's own keys fuzzed: entity, id, op, hlc, base_rev, data."""
    dev = school.device(data.draw(st.sampled_from([school.instructor, school.student])))
    _, op, rid, body = valid_write(school, "lesson_note", Pick(data.draw))
    poison: dict[str, Any] = {
        "entity": "lesson_note",
        "id": rid,
        "op": op,
        "hlc": dev.hlc(),
        "data": body,
    }
    for key in data.draw(st.sets(st.sampled_from([*sorted(poison), "base_rev"]), min_size=1)):
        choices = {
            "entity": st.one_of(st.sampled_from([*WRITABLE, "student", "payment"]), TEXT, JSON),
            "id": st.one_of(UUIDISH, JSON),
            "op": st.one_of(st.sampled_from(["put", "patch", "delete"]), TEXT, JSON),
            "hlc": st.one_of(
                st.builds(
                    lambda ms, c, node: f"{ms:013d}-{c:04d}-{node}",
                    st.integers(0, 10**13 - 1),
                    st.integers(0, 9999),
                    TEXT,
                ),
                TEXT,
                JSON,
            ),
            "base_rev": st.one_of(EXTREME_INTS, JSON),
            "data": JSON,
        }[key]
        if data.draw(st.booleans(), label=f"drop {key}"):
            poison.pop(key, None)
        else:
            poison[key] = data.draw(choices, label=key)
    note(f"poison {poison!r}")
    result = await push_around(school, dev, poison)
    note(f"result {result}")
    event(f"envelope: {outcome(result)}")


ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "client_id": st.one_of(UUIDISH, JSON),
        "schema_version": st.one_of(EXTREME_INTS, JSON),
        "mutations": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"seq": st.one_of(st.integers(1, 3), EXTREME_INTS, JSON)},
                    optional={
                        "entity": st.sampled_from(WRITABLE),
                        "id": UUIDISH,
                        "op": st.sampled_from(["put", "patch", "delete"]),
                        "hlc": TEXT,
                        "data": JSON,
                    },
                ),
                max_size=3,
            ),
            JSON,
        ),
        "device": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "app_version": TEXT,
                    "platform": TEXT,
                    "pending": NUMBERS,
                    "last_pull_rev": NUMBERS,
                },
            ),
            JSON,
        ),
        "zz_unknown": JSON,
    },
)


@PROPERTY
@given(body=st.one_of(ENVELOPE, JSON))
def test_a_fuzzed_push_envelope_never_answers_500(school: School, body: Any) -> None:
    school.run(_a_fuzzed_push_envelope_never_answers_500(school, body))


async def _a_fuzzed_push_envelope_never_answers_500(school: School, body: Any) -> None:
    dev = school.device(school.instructor)
    resp, raw = await post(school.client, "/v1/sync/push", body, dev.headers)
    error_shaped(resp.status, raw)


# Short values: a request line past 8 KB is refused by aiohttp's parser before the app
# sees it (400, text/plain), which is the transport's business, not the pull's.
PULL_PARAMS = st.dictionaries(
    st.sampled_from(["cursor", "limit", "entities", "schema_version", "client_id", "x"]),
    st.one_of(
        SHORT_TEXT,
        EXTREME_INTS.map(str),
        st.sampled_from(["\u0661\u0662", "12\x00", "-1", "5001", "lesson,,x", "lesson\x00", "%"]),
    ),
    max_size=4,
)


def query(params: dict[str, str]) -> str:
    """A query string with every byte percent-encoded as sent: a lone surrogate becomes
    the (invalid UTF-8) bytes %ED%A0%80, NUL becomes %00."""
    return "&".join(
        f"{k}={urllib.parse.quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params.items()
    )


@PROPERTY
@given(params=PULL_PARAMS)
def test_a_fuzzed_pull_never_answers_500(school: School, params: dict[str, str]) -> None:
    school.run(_a_fuzzed_pull_never_answers_500(school, params))


async def _a_fuzzed_pull_never_answers_500(school: School, params: dict[str, str]) -> None:
    for dev in (school.instructor, school.student):
        url = URL(f"/v1/sync/pull?{query(params)}", encoded=True)
        resp = await school.client.get(url, headers=dev.headers)
        error_shaped(resp.status, await resp.read())


LOGIN = st.fixed_dictionaries(
    {},
    optional={
        "tenant": st.one_of(st.just("demo"), TEXT, JSON),
        "email": st.one_of(st.just("nobody@demo.test"), TEXT, JSON),
        "password": st.one_of(TEXT, JSON),
        "zz_unknown": JSON,
    },
)


@PROPERTY
@given(body=st.one_of(LOGIN, JSON), refresh=st.one_of(TEXT, JSON))
def test_fuzzed_login_and_refresh_never_answer_500(school: School, body: Any, refresh: Any) -> None:
    school.run(_fuzzed_login_and_refresh_never_answer_500(school, body, refresh))


async def _fuzzed_login_and_refresh_never_answer_500(
    school: School, body: Any, refresh: Any
) -> None:
    resp, raw = await post(school.client, "/v1/auth/login", body)
    error_shaped(resp.status, raw)
    assert resp.status != 200, raw  # no password in the draw is right
    resp, raw = await post(school.client, "/v1/auth/refresh", {"refresh_token": refresh})
    error_shaped(resp.status, raw)
    assert resp.status != 200, raw


# ---------------------------------------------------------------------------------------
# The named cases, one test each
# ---------------------------------------------------------------------------------------


# (entity, field, value)
NAMED_FIELDS: list[tuple[str, str, Any]] = [
    ("lesson", "scheduled_start", "9999-12-31T24:00"),
    ("lesson", "scheduled_start", "0000-01-01T00:00:00Z"),
    ("lesson", "scheduled_end", "9999-12-31T23:30:00-01:00"),
    ("lesson", "started_at", "0001-01-01T00:30:00+01:00"),
    ("lesson", "started_at", "2026-13-01T10:00:00Z"),
    ("lesson", "scheduled_start", "2026-06-01T10:00:00Z\x00"),  # 3.11 ignored the NUL
    ("availability", "start_time", "24:00"),
    ("availability", "end_time", "24:01"),
    ("availability", "valid_from", "0000-01-01"),
    ("availability_exception", "start", "2999-12-31T23:59:59-12:00"),
    ("availability_exception", "reason", "\x00"),
    ("lesson_note", "body", "before\x00after"),
    ("lesson_note", "body", "lone \ud800 surrogate"),
    ("lesson_note", "tags", ["\udfff"]),
    ("skill_assessment", "comment", "\x00"),
    ("skill_assessment", "level", 2**70),
    ("trip_segment", "index", -0.0),
    ("trip_segment", "points", [[1e308, 1e308, -1e308, 2**70, -0.0]]),
    ("booking", "pickup_location", "\x00"),
    ("booking", "start", "9999-12-31T23:59:59Z"),
    ("theory_attempt", "answered_at", "0001-01-01T00:00:00Z"),
    (
        "mock_test",
        "answers",
        [{"question_id": str(uuid.UUID(int=0)), "chosen_option": 2**64}],
    ),
    # NaN sends the body through the standard json parser, which keeps 2**70 an int.
    ("trip_segment", "points", [[2**70, 51.5, float("nan")]]),
    ("trip_segment", "points", [[float("-inf"), 51.5, 0.1]]),
    (
        "mock_test",
        "answers",
        [{"question_id": str(uuid.UUID(int=0)), "chosen_option": 2**70, "x": float("inf")}],
    ),
]


@pytest.mark.parametrize(("entity", "name", "value"), NAMED_FIELDS)
def test_named_poison_fields_are_rejected_alone(
    school: School, entity: str, name: str, value: Any
) -> None:
    school.run(_named_poison_fields_are_rejected_alone(school, entity, name, value))


async def _named_poison_fields_are_rejected_alone(
    school: School, entity: str, name: str, value: Any
) -> None:
    who, op, rid, body = valid_write(school, entity, Pick())
    dev = school.device(school.instructor if who == "instructor" else school.student)
    result = await push_around(
        school, dev, unsequenced(dev, entity, rid, op, {**body, name: value})
    )
    assert result["status"] == "rejected", result
    assert result["error"]["code"] == "invalid", result


def test_a_huge_base_rev_is_rejected_alone(school: School) -> None:
    school.run(_a_huge_base_rev_is_rejected_alone(school))


async def _a_huge_base_rev_is_rejected_alone(school: School) -> None:
    dev = school.device(school.instructor)
    _, op, rid, body = valid_write(school, "lesson_note", Pick())
    m = unsequenced(dev, "lesson_note", school.lessons[0], "patch", {"body": "x"}, base_rev=2**70)
    result = await push_around(school, dev, m)
    assert result["status"] == "rejected", result
    m = unsequenced(dev, "lesson_note", rid, op, body, base_rev=2**63)
    assert (await push_around(school, dev, m))["status"] == "rejected"


def test_a_base_rev_that_is_not_a_number_is_rejected_alone(school: School) -> None:
    school.run(_a_base_rev_that_is_not_a_number_is_rejected_alone(school))


async def _a_base_rev_that_is_not_a_number_is_rejected_alone(school: School) -> None:
    dev = school.device(school.instructor)
    m = unsequenced(dev, "lesson_note", school.lessons[0], "patch", {"body": "x"})
    result = await push_around(school, dev, {**m, "base_rev": {"\ud800": 1}})
    assert result["status"] == "rejected", result


@pytest.mark.parametrize("depth", [200, 260, 1000])
def test_deep_nesting_in_an_unknown_field_is_rejected_alone(school: School, depth: int) -> None:
    school.run(_deep_nesting_in_an_unknown_field_is_rejected_alone(school, depth))


async def _deep_nesting_in_an_unknown_field_is_rejected_alone(school: School, depth: int) -> None:
    dev = school.device(school.instructor)
    _, op, rid, body = valid_write(school, "lesson_note", Pick())
    m = unsequenced(dev, "lesson_note", rid, op, {**body, "zz_unknown": Deep(depth)})
    result = await push_around(school, dev, m)
    assert result["status"] == "rejected", result


def test_nesting_past_what_json_parsers_take_is_a_bad_request(school: School) -> None:
    school.run(_nesting_past_what_json_parsers_take_is_a_bad_request(school))


async def _nesting_past_what_json_parsers_take_is_a_bad_request(school: School) -> None:
    """100,000 levels: the body is refused as a whole (it is not JSON the server parses),
    in the error shape, never a 500 (RecursionError)."""
    dev = school.device(school.instructor)
    _, op, rid, body = valid_write(school, "lesson_note", Pick())
    m = {**unsequenced(dev, "lesson_note", rid, op, {**body, "zz": Deep(100_000)}), "seq": 1}
    for path, payload in (
        ("/v1/sync/push", {"client_id": dev.client_id, "mutations": [m]}),
        ("/v1/auth/login", {"tenant": "demo", "email": "a@demo.test", "password": Deep(100_000)}),
    ):
        resp, raw = await post(school.client, path, payload, dev.headers)
        error_shaped(resp.status, raw)
        assert resp.status in (400, 413, 422), raw


def test_big_numbers_in_an_unknown_field_are_rejected_alone(school: School) -> None:
    school.run(_big_numbers_in_an_unknown_field_are_rejected_alone(school))


async def _big_numbers_in_an_unknown_field_are_rejected_alone(school: School) -> None:
    """Past 64 bits a number is a Python int only when the body needed the standard json
    parser (a lone surrogate anywhere in it): the journal must still store it."""
    dev = school.device(school.instructor)
    _, op, rid, body = valid_write(school, "lesson_note", Pick())
    m = unsequenced(dev, "lesson_note", rid, op, {**body, "zz": [2**70, "\ud800", 1e308, -0.0]})
    result = await push_around(school, dev, m)
    assert result["status"] == "rejected", result


NAMED_BODIES = [
    ("/v1/auth/login", {"tenant": "de\x00mo", "email": "a@b.c", "password": "x"}),
    ("/v1/auth/login", {"tenant": "demo", "email": "a\x00@demo.test", "password": "x"}),
    ("/v1/auth/login", {"tenant": "\ud800", "email": "\udfff@x", "password": "\ud800"}),
    ("/v1/auth/login", {"tenant": "demo", "email": "x@y.z", "password": "p", "n": Deep(200)}),
    ("/v1/auth/refresh", {"refresh_token": "\x00" * 20}),
    ("/v1/auth/refresh", {"refresh_token": "\ud800" * 20}),
    ("/v1/auth/logout", {"refresh_token": "\x00" * 20}),
]


@pytest.mark.parametrize(("path", "body"), NAMED_BODIES)
def test_named_auth_bodies_are_refused_cleanly(
    school: School, path: str, body: dict[str, Any]
) -> None:
    school.run(_named_auth_bodies_are_refused_cleanly(school, path, body))


async def _named_auth_bodies_are_refused_cleanly(
    school: School, path: str, body: dict[str, Any]
) -> None:
    resp, raw = await post(school.client, path, body)
    error_shaped(resp.status, raw)
    assert resp.status in ((204, 422) if path.endswith("logout") else (401, 422, 429)), raw
