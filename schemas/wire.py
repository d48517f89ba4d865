"""Pydantic wire models: what a client may send for each synced entity (`*Write`, every
field optional so the same model checks puts and patches) and what it receives (`*Record`),
the request envelopes and the token answer. The other response bodies (push, pull, info,
checksum, admin, errors) are in schemas/response.py, built on `Outgoing` below.

Field names and meanings follow ../shared/design/PROTOCOL.md ("Fields every client can rely
on"). Validation is strict: a string where a number belongs, an unknown field or a 1 MB string
is an `invalid` mutation that names the field, never a silent coercion.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.json_schema import SkipJsonSchema

SCHEMA_VERSION = 1


def _uuid(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError("must be a UUID string") from exc
    return str(parsed)


# Times and dates a client may write: far from the calendar's edges (years 1 and 9999),
# where converting to UTC or to the school's timezone, or adding a lesson's length,
# overflows (Python raises OverflowError, not a validation error). No driving school
# schedules outside these years.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _in_years(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")


def _iso_text(value: str) -> bool:
    """Printable ASCII only: Python 3.11's `fromisoformat` ignores a trailing NUL, and what
    it accepts is wider than what the wire promises."""
    return value.isascii() and value.isprintable()


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40 and _iso_text(value):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be an ISO 8601 timestamp") from exc
    else:
        raise ValueError("must be an ISO 8601 timestamp string")
    if parsed.tzinfo is None:
        raise ValueError("must carry a timezone (use Z for UTC)")
    _in_years(parsed.year)  # before the conversion, which overflows at the edges
    utc = parsed.astimezone(dt.UTC)
    _in_years(utc.year)
    return utc


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and len(value) == 10 and _iso_text(value):
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("must be a date YYYY-MM-DD") from exc
    else:
        raise ValueError("must be a date YYYY-MM-DD")
    _in_years(parsed.year)
    return parsed


def check_storable(value: str) -> str:
    """Text a database can hold: PostgreSQL refuses NUL in text and JSON, and a lone
    surrogate (a body may carry one as a `\\ud800` escape) is not UTF-8 at all. Refused
    on both databases alike, so a write means the same on either."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain lone surrogates (U+D800 to U+DFFF)") from None
    return value


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be a time HH:MM")
    return value


# An address a mail server will take: one @, a dot in the domain, no spaces or controls.
# (Deliverability is the invitation's business; this keeps obvious typos out.)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _email(value: str) -> str:
    # Kept as written (a client holds what it sent); the sign-in made for it is lowercase.
    if not value.isprintable() or not _EMAIL.match(value):
        raise ValueError("must be an email address such as name@example.com")
    return value


def _finite(value: float) -> float:
    if math.isnan(value) or math.isinf(value):
        raise ValueError("must be a finite number")
    return value


Uuid = Annotated[str, Field(strict=True, max_length=36), AfterValidator(_uuid)]
Utc = Annotated[dt.datetime, BeforeValidator(_utc)]
Day = Annotated[dt.date, BeforeValidator(_date)]
HhMm = Annotated[str, Field(strict=True), AfterValidator(_hhmm)]


# Client text: strict strings of bounded length that a database can hold.
Storable = AfterValidator(check_storable)
ShortText = Annotated[str, Field(strict=True, max_length=200), Storable]
LongText = Annotated[str, Field(strict=True, max_length=20_000), Storable]
Comment = Annotated[str, Field(strict=True, max_length=2000), Storable]
Place = Annotated[str, Field(strict=True, max_length=500), Storable]
Tag = Annotated[str, Field(strict=True, min_length=1, max_length=40), Storable]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=200), Storable]
Email = Annotated[str, Field(strict=True, max_length=320), Storable, AfterValidator(_email)]
Phone = Annotated[str, Field(strict=True, max_length=32), Storable]
Licence = Annotated[str, Field(strict=True, max_length=32), Storable]
Level = Annotated[int, Field(strict=True, ge=1, le=5)]
Option = Annotated[int, Field(strict=True, ge=0, le=9)]
# An integer any column and JSON encoder takes (a body parsed by the standard json module,
# as one with a lone surrogate is, keeps integers past 64 bits).
Int64 = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
# A GPS point [t_ms, lat, lon, speed_kmh?, accuracy_m?]; checked in depth by sync.core.geo.
GpsPoint = Annotated[list[float | Int64 | None], Field(min_length=3, max_length=5)]

