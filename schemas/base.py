"""Declarative base and the column types every table shares.

Ids are UUID strings (36 chars) on both databases: the wire speaks strings, SQLite has no
native uuid, and one representation keeps the two code paths identical. Times are stored as
timezone-aware UTC on PostgreSQL and as ISO text on SQLite; `UtcDateTime` makes both come
back as aware UTC datetimes so nothing downstream has to care which database it talks to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations name things the same on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table; its metadata is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING)


def id_type() -> String:
    """Column type of a UUID string id."""
    return String(36)


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

# Revs are per-tenant counters that may pass 2**31 on a busy tenant over years.
RevInt = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A datetime that is always timezone-aware UTC in Python, on either database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc: dt.datetime = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            # SQLite keeps text: store naive UTC so lexical order is time order.
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        aware: dt.datetime = value
        if aware.tzinfo is None:
            return aware.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)
