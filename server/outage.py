"""Which exceptions mean "the database cannot be reached right now" (answered `503
database_unavailable` with Retry-After, the client retries) as opposed to a bug (500).

Only connection-class failures count: refused or reset connections, a server shutting down
or not yet accepting connections, too many connections, a pooled connection found dead
(SQLAlchemy sets `connection_invalidated`), an SQLite file that cannot be opened. An
integrity error, a syntax error, a statement timeout or a bug in our code stays a 500."""

from __future__ import annotations

import errno
import socket
import sqlite3
from types import TracebackType

import asyncpg.exceptions as pg
from sqlalchemy import exc as sa

_PG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,  # ConnectionDoesNotExist, ConnectionFailure, rejection, …
    pg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    pg.AdminShutdownError,  # 57P01: terminating connection due to administrator command
    pg.CrashShutdownError,  # 57P02
    pg.TooManyConnectionsError,  # 53300
)

# OSError numbers of a connection that could not be made or was lost.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
    }
)

# Modules whose frames an OSError must have passed through to be the database's: the same
# OSError raised elsewhere (a file, a provider call) is not an outage of the database.
_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) says the database is unreachable."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if _unavailable(item):
            return True
        todo.extend((item.__cause__, item.__context__, getattr(item, "orig", None)))
    return False


def _unavailable(item: BaseException) -> bool:
    if isinstance(item, sa.DBAPIError) and item.connection_invalidated:
        return True
    if isinstance(item, _PG_UNAVAILABLE):
        return True
    if isinstance(item, pg.InterfaceError):
        return "connection is closed" in str(item) or "connection was closed" in str(item)
    if isinstance(item, sqlite3.OperationalError):
        return "unable to open database" in str(item)
    if isinstance(item, (ConnectionError, TimeoutError, socket.gaierror)) or (
        isinstance(item, OSError) and item.errno in _NETWORK_ERRNOS
    ):
        return _through_driver(item.__traceback__)
    return False


def _through_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        name = str(tb.tb_frame.f_globals.get("__name__", ""))
        if name.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False