LessonStatus = Literal["scheduled", "in_progress", "completed", "no_show", "cancelled"]
BookingStatus = Literal["requested", "confirmed", "declined", "cancelled", "completed"]
PayWith = Literal["card", "credit"]


# A key the server leaves out rather than sending null: `rev: int | Omitted = None` is "an
# integer, or no `rev` key at all" (the published schema says integer, not required).
Omitted = SkipJsonSchema[None]


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """Drop the `"default": null` pydantic writes for `Omitted` keys: null is not one of
    their values, the key is simply absent."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and not _nullable(prop):
            del prop["default"]


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(p.get("type") == "null" for p in prop.get("anyOf", []))


class Outgoing(BaseModel):
    """A body (or part of one) the server sends. It names every key that goes out: an
    undeclared key fails validation (and the contract test), so the published schemas and
    the wire cannot drift apart. Optional keys are `Omitted` (left out, never null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_null_defaults)


class _Write(BaseModel):
    """Client-writable fields: unknown fields are rejected, nothing is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Record(Outgoing):
    """A record as every client receives it: exactly these fields (sync.core.entities builds
    records from the model's field list, so a new field is declared here first)."""

    id: str
    rev: int
    updated_at: dt.datetime


# --- lesson -------------------------------------------------------------------------------
class LessonWrite(_Write):
    instructor_id: Uuid | None = None
    student_id: Uuid | None = None
    scheduled_start: Utc | None = None
    scheduled_end: Utc | None = None
    status: LessonStatus | None = None
    started_at: Utc | None = None
    ended_at: Utc | None = None
    attended: bool | None = None


class LessonRecord(_Record):
    booking_id: str | None
    instructor_id: str
    student_id: str
    scheduled_start: dt.datetime
    scheduled_end: dt.datetime
    status: LessonStatus
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    attended: bool | None


# --- lesson_note --------------------------------------------------------------------------
class LessonNoteWrite(_Write):
    lesson_id: Uuid | None = None
    body: LongText | None = None
    private: bool | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None


class LessonNoteRecord(_Record):
    lesson_id: str
    student_id: str
    body: str
    private: bool
    tags: list[str]


# --- skill_assessment ---------------------------------------------------------------------
class SkillAssessmentWrite(_Write):
    lesson_id: Uuid | None = None
    student_id: Uuid | None = None
    skill_id: Uuid | None = None
    level: Level | None = None
    comment: Comment | None = None
    assessed_at: Utc | None = None


class SkillAssessmentRecord(_Record):
    lesson_id: str
    student_id: str
    skill_id: str
    level: int
    comment: str | None
    assessed_at: dt.datetime


# --- lesson_signature ---------------------------------------------------------------------
# A stroke: its first point absolute, then each point as a delta from the one before, as a
# flat list [x0, y0, dx1, dy1, …] in a 0..1000 box (sync.core.signature checks it in depth:
# rejection code `invalid_strokes`). No strokes at all is a typed-name confirmation.
Stroke = Annotated[list[Int64], Field(max_length=2000)]


class LessonSignatureWrite(_Write):
    lesson_id: Uuid | None = None
    signed_by: Name | None = None
    signed_at: Utc | None = None
    strokes: Annotated[list[Stroke], Field(max_length=64)] | None = None


class LessonSignatureRecord(_Record):
    lesson_id: str
    student_id: str = Field(description="The signer: the lesson's student.")
    signed_by: str = Field(description="The name typed for the signer.")
    captured_by: str | None = Field(description="The user whose device captured it.")
    signed_at: dt.datetime
    strokes: list[list[int]]


# --- student_progress (derived) -----------------------------------------------------------
class StudentProgressRecord(_Record):
    student_id: str
    levels: dict[str, int]
    readiness_pct: int


# --- trip ---------------------------------------------------------------------------------
class TripWrite(_Write):
    lesson_id: Uuid | None = None
    started_at: Utc | None = None
    ended_at: Utc | None = None


class TripRecord(_Record):
    lesson_id: str
    student_id: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    distance_m: float
    duration_s: int


class CompactTrack(Outgoing):
    """A segment's points in the compact form (schema_version 2; sync.core.track): integer
    columns, `t` in ms, `lat`/`lon` in 1e-6 degree, `spd` in km/h, `acc` in metres. Each
    column holds its first value, then differences (`t`, `spd`, `acc`) or second
    differences (`lat`, `lon`); see docs/protocol.md, "GPS tracks"."""

    v: Literal[1]
    t: Annotated[list[int], Field(min_length=1, max_length=500)]
    lat: Annotated[list[int], Field(min_length=1, max_length=500)]
    lon: Annotated[list[int], Field(min_length=1, max_length=500)]
    spd: Annotated[list[int | None], Field(min_length=1, max_length=500)] | Omitted = None
    acc: Annotated[list[int | None], Field(min_length=1, max_length=500)] | Omitted = None


ListPoints = Annotated[list[GpsPoint], Field(min_length=1, max_length=500)]


def _points_kind(value: Any) -> Any:
    """Route `points` by its form. Only the kind and size are checked here: the points
    themselves are checked in depth by the trip rule (sync.core.geo / sync.core.track),
    whose errors name the exact place (`points[3]`, `points.lat[3]`)."""
    if isinstance(value, list):
        if not 1 <= len(value) <= 500:
            raise ValueError("must hold 1 to 500 points")
        return value
    if isinstance(value, dict):
        return value
    raise ValueError("must be a list of points or a compact track object")


def _points_schema() -> dict[str, Any]:
    compact = CompactTrack.model_json_schema(mode="validation")
    compact.pop("title", None)
    _no_null_defaults(compact)
    listed = TypeAdapter(ListPoints).json_schema()
    return {"oneOf": [listed, compact]}


# Either form during the deprecation window of the list form (any schema_version).
SegmentPoints = Annotated[Any, BeforeValidator(_points_kind), WithJsonSchema(_points_schema())]


class TripSegmentWrite(_Write):
    trip_id: Uuid | None = None
    index: Annotated[int, Field(strict=True, ge=0, le=100_000)] | None = None
    points: SegmentPoints | None = None


class TripSegmentRecord(_Record):
    trip_id: str
    index: int
    # List form for schema_version 1 readers, compact for 2 (sync.records.VERSIONED).
    points: list[list[float | int | None]] | CompactTrack


class RouteSegment(Outgoing):
    """One live segment of a trip's route, its points in the compact form."""

    id: str
    index: int
    rev: int
    points: CompactTrack


class TripRoute(Outgoing):
    """`GET /v1/trips/{trip_id}/route`: a trip's live segments by index (docs/protocol.md,
    "GPS tracks"). `rev` and `updated_at` are the trip record's: a route cached by a client
    is current while its trip record has that rev."""

    trip_id: str
    rev: int
    updated_at: dt.datetime
    segments: list[RouteSegment]


# --- theory -------------------------------------------------------------------------------
class TheoryQuestionRecord(_Record):
    topic: str
    question: str
    options: list[str]
    correct_option: int
    explanation: str
    active: bool


class TheoryAttemptWrite(_Write):
    question_id: Uuid | None = None
    chosen_option: Option | None = None
    mode: Literal["practice", "mock"] | None = None
    mock_test_id: Uuid | None = None
    answered_at: Utc | None = None


class TheoryAttemptRecord(_Record):
    student_id: str
    question_id: str
    chosen_option: int | None
    mode: Literal["practice", "mock"]
    mock_test_id: str | None
    answered_at: dt.datetime
    correct: bool


class MockAnswer(_Write):
    question_id: Uuid
    chosen_option: Option | None = None


class MockTestWrite(_Write):
    started_at: Utc | None = None
    finished_at: Utc | None = None
    answers: Annotated[list[MockAnswer], Field(min_length=1, max_length=200)] | None = None


class MockTestRecord(_Record):
    student_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    answers: list[dict[str, Any]]
    total: int
    score: int
    passed: bool


# --- booking and availability -------------------------------------------------------------
class BookingWrite(_Write):
    student_id: Uuid | None = None
    instructor_id: Uuid | None = None
    service_id: Uuid | None = None
    start: Utc | None = None
    end: Utc | None = None
    status: BookingStatus | None = None
    pickup_location: Place | None = None
    # How a new booking is paid: by card (later, in the app or at the desk) or from the
    # student's credit, drawn when the booking is made (sync.rules.booking_credit).
    pay_with: PayWith | None = None


class BookingRecord(_Record):
    student_id: str
    instructor_id: str
    service_id: str
    start: dt.datetime
    end: dt.datetime
    status: BookingStatus
    pickup_location: str | None
    price_cents: int
    currency: str
    payment_status: str
    series_id: str | None
    cancelled_at: dt.datetime | None = Field(
        description="When the cancellation was made (its clamped HLC time)."
    )
    cancelled_by: str | None = Field(description="Role of who cancelled.")
    late_fee_cents: int | None = Field(
        description="Fee owed for a late cancellation, in `currency` cents."
    )


SeriesEvery = Literal["week", "2weeks"]
SeriesStatus = Literal["requested", "confirmed", "declined", "cancelled"]


class BookingSeriesWrite(_Write):
    """Recurring lessons: `first_start`, then every week or two weeks, `count` times or
    until a date (one of the two). Later patches may change `status` (the series at once),
    shorten `until` ("this and following" cancelled) or the pick-up place."""

    student_id: Uuid | None = None
    instructor_id: Uuid | None = None
    service_id: Uuid | None = None
    first_start: Utc | None = None
    every: SeriesEvery | None = None
    count: Annotated[int, Field(strict=True, ge=1, le=52)] | None = None
    until: Day | None = None
    pickup_location: Place | None = None
    status: SeriesStatus | None = None
    pay_with: PayWith | None = None  # credit: each occurrence draws its own, or is refused


class BookingSeriesRecord(_Record):
    student_id: str
    instructor_id: str
    service_id: str
    first_start: dt.datetime
    every: SeriesEvery
    count: int | None
    until: dt.date | None
    pickup_location: str | None
    status: SeriesStatus
    # One per date of the series: {start, end, booking_id, refused, reason}; `booking_id` is
    # null and `refused` the code (`overlap`, `unavailable`, `in_past`) where none was made.
    occurrences: list[dict[str, Any]]


MoveStatus = Literal["requested", "accepted", "declined", "withdrawn"]


class BookingMoveWrite(_Write):
    """A request to move a booking (`status: requested`, by its student or staff), then
    `accepted` / `declined` by the instructor or an admin, or `withdrawn` by its asker."""

    booking_id: Uuid | None = None
    start: Utc | None = None
    end: Utc | None = None
    status: MoveStatus | None = None
    note: Comment | None = None


class BookingMoveRecord(_Record):
    booking_id: str
    student_id: str
    instructor_id: str
    start: dt.datetime
    end: dt.datetime
    status: MoveStatus
    note: str | None
    requested_by: str
    decided_by: str | None
    decided_at: dt.datetime | None


class BookingHistoryRecord(_Record):
    """One change of a booking (server-written; admins only)."""

    booking_id: str
    student_id: str
    instructor_id: str
    at: dt.datetime
    user_id: str | None
    role: str
    change: str
    field: str | None
    from_value: str | None
    to_value: str | None


class AvailabilityWrite(_Write):
    instructor_id: Uuid | None = None
    weekday: Annotated[int, Field(strict=True, ge=0, le=6)] | None = None
    start_time: HhMm | None = None
    end_time: HhMm | None = None
    valid_from: Day | None = None
    valid_until: Day | None = None


class AvailabilityRecord(_Record):
    instructor_id: str
    weekday: int
    start_time: str
    end_time: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    timezone: str


class AvailabilityExceptionWrite(_Write):
    """Time off: a holiday, a sick day, blocked hours. `all_day` widens [start, end) to the
    whole local days (school timezone) it touches."""

    instructor_id: Uuid | None = None
    start: Utc | None = None
    end: Utc | None = None
    reason: ShortText | None = None
    all_day: bool | None = None


class AvailabilityExceptionRecord(_Record):
    instructor_id: str
    start: dt.datetime
    end: dt.datetime
    reason: str | None = Field(
        default=None,
        description="Staff only (EntitySpec.staff_only): absent from records sent to "
        "students and guardians.",
    )
    all_day: bool


# --- people (written by admins) ------------------------------------------------------------
class StudentWrite(_Write):
    """What an admin writes of a student. `active: false` is the student leaving the
    school (their records leave every replica); it is not undone."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    licence_number: Licence | None = None
    date_of_birth: Day | None = None
    theory_test_date: Day | None = None
    practical_test_date: Day | None = None
    goals: Comment | None = None
    active: bool | None = None


class StudentRecord(_Record):
    user_id: str | None
    name: str
    email: str | None
    phone: str | None
    licence_number: str | None
    date_of_birth: dt.date | None
    theory_test_date: dt.date | None
    practical_test_date: dt.date | None
    goals: str | None
    active: bool
    instructor_ids: list[str]


class InstructorWrite(_Write):
    """What an admin writes of an instructor. `active: false` ends their assignments and
    signs them out."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    adi_number: Licence | None = None
    specialties: Annotated[list[Tag], Field(max_length=20)] | None = None
    active: bool | None = None


class InstructorRecord(_Record):
    user_id: str | None
    name: str
    email: str | None
    phone: str | None
    adi_number: str | None
    specialties: list[str]
    active: bool
    # Stripe Connect (staff only: never in a student's or guardian's copy).
    payouts_enabled: bool = False
    connect_status: str = "none"


class StudentInstructorWrite(_Write):
    """An assignment of a student to an instructor (admins). The pair cannot change:
    delete the assignment and create another."""

    student_id: Uuid | None = None
    instructor_id: Uuid | None = None
    is_primary: bool | None = None


class StudentInstructorRecord(_Record):
    student_id: str
    instructor_id: str
    is_primary: bool


class GuardianWrite(_Write):
    """What an admin writes of a guardian (a parent or carer). One with an email gets a
    sign-in with the role guardian and an invitation to set a password."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class GuardianRecord(_Record):
    user_id: str | None
    name: str
    email: str | None
    phone: str | None


class GuardianStudentWrite(_Write):
    """A guardian following a learner (admins). The pair cannot change: delete the link
    and create another."""

    guardian_id: Uuid | None = None
    student_id: Uuid | None = None


class GuardianStudentRecord(_Record):
    guardian_id: str
    student_id: str


# --- driving tests (written by staff) -------------------------------------------------------
TestKind = Literal["theory", "practical"]
TestResult = Literal["booked", "passed", "failed"]
Count = Annotated[int, Field(strict=True, ge=0, le=1000)]


class TestRecordWrite(_Write):
    """A theory or practical test of a student: `date` is the local day (school's
    timezone), `time` its optional local start. `score` belongs to a theory test, `faults`
    to a practical one, and either only once it has a result."""

    __test__ = False  # not a pytest class

    student_id: Uuid | None = None
    kind: TestKind | None = None
    date: Day | None = None
    time: HhMm | None = None
    centre: ShortText | None = None
    result: TestResult | None = None
    score: Count | None = None
    faults: Count | None = None
    notes: Comment | None = None


class TestRecordRecord(_Record):
    __test__ = False

    student_id: str
    kind: TestKind
    date: dt.date
    time: str | None
    centre: str | None
    result: TestResult
    score: int | None
    faults: int | None
    notes: str | None


# --- catalogue (written by admins) -------------------------------------------------------
# An ISO 4217 code as the school writes it: three capital letters.
Currency = Annotated[str, Field(strict=True, pattern=r"^[A-Z]{3}$")]
Cents = Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
Position = Annotated[int, Field(strict=True, ge=0, le=100_000)]


class ServiceWrite(_Write):
    """What an admin writes of a service. Services are retired (`active: false`), never
    deleted: bookings name them; a retired one can no longer be booked."""

    name: Name | None = None
    kind: Literal["lesson", "mock_test"] | None = None
    duration_min: Annotated[int, Field(strict=True, ge=1, le=1440)] | None = None
    price_cents: Cents | None = None
    currency: Currency | None = None
    active: bool | None = None


class ServiceRecord(_Record):
    name: str
    kind: str
    duration_min: int
    price_cents: int
    currency: str
    active: bool


class RateCardWrite(_Write):
    """A price for a service, for one instructor (or the school's default with
    `instructor_id` null), valid from/until a date in the school's timezone (inclusive;
    null is open-ended). Two cards of the same service and instructor may not overlap."""

    service_id: Uuid | None = None
    instructor_id: Uuid | None = None
    price_cents: Cents | None = None
    currency: Currency | None = None
    valid_from: Day | None = None
    valid_until: Day | None = None


class RateCardRecord(_Record):
    service_id: str
    instructor_id: str | None
    price_cents: int
    currency: str
    valid_from: dt.date | None
    valid_until: dt.date | None


class SkillWrite(_Write):
    """A skill of the catalogue. Retired (`active: false`), never deleted: assessments
    name it."""

    code: Annotated[str, Field(strict=True, min_length=1, max_length=64), Storable] | None = None
    name: Name | None = None
    stage: Annotated[int, Field(strict=True, ge=1, le=5)] | None = None
    position: Position | None = None
    active: bool | None = None


class SkillRecord(_Record):
    code: str
    name: str
    stage: int
    position: int
    active: bool


class TheoryQuestionWrite(_Write):
    """A question of the school's theory bank. Retired (`active: false`), never deleted:
    attempts and mock tests name it, and keep showing it."""

    topic: Annotated[str, Field(strict=True, min_length=1, max_length=64), Storable] | None = None
    question: Annotated[str, Field(strict=True, min_length=1, max_length=2000), Storable] | None = (
        None
    )
    options: Annotated[list[ShortText], Field(min_length=2, max_length=10)] | None = None
    correct_option: Option | None = None
    explanation: Comment | None = None
    active: bool | None = None


# --- messaging ----------------------------------------------------------------------------
ThreadKind = Literal["direct", "lesson"]
# Wider than the accepted length (schemas.threads.MESSAGE_MAX_CHARS, refused by the rule as
# `message_too_long` with the limit in its details): a too-long message gets that code.
MessageBody = Annotated[str, Field(strict=True, min_length=1, max_length=20_000), Storable]


class ThreadWrite(_Write):
    """A conversation between one student or guardian (`party_user_id`; null: staff only)
    and one instructor (`instructor_id`; null: the office). A student or guardian opening one
    is its party (left out, it is filled in); an instructor is its instructor. The two keys,
    `kind`, `lesson_id` and `student_id` never change after creation (`party_immutable`)."""

    subject: ShortText | None = None
    kind: ThreadKind | None = None
    lesson_id: Uuid | None = None
    party_user_id: Uuid | None = None
    instructor_id: Uuid | None = None
    student_id: Uuid | None = None


class ThreadRecord(_Record):
    subject: str
    kind: ThreadKind
    lesson_id: str | None
    party_user_id: str | None
    party_role: str | None = Field(description="student or guardian; null for staff only")
    instructor_id: str | None
    student_id: str | None
    created_by: str | None


class ThreadMemberWrite(_Write):
    """A member's read mark: written by that member only (`user_id` is theirs, filled in),
    with the id `uuid5(thread_id + ":" + user_id)` in the namespace of
    sync.rules.messaging.MEMBER_NS. An older `last_read_at` than the stored one is ignored."""

    thread_id: Uuid | None = None
    user_id: Uuid | None = None
    last_read_at: Utc | None = None


class ThreadMemberRecord(_Record):
    thread_id: str
    user_id: str
    last_read_at: dt.datetime | None
    party_user_id: str | None
    instructor_id: str | None


class MessageWrite(_Write):
    """A message (append-only), up to 4,000 characters (`message_too_long` beyond)."""

    thread_id: Uuid | None = None
    body: MessageBody | None = None
    sent_at: Utc | None = None


class MessageRecord(_Record):
    thread_id: str
    body: str
    sent_at: dt.datetime
    received_at: dt.datetime = Field(
        description="When the server took it: read marks compare with this"
    )
    author_id: str
    author_role: str
    author_name: str
    party_user_id: str | None
    instructor_id: str | None


# --- read-only replicas -------------------------------------------------------------------
class PaymentRecord(_Record):
    student_id: str = Field(description="The student it paid for (a guardian may pay).")
    booking_id: str | None  # None for a package or balance payment
    amount_cents: int
    currency: str
    status: str
    purpose: Literal["booking", "package", "balance"] = Field(
        description="What the payment is for: a booking, a package or an outstanding balance."
    )
    package_id: str | None = Field(description="The package bought (purpose 'package').")
    payer_user_id: str | None = Field(
        description="Who paid in the app: the student's or a guardian's user id."
    )


class PackageWrite(_Write):
    """A package of lessons (or of minutes: exactly one of the two) sold for a price and
    valid for `valid_days` from its purchase. Retired (`active: false`), never deleted."""

    name: Name | None = None
    lessons: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = None
    minutes: Annotated[int, Field(strict=True, ge=1, le=100_000)] | None = None
    price_cents: Cents | None = None
    currency: Currency | None = None
    valid_days: Annotated[int, Field(strict=True, ge=1, le=3660)] | None = None
    active: bool | None = None


class PackageRecord(_Record):
    name: str
    lessons: int | None
    minutes: int | None
    price_cents: int
    currency: str
    valid_days: int
    active: bool


CreditKind = Literal["purchase", "booking", "refund", "expiry", "adjustment", "fee", "payment"]


class CreditEntryRecord(_Record):
    """One line of a student's credit ledger (server-written, never edited)."""

    student_id: str
    kind: CreditKind
    lessons: int = Field(description="Signed lesson credits (0 for money only).")
    minutes: int = Field(description="Signed minute credits.")
    amount_cents: int = Field(description="Signed money: + owed by the student, - paid.")
    currency: str
    booking_id: str | None
    payment_id: str | None
    package_id: str | None
    refund_id: str | None
    source_id: str | None = Field(description="The purchase or adjustment drawn from.")
    expires_at: dt.datetime | None
    note: str | None
    created_at: dt.datetime


