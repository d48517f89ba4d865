"""Admins word the school's notifications: list, save (checked), revert, preview with
sample data, and a test email to themselves. Thin: the rules are in
workers/notifications/template_admin.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from schemas.wire import Storable
from server.http import json_response, parse, read_json, require_admin
from server.keys import SYNC
from sync.errors import NotFound
from workers.notifications import template_admin
from workers.notifications.template_admin import Draft

routes = web.RouteTableDef()

TemplateChannel = Literal["email", "webpush", "sms", "whatsapp"]
Subject = Annotated[str, Field(max_length=template_admin.MAX_SUBJECT), Storable]
Body = Annotated[str, Field(max_length=template_admin.MAX_BODY), Storable]


class TemplateBody(BaseModel):
    """A school's wording of one kind on one channel (Jinja2, sandboxed)."""

    model_config = ConfigDict(extra="forbid")
    subject: Subject | None = None
    body_text: Body
    body_html: Body | None = None


class PreviewBody(BaseModel):
    """What to preview: a draft (checked, not saved), or with no `body_text` what the school
    sends now (its own template, else the built-in one)."""

    model_config = ConfigDict(extra="forbid")
    channel: TemplateChannel = "email"
    subject: Subject | None = None
    body_text: Body | None = None
    body_html: Body | None = None


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in template_admin.KINDS:
        raise NotFound(f"no kind of notification called {kind!r}", {"field": "kind"})
    return kind


def _channel(request: web.Request, kind: str) -> str:
    channel = request.match_info["channel"]
    if channel not in template_admin.channels_of(kind):
        raise NotFound(f"{kind} has no {channel!r} wording", {"field": "channel"})
    return channel


@routes.get("/v1/admin/notification-templates")
async def list_templates(request: web.Request) -> web.Response:
    who = require_admin(request)
    return json_response(await template_admin.listing(request.app[SYNC].store, who))


@routes.put("/v1/admin/notification-templates/{kind}/channels/{channel}")
async def put_template(request: web.Request) -> web.Response:
    who = require_admin(request)
    kind = _kind(request)
    channel = _channel(request, kind)
    body = parse(TemplateBody, await read_json(request, 128 * 1024))
    draft = Draft(body.subject, body.body_text, body.body_html)
    saved = await template_admin.save(request.app[SYNC].store, who, kind, channel, draft)
    return json_response(saved)


@routes.delete("/v1/admin/notification-templates/{kind}/channels/{channel}")
async def delete_template(request: web.Request) -> web.Response:
    who = require_admin(request)
    kind = _kind(request)
    channel = _channel(request, kind)
    await template_admin.revert(request.app[SYNC].store, who, kind, channel)
    return web.Response(status=204)


@routes.post("/v1/admin/notification-templates/{kind}/preview")
async def preview_template(request: web.Request) -> web.Response:
    who = require_admin(request)
    kind = _kind(request)
    raw: Any = await read_json(request, 128 * 1024) if request.can_read_body else {}
    body = parse(PreviewBody, raw)
    draft = None
    if body.body_text is not None:
        draft = Draft(body.subject, body.body_text, body.body_html)
    result = await template_admin.preview(request.app[SYNC].store, who, kind, body.channel, draft)
    return json_response(result)


@routes.post("/v1/admin/notification-templates/{kind}/test")
async def test_template(request: web.Request) -> web.Response:
    who = require_admin(request)
    kind = _kind(request)
    queued = await template_admin.queue_test(request.app[SYNC].store, who, kind)
    from server.routes.effects import DISPATCHER

    dispatcher = request.app.get(DISPATCHER)
    if dispatcher is not None:
        dispatcher.wake()
    return json_response(queued, status=202)
