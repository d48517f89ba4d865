"""The admin REST API: assignments, students leaving, the journal (conflicts, rejections,
lost fields) with resolve and replay, and devices' sync health. Owners and admins only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.response import (
    AssignResult,
    AuditPage,
    DeviceList,
    JournalEntryBody,
    JournalPage,
    LeaveResult,
    MoneyReportPage,
    ReplayResult,
    ResolveResult,
    SchoolSettings,
)
from schemas.wire import Storable, Uuid
from server.http import parse, read_json, reply, require_admin
from server.keys import SYNC
from server.params import int_param, path_id, text_param, uuid_param
from sync import money_reports
from sync.admin import JOURNAL_KINDS, JOURNAL_STATUSES
from sync.audit_log import MAX_PAGE, AuditQuery
from sync.errors import Invalid

routes = web.RouteTableDef()


# Free text stored as sent: a note's body (new lines and tabs are fine).
Text = Annotated[str, Storable]


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructor_ids: Annotated[list[Uuid], Field(min_length=1, max_length=20)]
    primary: Uuid | None = None


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: Annotated[str, Field(max_length=20)]
    text: Annotated[Text, Field(max_length=20_000)] | None = None


class SchoolBody(BaseModel):
    """School settings an admin may change; send only those to change."""

    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[Text, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] | None
    ) = None
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] | None = None
    brand_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    logo_url: (
        Annotated[Text, Field(max_length=500, pattern=r"^https://[^\x00-\x20\x7f]+$")] | None
    ) = None
    pass_mark: Annotated[int, Field(ge=1, le=500)] | None = None
    pass_total: Annotated[int, Field(ge=1, le=500)] | None = None
    platform_fee_bps: Annotated[int, Field(ge=0, le=10_000)] | None = None
    # Cancellation policy: up to 30 days' notice; a fee up to 100,000.00 in school currency.
    cancel_cutoff_hours: Annotated[int, Field(ge=0, le=720)] | None = None
    late_fee_cents: Annotated[int, Field(ge=0, le=10_000_000)] | None = None

    @field_validator(
        "name",
        "locale",
        "pass_mark",
        "pass_total",
        "platform_fee_bps",
        "cancel_cutoff_hours",
        "late_fee_cents",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out means unchanged; an explicit null would clear a field that must be set.
        if value is None:
            raise ValueError("cannot be null")
        return value


@routes.get("/v1/admin/school")
async def school(request: web.Request) -> web.Response:
    who = require_admin(request)
    return reply(request, SchoolSettings, await request.app[SYNC].admin.school(who))


@routes.patch("/v1/admin/school")
async def update_school(request: web.Request) -> web.Response:
    who = require_admin(request)
    body = parse(SchoolBody, await read_json(request, 16_384))
    result = await request.app[SYNC].admin.update_school(who, body.model_dump(exclude_unset=True))
    return reply(request, SchoolSettings, result)


@routes.put("/v1/admin/students/{student_id}/instructors")
async def assign(request: web.Request) -> web.Response:
    who = require_admin(request)
    body = parse(AssignBody, await read_json(request))
    student_id = path_id(request.match_info, "student_id", "student")
    result = await request.app[SYNC].admin.assign(
        who, student_id, body.instructor_ids, body.primary
    )
    return reply(request, AssignResult, result)


@routes.post("/v1/admin/students/{student_id}/leave")
async def leave(request: web.Request) -> web.Response:
    who = require_admin(request)
    student_id = path_id(request.match_info, "student_id", "student")
    result = await request.app[SYNC].admin.student_leaves(who, student_id)
    return reply(request, LeaveResult, result)


def _status(request: web.Request, default: str | None) -> str | None:
    """The journal's `status` filter: absent → `default`, empty → every status."""
    if "status" not in request.query:
        return default
    return text_param(request.query, "status", choices=JOURNAL_STATUSES)