class StudentBalanceRecord(_Record):
    """The sums of a student's ledger (id = student_id)."""

    student_id: str
    lessons_left: int
    minutes_left: int
    owed_cents: int
    currency: str
    next_expiry: dt.datetime | None


class InvoiceLine(Outgoing):
    """One line of an invoice: a credit note's lines are negative."""

    description: str
    quantity: int
    unit_cents: int
    amount_cents: int


class InvoiceRecord(_Record):
    """An invoice or credit note (server-issued, immutable but for `status`); the PDF is at
    `GET /v1/invoices/{id}.pdf`."""

    number: str
    kind: str
    student_id: str
    payer_user_id: str | None
    payment_id: str
    refund_id: str | None
    credits_invoice_id: str | None
    issued_at: dt.datetime
    currency: str
    lines: list[InvoiceLine]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    status: str
    school_name: str
    school_address: str | None
    bill_to_name: str
    payer_name: str | None
    payment_reference: str


class PayoutRecord(_Record):
    """An instructor's share of one lesson (read by that instructor and admins)."""

    instructor_id: str
    booking_id: str
    payment_id: str | None
    gross_cents: int
    fee_cents: int
    net_cents: int
    currency: str
    status: str
    lesson_start: dt.datetime | None
    transfer_status: str | None
    transfer_ref: str | None
    reversed_cents: int
    paid_out_at: dt.datetime | None
    created_at: dt.datetime


