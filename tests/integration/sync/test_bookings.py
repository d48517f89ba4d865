"""Bookings: server-authoritative rules, the lesson made on confirmation, replay after a fix."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from tests.helpers import Device, uid

LONDON = ZoneInfo("Europe/London")


def _slot(days: int, hour: int, minute: int = 0) -> str:
    """A UTC timestamp `days` ahead at a London wall-clock time, on a weekday."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    local = dt.datetime.combine(day, dt.time(hour, minute), LONDON)
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def _actors(client: Any) -> tuple[Device, Device, Device, str]:
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()
    await st.pull()
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    return st, inst, admin, service["id"]


async def test_request_confirm_creates_lesson_and_cancel_cancels_it(client: Any) -> None:
    st, inst, _admin, service = await _actors(client)
    bid = uid()
    iid = inst.user["instructor_id"]
    r = await st.one(
        "booking",
        bid,
        "put",
        {
            "instructor_id": iid,
            "service_id": service,
            "start": _slot(20, 10),
            "pickup_location": "Home",
        },
    )
    assert r["status"] == "applied", r
    rec = r["record"]
    assert rec["status"] == "requested" and rec["price_cents"] == 4200 and rec["currency"] == "GBP"
    start = dt.datetime.fromisoformat(rec["start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(rec["end"].replace("Z", "+00:00"))
    assert end - start == dt.timedelta(minutes=60)
    assert (await st.one("booking", bid, "patch", {"status": "confirmed"}))["error"][
        "code"
    ] == "invalid_transition"
    ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
    assert ok["status"] == "applied" and ok["record"]["status"] == "confirmed"
    await st.pull()
    lessons = [x for x in st.of("lesson").values() if x["booking_id"] == bid]
    assert len(lessons) == 1 and lessons[0]["status"] == "scheduled"
    assert lessons[0]["scheduled_start"] == rec["start"]
    assert (await st.one("booking", bid, "patch", {"status": "cancelled"}))["status"] == "applied"
    await st.pull()
    assert st.of("lesson")[lessons[0]["id"]]["status"] == "cancelled"


async def test_booking_rules(client: Any) -> None:
    st, inst, admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    other_inst = (await Device(client, "instructor2@demo.test").login()).user["instructor_id"]
    first = await st.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": iid, "service_id": service, "start": _slot(21, 10)},
    )
    assert first["status"] == "applied"
    cases = [
        ({"start": _slot(21, 10, 30)}, "overlap"),
        ({"start": _slot(21, 21)}, "unavailable"),  # evening, outside the slot
        ({"start": _slot(21, 17, 30)}, "unavailable"),  # starts inside, ends after 18:00
        ({"start": "2020-01-06T10:00:00Z"}, "in_past"),
        ({"start": _slot(22, 10), "instructor_id": other_inst}, "not_assigned"),
    ]
    for extra, code in cases:
        data = {"instructor_id": iid, "service_id": service, **extra}
        r = await st.one("booking", uid(), "put", data)
        assert r["status"] == "rejected" and r["error"]["code"] == code, (extra, r)
    # Another student's booking at the same time with the same instructor also overlaps.
    st2 = await Device(client, "student2@demo.test").login()
    clash = await st2.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": iid, "service_id": service, "start": _slot(21, 10)},
    )
    assert clash["error"]["code"] == "overlap"
    forged = await st.one(
        "booking",
        uid(),
        "put",
        {"instructor_id": iid, "service_id": service, "start": _slot(23, 10), "price_cents": 1},
    )
    assert forged["error"]["code"] == "read_only_field"
    resp = await client.get("/v1/admin/rejections", headers=admin.headers)
    codes = sorted(e["code"] for e in (await resp.json())["entries"])
    assert codes == sorted(
        [
            "overlap",
            "unavailable",
            "unavailable",
            "in_past",
            "not_assigned",
            "overlap",
            "read_only_field",
        ]
    )


async def test_rejected_booking_replayed_after_the_fix(client: Any) -> None:
    st, inst, admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    bid = uid()
    r = await st.one(
        "booking", bid, "put", {"instructor_id": iid, "service_id": service, "start": _slot(24, 20)}
    )
    assert r["error"]["code"] == "unavailable"
    resp = await client.get("/v1/admin/rejections", headers=admin.headers)
    entry = next(e for e in (await resp.json())["entries"] if e["record_id"] == bid)
    assert entry["user_id"] == st.user["id"] and entry["client_id"] == st.client_id
    # Still unavailable: replay rejects again and the entry stays open.
    resp = await client.post(f"/v1/admin/rejections/{entry['id']}/replay", headers=admin.headers)
    assert (await resp.json())["result"]["error"]["code"] == "unavailable"
    # The instructor opens an evening slot on that weekday; the replay now applies.
    day = dt.datetime.fromisoformat(_slot(24, 20).replace("Z", "+00:00")).astimezone(LONDON)
    added = await inst.one(
        "availability",
        uid(),
        "put",
        {"weekday": day.weekday(), "start_time": "19:00", "end_time": "22:00"},
    )
    assert added["status"] == "applied" and added["record"]["timezone"] == "Europe/London"
    resp = await client.post(f"/v1/admin/rejections/{entry['id']}/replay", headers=admin.headers)
    assert (await resp.json())["result"]["status"] == "applied"
    resp = await client.get(f"/v1/admin/journal/{entry['id']}", headers=admin.headers)
    assert (await resp.json())["status"] == "replayed"
    await st.pull()
    assert st.of("booking")[bid]["status"] == "requested"