@routes.get("/v1/admin/journal")
async def journal(request: web.Request) -> web.Response:
    who = require_admin(request)
    kind = text_param(request.query, "kind", choices=JOURNAL_KINDS)
    limit = int_param(request.query, "limit", 100, 1, 500)
    result = await request.app[SYNC].admin.journal(who, kind, _status(request, None), limit)
    return reply(request, JournalPage, result)


@routes.get("/v1/admin/conflicts")
async def conflicts(request: web.Request) -> web.Response:
    who = require_admin(request)
    result = await request.app[SYNC].admin.journal(who, "conflict", _status(request, "open"))
    return reply(request, JournalPage, result)


@routes.get("/v1/admin/rejections")
async def rejections(request: web.Request) -> web.Response:
    who = require_admin(request)
    result = await request.app[SYNC].admin.journal(who, "rejected", _status(request, "open"))
    return reply(request, JournalPage, result)


@routes.get("/v1/admin/journal/{entry_id}")
async def entry(request: web.Request) -> web.Response:
    who = require_admin(request)
    entry_id = path_id(request.match_info, "entry_id", "journal entry")
    result = await request.app[SYNC].admin.entry(who, entry_id)
    return reply(request, JournalEntryBody, result)


@routes.post("/v1/admin/conflicts/{entry_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    who = require_admin(request)
    entry_id = path_id(request.match_info, "entry_id", "journal entry")
    body = parse(ResolveBody, await read_json(request))
    result = await request.app[SYNC].admin.resolve(who, entry_id, body.keep, body.text)
    return reply(request, ResolveResult, result)


@routes.post("/v1/admin/rejections/{entry_id}/replay")
async def replay(request: web.Request) -> web.Response:
    who = require_admin(request)
    entry_id = path_id(request.match_info, "entry_id", "journal entry")
    result = await request.app[SYNC].admin.replay(who, entry_id)
    return reply(request, ReplayResult, result)


@routes.get("/v1/admin/devices")
async def devices(request: web.Request) -> web.Response:
    who = require_admin(request)
    return reply(request, DeviceList, await request.app[SYNC].admin.devices(who))


def _day(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name} must be a date, YYYY-MM-DD", {"field": name}) from None


@routes.get("/v1/admin/audit")
async def audit(request: web.Request) -> web.Response:
    who = require_admin(request)
    query = AuditQuery(
        user_id=uuid_param(request.query, "user_id"),
        entity=text_param(request.query, "entity", max_length=32),
        record_id=text_param(request.query, "record_id", max_length=100),
        since=_day(request, "since"),
        until=_day(request, "until"),
        limit=int_param(request.query, "limit", 50, 1, MAX_PAGE),
        before=text_param(request.query, "before", max_length=400),
    )
    return reply(request, AuditPage, await request.app[SYNC].admin.audit(who, query))


def _money_query(request: web.Request) -> money_reports.MoneyQuery:
    kind = request.match_info["kind"]
    report = money_reports.report_of(kind)
    return money_reports.MoneyQuery(
        kind=kind,
        since=_day(request, "since"),
        until=_day(request, "until"),
        status=text_param(request.query, "status", choices=report.statuses, max_length=32),
        student_id=uuid_param(request.query, "student_id"),
        instructor_id=uuid_param(request.query, "instructor_id"),
        limit=int_param(request.query, "limit", 50, 1, money_reports.MAX_PAGE),
        before=text_param(request.query, "before", max_length=400),
    )


@routes.get("/v1/admin/money/{kind}")
async def money(request: web.Request) -> web.Response:
    """A page of payments, refunds or payouts, filtered; `?format=csv` downloads every
    matching row instead."""
    who = require_admin(request)
    query = _money_query(request)
    fmt = text_param(request.query, "format", choices=("json", "csv"), max_length=8)
    if fmt != "csv":
        return reply(request, MoneyReportPage, await request.app[SYNC].admin.money(who, query))
    text = await request.app[SYNC].admin.money_csv(who, query)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{query.kind}-{stamp}.csv"',
            "Cache-Control": "private, no-store",
        },
    )