# --- the notification centre ---------------------------------------------------------------
class InboxItemWrite(_Write):
    """Its owner marks it read (the only field a client writes; a read item stays read)."""

    read_at: Utc | None = None


class InboxItemRecord(_Record):
    """One notification the user was sent (server-written; its owner alone reads it)."""

    user_id: str
    kind: str
    title: str
    body: str
    link: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None


WRITE_MODELS: dict[str, type[_Write]] = {
    "lesson": LessonWrite,
    "lesson_note": LessonNoteWrite,
    "skill_assessment": SkillAssessmentWrite,
    "lesson_signature": LessonSignatureWrite,
    "trip": TripWrite,
    "trip_segment": TripSegmentWrite,
    "theory_attempt": TheoryAttemptWrite,
    "mock_test": MockTestWrite,
    "booking": BookingWrite,
    "booking_series": BookingSeriesWrite,
    "booking_move": BookingMoveWrite,
    "availability": AvailabilityWrite,
    "availability_exception": AvailabilityExceptionWrite,
    "student": StudentWrite,
    "instructor": InstructorWrite,
    "student_instructor": StudentInstructorWrite,
    "guardian": GuardianWrite,
    "guardian_student": GuardianStudentWrite,
    "test_record": TestRecordWrite,
    "service": ServiceWrite,
    "rate_card": RateCardWrite,
    "package": PackageWrite,
    "skill": SkillWrite,
    "theory_question": TheoryQuestionWrite,
    "thread": ThreadWrite,
    "thread_member": ThreadMemberWrite,
    "message": MessageWrite,
    "inbox_item": InboxItemWrite,
}

