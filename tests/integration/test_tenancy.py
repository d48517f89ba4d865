"""A token of one school never reads or writes another school's data; tenant scoping is
enforced by the session, not by each query."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from schemas import Lesson, Student
from sync.tenancy import TenancyError, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def test_token_of_one_school_cannot_touch_another(client: Any) -> None:
    demo = await Device(client, "admin@demo.test").login()
    rival = await Device(client, "admin@rival.test", tenant="rival").login()
    await rival.pull()
    rival_lesson = next(iter(rival.of("lesson").values()))
    # Writing the rival's lesson id with a demo token finds nothing in demo.
    r = await demo.one("lesson", rival_lesson["id"], "patch", {"attended": False})
    assert r["status"] == "rejected" and r["error"]["code"] == "not_found"
    # A put with the same id creates nothing visible to the rival.
    r = await demo.one("lesson_note", uid(), "put", {"lesson_id": rival_lesson["id"], "body": "x"})
    assert r["error"]["code"] == "not_found"
    await rival.pull()
    assert rival.of("lesson")[rival_lesson["id"]]["attended"] == rival_lesson["attended"]
    # Admin endpoints are scoped too.
    resp = await client.post(
        f"/v1/admin/students/{rival_lesson['student_id']}/leave", headers=demo.headers
    )
    assert resp.status == 404


async def test_session_scoping_is_enforced(db: Db) -> None:
    async with db.sessions() as s:
        with pytest.raises(TenancyError):
            await s.execute(select(Lesson))
    async with db.sessions() as s:
        from schemas import Tenant

        tenants = {t.slug: t.id for t in await s.scalars(select(Tenant))}
        bind_tenant(s, tenants["rival"])
        rows = list(await s.scalars(select(Student)))
        assert rows and {r.tenant_id for r in rows} == {tenants["rival"]}
        # Even an explicit filter for another tenant returns nothing.
        assert (
            list(await s.scalars(select(Student).where(Student.tenant_id == tenants["demo"]))) == []
        )
        s.add(Student(tenant_id=tenants["demo"], id=uid(), name="Intruder"))
        with pytest.raises(TenancyError):
            await s.flush()


async def test_openapi_document_is_valid(client: Any) -> None:
    resp = await client.get("/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    assert "/v1/sync/push" in doc["paths"] and "PushRequest" in doc["components"]["schemas"]
    for path in (
        "/v1/admin/conflicts/{entry_id}/resolve",
        "/v1/payments/intents",
        "/v1/push/subscriptions",
    ):
        assert path in doc["paths"], path


async def test_overload_sheds_with_503(db: Db, tmp_path: Any, aiohttp_client: Any) -> None:
    import asyncio

    from server.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(db, tmp_path, max_inflight_requests=1))
    gate = asyncio.Event()

    async def slow(_request: Any) -> Any:
        from aiohttp import web

        await gate.wait()
        return web.json_response({})

    app.router.add_get("/slow", slow)
    client = await aiohttp_client(app)
    first = asyncio.create_task(client.get("/slow"))
    await asyncio.sleep(0.1)
    resp = await client.get("/v1/sync/info")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "overloaded"
    assert (await client.get("/healthz")).status == 200
    gate.set()
    await first
