"""Admin endpoints and the pull's query parameters take malformed input without a 500:
non-ASCII digits in an integer (Python's int() reads '١٢' as 12), NUL in a path id or a text
filter (PostgreSQL refuses NUL; SQLite took it), ids that are not UUIDs, lone surrogates in
JSON bodies. Every answer is a 4xx in the project's error shape with a stable code, on both
databases."""

from __future__ import annotations

from typing import Any

from tests.helpers import Device, uid

ARABIC_12 = "%D9%A1%D9%A2"  # '١٢': int() reads 12
SQUARED = "1%C2%B2"  # '1²': str.isdigit() says yes, int() raises
NUL = "%00"
BAD_IDS = (NUL, f"{uid()}{NUL}", "x", "%D9%A1", uid().replace("-", ""), f"{{{uid()}}}")

# (method, path template, JSON body or None); {id} takes each bad id.
ID_ROUTES = (
    ("put", "/v1/admin/students/{id}/instructors", {"instructor_ids": [uid()]}),
    ("post", "/v1/admin/students/{id}/leave", None),
    ("get", "/v1/admin/journal/{id}", None),
    ("post", "/v1/admin/conflicts/{id}/resolve", {"keep": "server"}),
    ("post", "/v1/admin/rejections/{id}/replay", None),
    ("post", "/v1/admin/payments/{id}/refund", {}),
    ("post", "/v1/admin/notifications/{id}/retry", None),
)

# (path, the query parameter named in details.field)
QUERY_CASES = (
    (f"/v1/admin/journal?limit={ARABIC_12}", "limit"),
    (f"/v1/admin/journal?limit={SQUARED}", "limit"),
    ("/v1/admin/journal?limit=%2B12", "limit"),
    ("/v1/admin/journal?limit=1_0", "limit"),
    ("/v1/admin/journal?limit=0", "limit"),
    ("/v1/admin/journal?limit=99999999999999999999999", "limit"),
    (f"/v1/admin/journal?kind=conflict{NUL}", "kind"),
    (f"/v1/admin/journal?status={NUL}", "status"),
    ("/v1/admin/journal?status=opened", "status"),
    (f"/v1/admin/conflicts?status=open{NUL}", "status"),
    (f"/v1/admin/rejections?status={NUL}open", "status"),
    (f"/v1/admin/notifications?limit={ARABIC_12}", "limit"),
    (f"/v1/admin/notifications?limit={SQUARED}", "limit"),
    (f"/v1/admin/notifications?status={NUL}", "status"),
    (f"/v1/admin/notifications?event_type=booking{NUL}", "event_type"),
    (f"/v1/admin/notifications?outbox_id={NUL}", "outbox_id"),
    (f"/v1/sync/pull?limit={ARABIC_12}", "limit"),
    ("/v1/sync/pull?limit=%2010", "limit"),
    (f"/v1/sync/pull?limit={SQUARED}", "limit"),
    (f"/v1/sync/pull?schema_version={ARABIC_12}", "schema_version"),
    ("/v1/sync/pull?schema_version=0", "schema_version"),
    (f"/v1/sync/pull?client_id={NUL}", "client_id"),
    (f"/v1/sync/pull?client_id={{{uid()}}}", "client_id"),
    (f"/v1/sync/pull?entities=lesson{NUL}", "entities"),
    (f"/v1/sync/pull?cursor=abc{NUL}.def", "cursor"),
    (f"/v1/sync/checksum?cursor=abc{NUL}.def", "cursor"),
    (f"/v1/sync/checksum?entities=lesson{NUL}", "entities"),
)

# (method, path, JSON text, field): bodies whose text a database cannot hold.
BODY_CASES = (
    ("patch", "/v1/admin/school", '{"name": "Driving\\u0000School"}', "name"),
    ("patch", "/v1/admin/school", '{"name": "Driving \\ud800 School"}', "name"),
    ("patch", "/v1/admin/school", '{"logo_url": "https://x.test/\\u0000.png"}', "logo_url"),
    ("patch", "/v1/admin/school", '{"logo_url": "https://x.test/\\udfff.png"}', "logo_url"),
    ("post", "/v1/admin/conflicts/{entry}/resolve", '{"keep": "text", "text": "a\\u0000"}', "text"),
    ("post", "/v1/admin/conflicts/{entry}/resolve", '{"keep": "text", "text": "\\udc00"}', "text"),
)


def _assert_error(resp_status: int, body: Any, statuses: set[int], code: str, where: str) -> None:
    assert resp_status in statuses, f"{where}: {resp_status} {body}"
    assert set(body) == {"error"}, where
    assert set(body["error"]) == {"code", "message", "details"}, where
    assert body["error"]["code"] == code, f"{where}: {body}"


async def test_bad_ids_are_404_not_500(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    for method, template, body in ID_ROUTES:
        for bad in BAD_IDS:
            path = template.replace("{id}", bad)
            resp = await client.request(method, path, json=body, headers=admin.headers)
            _assert_error(resp.status, await resp.json(), {404}, "not_found", f"{method} {path}")


async def test_bad_query_parameters_are_422_not_500(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    for path, field in QUERY_CASES:
        resp = await client.get(path, headers=admin.headers)
        body = await resp.json()
        _assert_error(resp.status, body, {422}, "invalid", path)
        assert body["error"]["details"]["field"] == field, path


async def test_text_a_database_cannot_hold_is_422(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    before = await (await client.get("/v1/admin/school", headers=admin.headers)).json()
    entry = uid()
    for method, path, text, field in BODY_CASES:
        headers = {**admin.headers, "Content-Type": "application/json"}
        resp = await client.request(method, path.format(entry=entry), data=text, headers=headers)
        body = await resp.json()
        _assert_error(resp.status, body, {422}, "invalid", f"{path} {text}")
        assert body["error"]["details"]["field"] == field, text
    after = await (await client.get("/v1/admin/school", headers=admin.headers)).json()
    assert after == before  # nothing was half-written


async def test_well_formed_values_still_work(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    page = await client.get("/v1/admin/journal?limit=5&kind=&status=open", headers=admin.headers)
    assert page.status == 200, await page.text()
    assert len((await page.json())["entries"]) <= 5
    missing = await client.get(f"/v1/admin/journal/{uid().upper()}", headers=admin.headers)
    assert missing.status == 404
    # Endpoints without parameters ignore unknown ones, whatever they hold.
    for path in ("/v1/admin/school", "/v1/admin/devices"):
        junk = await client.get(f"{path}?limit={ARABIC_12}&id={NUL}", headers=admin.headers)
        assert junk.status == 200, path
    pull = await client.get(
        f"/v1/sync/pull?limit=10&schema_version=1&entities=lesson&client_id={uid()}",
        headers=admin.headers,
    )
    assert pull.status == 200 and len((await pull.json())["changes"]) == 10
    school = await client.patch(
        "/v1/admin/school", json={"name": "Fahrschule Ökul\tNord"}, headers=admin.headers
    )
    assert school.status == 422  # a tab is not part of a school's name
    renamed = await client.patch(
        "/v1/admin/school", json={"name": "Fahrschule Ökul 北"}, headers=admin.headers
    )
    assert renamed.status == 200 and (await renamed.json())["name"] == "Fahrschule Ökul 北"
