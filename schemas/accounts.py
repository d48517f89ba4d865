"""Wire models of the account endpoints: accepting an invitation, forgot/reset password and
changing a password (server/routes/auth.py). The answers that sign in are `TokenResponse`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.wire import Outgoing, Storable

# A token is 43 characters of URL-safe base64; a little room for clients that pad it.
Token = Annotated[str, Field(min_length=10, max_length=128), Storable]
# The length rule itself is checked by the server (422 weak_password), not by the schema,
# so a short password gets that code rather than a generic `invalid`.
Password = Annotated[str, Field(min_length=1, max_length=1024), Storable]


class SetPasswordRequest(BaseModel):
    """`POST /v1/auth/invitations/accept` and `/v1/auth/password/reset`."""

    model_config = ConfigDict(extra="forbid")

    token: Token
    password: Password


class ForgotPasswordRequest(BaseModel):
    """`POST /v1/auth/password/forgot`."""

    model_config = ConfigDict(extra="forbid")

    school: Annotated[str, Field(min_length=1, max_length=63), Storable]
    email: Annotated[str, Field(min_length=3, max_length=320), Storable]


class ChangePasswordRequest(BaseModel):
    """`POST /v1/auth/password/change` (signed in)."""

    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class ForgotPasswordResponse(Outgoing):
    """The same answer whether or not the account exists."""

    status: Literal["accepted"]
    message: str


ACCOUNT_REQUESTS: tuple[type[BaseModel], ...] = (
    SetPasswordRequest,
    ForgotPasswordRequest,
    ChangePasswordRequest,
)
