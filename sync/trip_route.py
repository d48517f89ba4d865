"""A trip's route on demand (`GET /v1/trips/{trip_id}/route`): its live segments in the
compact form, for a device that keeps trip segments out of its replica and fetches a route
only when it is shown (docs/protocol.md, "GPS tracks"). Scope-checked as a pull is: a trip
the caller may not read is not found, exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from schemas import Trip, TripSegment
from sync.access import load_scope
from sync.core.entities import ENTITIES
from sync.core.principal import Principal
from sync.core.track import to_compact
from sync.errors import NotFound
from sync.records import wire_value
from sync.store import Store


async def trip_route(store: Store, who: Principal, trip_id: str) -> dict[str, Any]:
    """`{"trip_id", "rev", "updated_at", "segments": [{"id", "index", "rev", "points"}]}`:
    the trip's live segments by index, each in the compact form whatever form it is stored
    in. `rev` is the trip's (its totals change with every segment), so a cached route is
    current while the trip record's rev is unchanged."""
    async with store.read(who.tenant_id) as session:
        trip = await session.scalar(select(Trip).where(Trip.id == trip_id))
        if trip is None or trip.deleted:
            raise NotFound("no such trip", {"field": "trip_id"})
        scope = await load_scope(session, who)
        if not scope.sees("trip", *ENTITIES["trip"].keys.of(trip)):
            raise NotFound("no such trip", {"field": "trip_id"})
        rows = await session.execute(
            select(TripSegment.id, TripSegment.index, TripSegment.rev, TripSegment.points)
            .where(TripSegment.trip_id == trip_id, TripSegment.deleted.is_(False))
            .order_by(TripSegment.index)
        )
        segments = [
            {"id": sid, "index": index, "rev": rev, "points": to_compact(points)}
            for sid, index, rev, points in rows
        ]
        return {
            "trip_id": trip.id,
            "rev": trip.rev,
            "updated_at": wire_value(trip.updated_at),
            "segments": segments,
        }