RECORD_MODELS: dict[str, type[_Record]] = {
    "lesson": LessonRecord,
    "lesson_note": LessonNoteRecord,
    "skill_assessment": SkillAssessmentRecord,
    "lesson_signature": LessonSignatureRecord,
    "student_progress": StudentProgressRecord,
    "trip": TripRecord,
    "trip_segment": TripSegmentRecord,
    "theory_question": TheoryQuestionRecord,
    "theory_attempt": TheoryAttemptRecord,
    "mock_test": MockTestRecord,
    "booking": BookingRecord,
    "booking_series": BookingSeriesRecord,
    "booking_move": BookingMoveRecord,
    "booking_history": BookingHistoryRecord,
    "availability": AvailabilityRecord,
    "availability_exception": AvailabilityExceptionRecord,
    "student": StudentRecord,
    "instructor": InstructorRecord,
    "student_instructor": StudentInstructorRecord,
    "guardian": GuardianRecord,
    "guardian_student": GuardianStudentRecord,
    "test_record": TestRecordRecord,
    "skill": SkillRecord,
    "service": ServiceRecord,
    "rate_card": RateCardRecord,
    "payment": PaymentRecord,
    "package": PackageRecord,
    "credit_entry": CreditEntryRecord,
    "student_balance": StudentBalanceRecord,
    "invoice": InvoiceRecord,
    "payout": PayoutRecord,
    "thread": ThreadRecord,
    "thread_member": ThreadMemberRecord,
    "message": MessageRecord,
    "inbox_item": InboxItemRecord,
}

