"""The sync engine's front door: one object the web layer holds, bundling push, pull,
checksum, admin actions and the notifier over one store. The notifier's LISTEN is started
by the web layer (`notifier.start_pg`); until it is, pulls always read the database."""

from __future__ import annotations

from dataclasses import dataclass

from sync.notifier import Notifier
from sync.pull import PullService
from sync.push import PushService
from sync.store import Store

# 2: trip segments' points in the compact form (sync.core.track); 1 keeps the list form
# for apps not yet updated (a deprecation window: both are served from the same rows).
SCHEMA_VERSIONS = frozenset({1, 2})


@dataclass(frozen=True)
class Limits:
    """Published limits (GET /v1/sync/info)."""

    max_mutations: int = 500
    max_push_bytes: int = 2 * 1024 * 1024
    max_pull_limit: int = 5000
    default_pull_limit: int = 1000
    tombstone_horizon_days: int = 30
    max_clock_skew_ms: int = 300_000


class SyncService:
    """Push, pull, checksum and admin operations of the engine."""

    def __init__(self, store: Store, secret: str, limits: Limits) -> None:
        from sync.admin import AdminService

        self.store = store
        self.limits = limits
        self.notifier = Notifier(origin=store.origin)
        store.listeners.append(self.notifier.on_commit)
        # Pulls answer "nothing new" from the heads the notifier keeps (see sync.pull).
        self.pull = PullService(store, secret, SCHEMA_VERSIONS, heads=self.notifier.heads)
        # Pushes reuse the scopes pulls cache (same invalidation: sync.access.ScopeCache).
        self.push = PushService(
            store, SCHEMA_VERSIONS, limits.max_clock_skew_ms, scopes=self.pull.scopes
        )
        self.admin = AdminService(store, self.push)

    def info(self) -> dict[str, object]:
        return {
            "protocol": 1,
            "schema_versions": sorted(SCHEMA_VERSIONS),
            "limits": {
                "max_mutations": self.limits.max_mutations,
                "max_push_bytes": self.limits.max_push_bytes,
                "max_pull_limit": self.limits.max_pull_limit,
                "default_pull_limit": self.limits.default_pull_limit,
            },
            "tombstone_horizon_days": self.limits.tombstone_horizon_days,
            "max_clock_skew_ms": self.limits.max_clock_skew_ms,
            "heartbeat_s": 25,
        }
