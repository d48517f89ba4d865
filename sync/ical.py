"""An iCalendar (RFC 5545) document from a list of events: the body of a user's calendar
feed. Pure: no database, no clock; `sync.calendar_feed` chooses the events.

Times go out in UTC (`…Z`), which every calendar app shows in the phone's own zone, so no
VTIMEZONE block is needed; an all-day block of time off goes out as dates in the school's
zone (DTEND is the day after its last day, as RFC 5545 counts). A lesson keeps its UID for
life and its SEQUENCE is the record's rev, which only grows: an app that already has the
event replaces it when the lesson moves. A cancelled lesson stays in the feed, marked
CANCELLED, so apps that keep events missing from a refresh still strike it out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from icalendar import Calendar, Event

PRODID = "-//DriveSync//Calendar feed 1//EN"
# How often a subscribed app should come back for changes (RFC 7986 REFRESH-INTERVAL, and
# the older X-PUBLISHED-TTL that Apple and Google read).
REFRESH = dt.timedelta(hours=1)

Status = Literal["CONFIRMED", "TENTATIVE", "CANCELLED"]


@dataclass(frozen=True)
class FeedEvent:
    """One event of a feed. `start`/`end` are aware datetimes, or dates for an all-day
    block (end exclusive)."""

    uid: str
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    summary: str
    status: Status
    sequence: int
    stamp: dt.datetime
    description: str = ""
    location: str | None = None
    url: str | None = None
    # Time off blocks the diary (OPAQUE, the default); nothing here is "free" time.
    categories: tuple[str, ...] = ()


def _utc(value: dt.datetime | dt.date) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def render(name: str, timezone: str, events: Iterable[FeedEvent]) -> bytes:
    """The feed `name` (shown as the calendar's name) with `events`, in start order."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    for item in sorted(events, key=_order):
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", item.stamp.astimezone(dt.UTC))
        event.add("dtstart", _utc(item.start))
        event.add("dtend", _utc(item.end))
        event.add("summary", item.summary)
        event.add("status", item.status)
        event.add("sequence", item.sequence)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.url:
            event.add("url", item.url)
        if item.categories:
            event.add("categories", list(item.categories))
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body


def _order(event: FeedEvent) -> tuple[str, str]:
    start = event.start
    key = (
        start.astimezone(dt.UTC).isoformat()
        if isinstance(start, dt.datetime)
        else start.isoformat()
    )
    return key, event.uid