# ----- envelopes -------------------------------------------------------------------------


class DeviceInfo(BaseModel):
    """Sync health a client reports with its pushes."""

    model_config = ConfigDict(extra="ignore")

    app_version: Annotated[str, Field(max_length=64)] | None = None
    pending: Annotated[int, Field(ge=0)] | None = None
    last_pull_rev: Annotated[int, Field(ge=0)] | None = None
    platform: Annotated[str, Field(max_length=64)] | None = None


class Mutation(BaseModel):
    """One mutation as sent. Only `seq` is checked here (it orders the batch); the rest is
    checked per mutation by the engine, so one bad mutation is rejected alone."""

    model_config = ConfigDict(extra="ignore")

    seq: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]
    entity: Any = None
    id: Any = None
    op: Any = None
    base_rev: Any = None
    hlc: Any = None
    data: Any = None


class PushRequest(BaseModel):
    """`POST /v1/sync/push` body."""

    model_config = ConfigDict(extra="ignore")

    client_id: Uuid
    schema_version: Annotated[int, Field(strict=True, ge=1)] = SCHEMA_VERSION
    mutations: Annotated[list[Mutation], Field(max_length=500)]
    device: DeviceInfo | None = None


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: Annotated[str, Field(min_length=1, max_length=63), Storable]
    email: Annotated[str, Field(min_length=3, max_length=320), Storable]
    password: Annotated[str, Field(min_length=1, max_length=1024), Storable]


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=10, max_length=512), Storable]


