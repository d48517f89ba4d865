"""Compact GPS segments end to end, on both databases: pushed in either form, totals derived
from either, pulled in the list form by schema_version 1 and in the compact form by 2,
refused in depth with the field named, and a trip's route fetched on its own
(`GET /v1/trips/{trip_id}/route`, scope-checked like a pull)."""

from __future__ import annotations

import math
from typing import Any

from sync.core.derive import trip_totals
from sync.core.track import decode, encode
from tests.helpers import Device, uid

T0 = 1_893_492_000_000


def drive(n: int, start: int, lat0: float = 51.5) -> list[list[Any]]:
    """n fixes a second apart heading north at about 13 m/s, with speed and accuracy (whole
    km/h and metres, so the compact form holds them exactly)."""
    return [
        [start + 1000 * i, round(lat0 + 0.00012 * i, 6), -0.12, 45.0 + (i % 3), 5.0]
        for i in range(n)
    ]


async def _trip(client: Any) -> tuple[Device, dict[str, Any], str]:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = next(x for x in inst.of("lesson").values() if x["status"] == "scheduled")
    tid = uid()
    r = await inst.one(
        "trip", tid, "put", {"lesson_id": lesson["id"], "started_at": "2030-01-01T10:00:00Z"}
    )
    assert r["status"] == "applied", r
    return inst, lesson, tid


async def _put(dev: Device, tid: str, index: int, points: Any, version: int) -> dict[str, Any]:
    m = dev.mutation(
        "trip_segment", uid(), "put", {"trip_id": tid, "index": index, "points": points}
    )
    body = await dev.push(m, schema_version=version)
    result: dict[str, Any] = body["results"][0]
    return result


