"""The office's credit adjustments: `POST /v1/admin/students/{student_id}/credit-adjustments`
(owners and admins). Thin: validate, call sync.money.office, answer."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from schemas.response import CreditAdjustment
from schemas.wire import Storable
from server.http import parse, read_json, reply, require_admin
from server.keys import SYNC
from server.params import path_id
from sync.money.office import adjust_credit

routes = web.RouteTableDef()


class CreditAdjustmentBody(BaseModel):
    """Lessons or minutes to grant (+) or take (-), and/or money the student owes (+) or is
    credited (-), with the reason. Bounded: a slip of the keyboard cannot create a
    fortune."""

    model_config = ConfigDict(extra="forbid", strict=True)

    lessons: Annotated[int, Field(ge=-1000, le=1000)] = 0
    minutes: Annotated[int, Field(ge=-100_000, le=100_000)] = 0
    amount_cents: Annotated[int, Field(ge=-10_000_000, le=10_000_000)] = 0
    note: Annotated[str, Field(min_length=1, max_length=500), Storable]


@routes.post("/v1/admin/students/{student_id}/credit-adjustments")
async def credit_adjustment(request: web.Request) -> web.Response:
    who = require_admin(request)
    body = parse(CreditAdjustmentBody, await read_json(request, 16_384))
    student_id = path_id(request.match_info, "student_id", "student")
    result = await adjust_credit(
        request.app[SYNC].store,
        who,
        student_id,
        lessons=body.lessons,
        minutes=body.minutes,
        amount_cents=body.amount_cents,
        note=body.note,
    )
    return reply(request, CreditAdjustment, result, 201)