class UserInfo(Outgoing):
    id: str
    role: str
    tenant_id: str
    name: str | Omitted = Field(default=None, description="Sent on sign-in, not on refresh.")
    email: str | Omitted = Field(default=None, description="Sent on sign-in, not on refresh.")
    student_id: str | Omitted = Field(default=None, description="When the user is a student.")
    instructor_id: str | Omitted = Field(
        default=None, description="When the user is an instructor."
    )


class SchoolInfo(Outgoing):
    """What a client needs of its school to work offline (mock-test pass mark, timezone,
    currency, branding); sent with every token pair so a change reaches devices within one
    access-token lifetime."""

    slug: str
    name: str
    timezone: str
    currency: str
    locale: str
    brand_color: str | None
    logo_url: str | None
    pass_mark: int = Field(description="Correct answers needed out of pass_total (43 of 50).")
    pass_total: int
    cancel_cutoff_hours: int = Field(
        description="A student's cancellation of a confirmed lesson later than this many hours "
        "before its start is late."
    )
    late_fee_cents: int = Field(description="Fee for a late cancellation (school currency).")


class TokenResponse(Outgoing):
    """`POST /v1/auth/login` and `/v1/auth/refresh` answer."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    user: UserInfo
    school: SchoolInfo


# Request bodies with a published schema (validation mode: what the server accepts). The
# response bodies are listed in schemas.response.RESPONSE_MODELS.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "push_request": PushRequest,
    "login_request": LoginRequest,
}
