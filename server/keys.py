"""Typed application state (`web.AppKey`) and the request's principal key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.config import Settings
from sync.core.principal import Principal

if TYPE_CHECKING:
    from server.auth.service import AuthService
    from sync.service import SyncService

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
AUTH: web.AppKey[AuthService] = web.AppKey("auth")
SYNC: web.AppKey[SyncService] = web.AppKey("sync")
SECRET = web.AppKey("secret", str)

# Request-level: the authenticated principal, set by the auth middleware.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
