"""Calendar feeds: turn a user's private iCalendar feed on, off or to a new address, and
serve it to calendar apps by its secret (logic and contents: sync.calendar_feed).

The feed is answered for as long as its owner stands (active, still in the school in that
role: server.auth.standing); otherwise it is `feed_not_found`, like a revoked one, so a
feed URL outlives neither a disabled account nor a student who left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import CalendarFeed, Tenant, utcnow
from server.auth.standing import standing
from sync import calendar_feed
from sync.access import principal_for
from sync.core.principal import Principal
from sync.errors import DriveSyncError
from sync.ical import render
from sync.tenancy import ALL_TENANTS, bind_tenant

# `fetched_at` is written at most this often per feed: an app polling every few minutes
# must not turn each read into a write.
FETCH_NOTE_EVERY = dt.timedelta(minutes=10)
FEED_PATH = "/v1/calendar/feeds/{secret}.ics"


@dataclass(frozen=True)
class Feed:
    body: bytes
    etag: str
    filename: str


class CalendarService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], public_url: str) -> None:
        self.sessions = sessions
        self.public_url = public_url.rstrip("/")

    def url(self, secret: str) -> str:
        return self.public_url + FEED_PATH.format(secret=secret)

    async def status(self, who: Principal) -> dict[str, object]:
        async with self.sessions() as session:
            bind_tenant(session, who.tenant_id)
            row = await calendar_feed.live_feed(session, who.user_id)
        return _status(row)

    async def turn_on(self, who: Principal) -> dict[str, object]:
        """A new feed address (the old one, if any, stops working). The answer is the only
        place the address is ever shown: only its hash is kept."""
        async with self.sessions() as session, session.begin():
            bind_tenant(session, who.tenant_id)
            secret, row = await calendar_feed.replace(session, who.tenant_id, who.user_id, utcnow())
        return {**_status(row), "url": self.url(secret)}

    async def turn_off(self, who: Principal) -> dict[str, object]:
        async with self.sessions() as session, session.begin():
            bind_tenant(session, who.tenant_id)
            await calendar_feed.revoke(session, who.user_id, utcnow())
        return _status(None)

    async def feed(self, secret: str) -> Feed:
        now = utcnow()
        async with self.sessions() as session:
            bind_tenant(session, ALL_TENANTS)
            row = await calendar_feed.find(session, secret)
        async with self.sessions() as session:
            bind_tenant(session, row.tenant_id)
            async with session.begin():
                tenant = await session.scalar(select(Tenant).where(Tenant.id == row.tenant_id))
                try:
                    who = await principal_for(session, row.tenant_id, row.user_id)
                except DriveSyncError:
                    who = None
                if tenant is None or who is None or await standing(session, who, None, now):
                    raise calendar_feed.FeedNotFound(
                        "no calendar feed at this address; turn it on again in the app"
                    )
                events = await calendar_feed.events(session, who, tenant, now, self.public_url)
                if row.fetched_at is None or now - row.fetched_at > FETCH_NOTE_EVERY:
                    await session.execute(
                        update(CalendarFeed)
                        .where(CalendarFeed.id == row.id)
                        .values(fetched_at=now)
                        .execution_options(synchronize_session=False)
                    )
        body = render(f"{tenant.name} — DriveSync", tenant.timezone, events)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return Feed(body, etag, f"{tenant.slug}-lessons.ics")


def _status(row: CalendarFeed | None) -> dict[str, object]:
    if row is None:
        return {"enabled": False, "created_at": None, "fetched_at": None}
    return {"enabled": True, "created_at": row.created_at, "fetched_at": row.fetched_at}