async def _pull(dev: Device, version: int, entities: str) -> dict[str, dict[str, Any]]:
    """Every record of `entities` from scratch, in the records of `version`."""
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"schema_version": version, "entities": entities}
        if cursor:
            params["cursor"] = cursor
        resp = await dev.client.get("/v1/sync/pull", params=params, headers=dev.headers)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        for change in page["changes"]:
            if change["op"] == "put":
                out[change["id"]] = change["record"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return out


async def test_compact_segment_totals_and_both_versions_of_pull(client: Any) -> None:
    inst, _lesson, tid = await _trip(client)
    first, second = drive(120, T0), drive(120, T0 + 120_000, 51.5 + 0.00012 * 120)
    compact = encode(first)
    r = await _put(inst, tid, 0, compact, version=2)
    assert r["status"] == "applied", r
    # Stored as sent: a record, if the server sends one at all, carries the same object.
    assert r.get("record", {"points": compact})["points"] == compact
    # A list-form segment from an app still on version 1, in the same trip.
    assert (await _put(inst, tid, 1, second, version=1))["status"] == "applied"

    v1 = await _pull(inst, 1, "trip,trip_segment")
    v2 = await _pull(inst, 2, "trip,trip_segment")
    trip = v1[tid]
    expected = trip_totals([(0, first), (1, second)])
    assert math.isclose(trip["distance_m"], expected[0], abs_tol=0.1)
    assert trip["distance_m"] > 3000  # 240 s at ~13 m/s, across the segment boundary
    assert trip["duration_s"] == expected[1] == 239
    assert v2[tid] == trip  # the trip record is the same in both versions
    segs1 = sorted((r for r in v1.values() if r.get("trip_id") == tid), key=lambda r: r["index"])
    segs2 = sorted((r for r in v2.values() if r.get("trip_id") == tid), key=lambda r: r["index"])
    assert [s["index"] for s in segs1] == [s["index"] for s in segs2] == [0, 1]
    # Version 1 reads list points: the compact one decoded, the list one exactly as sent.
    assert segs1[0]["points"] == decode(compact) == first
    assert segs1[1]["points"] == second
    # Version 2 reads compact points: the compact one exactly as sent, the list one encoded.
    assert segs2[0]["points"] == compact
    assert segs2[1]["points"] == encode(second)


async def test_out_of_order_segments_in_either_form(client: Any) -> None:
    inst, _lesson, tid = await _trip(client)
    a, b, c = drive(60, T0), drive(60, T0 + 60_000, 51.5072), drive(60, T0 + 120_000, 51.5144)
    assert (await _put(inst, tid, 2, encode(c), version=2))["status"] == "applied"
    assert (await _put(inst, tid, 0, a, version=1))["status"] == "applied"
    assert (await _put(inst, tid, 1, encode(b), version=2))["status"] == "applied"
    trip = (await _pull(inst, 2, "trip"))[tid]
    expected = trip_totals([(0, a), (1, b), (2, c)])
    assert math.isclose(trip["distance_m"], expected[0], abs_tol=0.1)
    assert trip["duration_s"] == expected[1] == 179
    # Then one in order after them (the incremental path reads the stored ends, compact).
    d = drive(60, T0 + 180_000, 51.5216)
    assert (await _put(inst, tid, 3, encode(d), version=2))["status"] == "applied"
    trip = (await _pull(inst, 1, "trip"))[tid]
    expected = trip_totals([(0, a), (1, b), (2, c), (3, d)])
    assert math.isclose(trip["distance_m"], expected[0], abs_tol=0.1)
    assert trip["duration_s"] == expected[1]


async def test_a_resent_compact_segment_is_applied_again_not_immutable(client: Any) -> None:
    inst, _lesson, tid = await _trip(client)
    sid = uid()
    data = {"trip_id": tid, "index": 0, "points": encode(drive(10, T0))}
    m = inst.mutation("trip_segment", sid, "put", data)
    assert (await inst.push(m, schema_version=2))["results"][0]["status"] == "applied"
    again = inst.mutation("trip_segment", sid, "put", data)
    assert (await inst.push(again, schema_version=2))["results"][0]["status"] == "applied"


async def test_invalid_tracks_are_rejected_naming_the_field(client: Any) -> None:
    inst, _lesson, tid = await _trip(client)
    good = encode(drive(5, T0))

    def bad(**change: Any) -> dict[str, Any]:
        return {**good, **change}

    cases = [
        (bad(t=[T0, 1000, -2000, 1000, 1000]), "points.t[2]"),  # time goes back
        (bad(lat=[91_000_000, 0, 0, 0, 0]), "points.lat[0]"),
        (bad(lon=[0, 0, 0]), "points.lon"),  # columns of unequal length
        (
            {"v": 1, "t": [T0] + [1000] * 500, "lat": [0] * 501, "lon": [0] * 501},
            "points.t",
        ),  # 501 points
        (bad(lat=[51_500_000, 12.5, 0, 0, 0]), "points.lat[1]"),  # a float
        (bad(t=[T0, 2**63, 0, 0, 0]), "points.t[1]"),  # a huge integer
        (bad(spd=[10, -20, 0, 0, 0]), "points.spd[1]"),  # negative speed
        (bad(v=9), "points.v"),
        ("fast", "points"),
        ([[T0, 91.0, 0.0]], "points[0]"),  # the list form keeps its checks
        ([[T0, 1.0, 2.0]] * 501, "points"),
    ]
    for points, field in cases:
        for version in (1, 2):
            r = await _put(inst, tid, 7, points, version)
            assert r["status"] == "rejected", (field, r)
            assert r["error"]["code"] == "invalid", (field, r)
            assert r["error"]["details"]["field"] == field, (field, r)
    assert (await _put(inst, tid, 7, good, version=2))["status"] == "applied"


async def test_route_endpoint_in_scope_out_of_scope_unknown(client: Any) -> None:
    inst, lesson, tid = await _trip(client)
    a, b = drive(30, T0), drive(30, T0 + 30_000, 51.5036)
    await _put(inst, tid, 1, b, version=1)
    await _put(inst, tid, 0, encode(a), version=2)
    url = f"/v1/trips/{tid}/route"

    resp = await client.get(url, headers={**inst.headers, "Accept-Encoding": "gzip"})
    assert resp.status == 200, await resp.text()
    assert resp.headers.get("Content-Encoding") == "gzip"
    body = await resp.json()
    trip = (await _pull(inst, 2, "trip"))[tid]
    assert body["trip_id"] == tid and body["rev"] == trip["rev"]
    assert [s["index"] for s in body["segments"]] == [0, 1]
    assert body["segments"][0]["points"] == encode(a)
    assert body["segments"][1]["points"] == encode(b)
    # The lesson's own student sees it; a student of someone else gets the unknown-trip answer.
    own = other = None
    for n in range(1, 9):
        dev = await Device(client, f"student{n}@demo.test").login()
        if dev.user.get("student_id") == lesson["student_id"]:
            own = own or dev
        else:
            other = other or dev
        if own and other:
            break
    assert own is not None and other is not None
    assert (await client.get(url, headers=own.headers)).status == 200
    hidden = await client.get(url, headers=other.headers)
    unknown = await client.get(f"/v1/trips/{uid()}/route", headers=inst.headers)
    garbage = await client.get("/v1/trips/not-an-id/route", headers=inst.headers)
    for resp in (hidden, unknown, garbage):
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await hidden.json()) == (await unknown.json())  # nothing tells them apart
    assert (await client.get(url)).status == 401
