"""Errors with stable codes, raised by the engine and the server alike and turned into
`{"error": {"code", "message", "details"}}` by one middleware.

    DriveSyncError (code, status, message, details)
    ├── Unauthenticated       401 unauthenticated
    ├── Forbidden             403 forbidden
    ├── NotFound              404 not_found
    ├── SeqGap                409 seq_gap        details.expected
    ├── ResetRequired         410 reset_required
    ├── TooLarge              413 too_large
    ├── Invalid               422 invalid        details.field
    ├── UpgradeRequired       426 upgrade_required
    ├── RateLimited           429 rate_limited   (Retry-After)
    └── Overloaded            503 overloaded     (Retry-After)

Per-mutation rejections are not exceptions that end a request: they are `Rejection` values
in the push results (see sync.core.policy).
"""

from __future__ import annotations

from typing import Any


class DriveSyncError(Exception):
    """Base of every error the API reports; `code` is stable, `message` is for people."""

    code = "internal"
    status = 500

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON error envelope."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(DriveSyncError):
    code = "bad_request"
    status = 400


class Unauthenticated(DriveSyncError):
    code = "unauthenticated"
    status = 401


class Forbidden(DriveSyncError):
    code = "forbidden"
    status = 403


class NotFound(DriveSyncError):
    code = "not_found"
    status = 404


class Conflict(DriveSyncError):
    code = "conflict"
    status = 409


class SeqGap(DriveSyncError):
    code = "seq_gap"
    status = 409


class ResetRequired(DriveSyncError):
    code = "reset_required"
    status = 410


class TooLarge(DriveSyncError):
    code = "too_large"
    status = 413


class Invalid(DriveSyncError):
    code = "invalid"
    status = 422


class UpgradeRequired(DriveSyncError):
    code = "upgrade_required"
    status = 426


class RateLimited(DriveSyncError):
    code = "rate_limited"
    status = 429


class Overloaded(DriveSyncError):
    code = "overloaded"
    status = 503
