"""Accounts over HTTP on both databases: accepting an invitation, forgot and reset password,
changing a password. Tokens are made here the way the notification worker makes them
(sync.accounts.issue_token); tests/workers/test_invitations.py covers the emails."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from schemas import AccountToken, OutboxEvent, Tenant, User, utcnow
from server.admin_cli import create_user
from server.keys import AUTH
from sync import accounts
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login

PASSWORD = "a-long-new-password"


async def invited(db: Db, email: str = "new.student@demo.test") -> str:
    """A student created without a password, as `drivesync create-user --invite` does."""
    return await create_user(db.sessions, db.store, "demo", email, "New Student", "student", None)


async def mint(db: Db, email: str, purpose: str, ttl: dt.timedelta = dt.timedelta(hours=1)) -> str:
    """A token for the user, made as the worker makes it before emailing it."""
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        user = await session.scalar(
            select(User)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(Tenant.slug == "demo", User.email == email)
        )
        assert user is not None
        bind_tenant(session, user.tenant_id)
        return await accounts.issue_token(session, user.tenant_id, user.id, purpose, ttl)


async def post(client: Any, path: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    resp = await client.post(path, json=body, **kw)
    text = await resp.text()
    return resp.status, (await resp.json() if text else None)


def code(body: Any) -> str:
    return str(body["error"]["code"])


async def test_accepting_an_invitation_sets_the_password_and_signs_in(client: Any, db: Db) -> None:
    await invited(db)
    # No password yet: nothing signs in.
    for guess in ("", "x" * 10):
        resp = await client.post(
            "/v1/auth/login",
            json={"tenant": "demo", "email": "new.student@demo.test", "password": guess or "p"},
        )
        assert resp.status == 401
    token = await mint(db, "new.student@demo.test", accounts.INVITE, dt.timedelta(days=7))
    # A refused password leaves the link usable.
    status, body = await post(
        client, "/v1/auth/invitations/accept", {"token": token, "password": "short"}
    )
    assert (status, code(body)) == (422, "weak_password")
    status, body = await post(
        client,
        "/v1/auth/invitations/accept",
        {"token": token, "password": "New.Student@demo.test"},
    )
    assert (status, code(body), body["error"]["details"]["reason"]) == (
        422,
        "weak_password",
        "is_email",
    )
    status, body = await post(
        client, "/v1/auth/invitations/accept", {"token": token, "password": PASSWORD}
    )
    assert status == 200, body
    assert body["user"]["email"] == "new.student@demo.test" and body["user"]["role"] == "student"
    assert body["user"]["student_id"] and body["school"]["slug"] == "demo"
    # The tokens work (an authenticated read as the new student).
    resp = await client.get("/v1/me/notification-preferences", headers=bearer(body))
    assert resp.status == 200
    # And the password signs in from now on.
    again = await login(client, "new.student@demo.test", password=PASSWORD)
    assert again["user"]["id"] == body["user"]["id"]
    # Single use: the same link a second time is refused.
    status, body = await post(
        client, "/v1/auth/invitations/accept", {"token": token, "password": PASSWORD + "2"}
    )
    assert (status, code(body)) == (400, "invalid_token")
    await login(client, "new.student@demo.test", password=PASSWORD)  # unchanged


async def test_bad_tokens_are_refused_alike(client: Any, db: Db) -> None:
    await invited(db)
    expired = await mint(db, "new.student@demo.test", accounts.INVITE, dt.timedelta(seconds=-1))
    older = await mint(db, "new.student@demo.test", accounts.INVITE)
    newer = await mint(db, "new.student@demo.test", accounts.INVITE)  # replaces `older`
    reset = await mint(db, "student1@demo.test", accounts.RESET)
    answers = set()
    for token in (expired, older, "x" * 43, reset):
        status, body = await post(
            client, "/v1/auth/invitations/accept", {"token": token, "password": PASSWORD}
        )
        answers.add((status, code(body), body["error"]["message"]))
    # One code and one message whatever was wrong (a reset token is no invitation either).
    assert len(answers) == 1 and next(iter(answers))[:2] == (400, "invalid_token"), answers
    status, _ = await post(
        client, "/v1/auth/invitations/accept", {"token": newer, "password": PASSWORD}
    )
    assert status == 200
    # Stored as a hash only.
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        hashes = set(await session.scalars(select(AccountToken.token_hash)))
    assert newer not in hashes and accounts.hash_token(newer) in hashes


async def test_forgot_password_answers_the_same_for_unknown_accounts(client: Any, db: Db) -> None:
    answers = []
    for school, email in (
        ("demo", "student1@demo.test"),
        ("demo", "nobody@demo.test"),
        ("no-such-school", "student1@demo.test"),
        ("DEMO", " Student1@Demo.test "),
    ):
        resp = await client.post(
            "/v1/auth/password/forgot", json={"school": school, "email": email}
        )
        answers.append((resp.status, await resp.read()))
    assert len(set(answers)) == 1 and answers[0][0] == 202
    await client.server.app[AUTH].accounts.drain()  # the look-ups run after the answers
    # Only the known account got a reset email asked for (twice: both spellings).
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        events = list(
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == accounts.RESET_EVENT)
            )
        )
        student = await session.scalar(select(User).where(User.email == "student1@demo.test"))
    assert student is not None
    assert [e.payload for e in events] == [{"user_id": student.id}] * 2


async def test_forgot_password_is_rate_limited(client: Any) -> None:
    statuses = []
    for _ in range(5):
        resp = await client.post(
            "/v1/auth/password/forgot", json={"school": "demo", "email": "ghost@demo.test"}
        )
        statuses.append(resp.status)
    # Three per (school, email) per hour, known or not; then 429 with Retry-After.
    assert statuses == [202, 202, 202, 429, 429]
    assert int(resp.headers["Retry-After"]) > 60
    assert code(await resp.json()) == "rate_limited"
    # Another email from the same address still gets through (until the address's own limit).
    resp = await client.post(
        "/v1/auth/password/forgot", json={"school": "demo", "email": "other@demo.test"}
    )
    assert resp.status == 202
    for i in range(20):
        resp = await client.post(
            "/v1/auth/password/forgot", json={"school": "demo", "email": f"g{i}@demo.test"}
        )
    assert resp.status == 429


async def test_reset_sets_the_password_and_signs_out_every_device(client: Any, db: Db) -> None:
    phone = await login(client, "student1@demo.test")
    laptop = await login(client, "student1@demo.test")
    token = await mint(db, "student1@demo.test", accounts.RESET)
    # An invitation route does not take a reset token.
    status, body = await post(
        client, "/v1/auth/invitations/accept", {"token": token, "password": PASSWORD}
    )
    assert (status, code(body)) == (400, "invalid_token")
    status, body = await post(
        client, "/v1/auth/password/reset", {"token": token, "password": PASSWORD}
    )
    assert status == 200, body
    assert body["user"]["email"] == "student1@demo.test"
    # Every earlier sign-in is over: refresh tokens revoked, access tokens refused.
    for old in (phone, laptop):
        resp = await client.post("/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert resp.status == 401
        resp = await client.get("/v1/me/notification-preferences", headers=bearer(old))
        assert resp.status == 401
    resp = await client.get("/v1/me/notification-preferences", headers=bearer(body))
    assert resp.status == 200, await resp.text()
    resp = await client.post(
        "/v1/auth/login",
        json={"tenant": "demo", "email": "student1@demo.test", "password": "drive-demo-1"},
    )
    assert resp.status == 401
    await login(client, "student1@demo.test", password=PASSWORD)
    status, body = await post(
        client, "/v1/auth/password/reset", {"token": token, "password": PASSWORD}
    )
    assert (status, code(body)) == (400, "invalid_token")


async def test_a_new_reset_link_voids_the_older_one(client: Any, db: Db) -> None:
    first = await mint(db, "student1@demo.test", accounts.RESET)
    second = await mint(db, "student1@demo.test", accounts.RESET)
    status, body = await post(
        client, "/v1/auth/password/reset", {"token": first, "password": PASSWORD}
    )
    assert (status, code(body)) == (400, "invalid_token")
    status, _ = await post(
        client, "/v1/auth/password/reset", {"token": second, "password": PASSWORD}
    )
    assert status == 200


async def test_expired_reset_link_is_refused(client: Any, db: Db) -> None:
    token = await mint(db, "student1@demo.test", accounts.RESET)
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        row = await session.scalar(
            select(AccountToken).where(AccountToken.token_hash == accounts.hash_token(token))
        )
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    status, body = await post(
        client, "/v1/auth/password/reset", {"token": token, "password": PASSWORD}
    )
    assert (status, code(body)) == (400, "invalid_token")
    await login(client, "student1@demo.test")  # the old password still works


async def test_change_password_needs_the_current_one(client: Any, db: Db) -> None:
    here = await login(client, "instructor1@demo.test")
    other = await login(client, "instructor1@demo.test")
    change = "/v1/auth/password/change"
    status, body = await post(
        client,
        change,
        {"current_password": "wrong-guess", "new_password": PASSWORD},
        headers=bearer(here),
    )
    assert (status, code(body)) == (403, "wrong_password")
    status, body = await post(
        client,
        change,
        {"current_password": "drive-demo-1", "new_password": "short"},
        headers=bearer(here),
    )
    assert (status, code(body), body["error"]["details"]["field"]) == (
        422,
        "weak_password",
        "new_password",
    )
    status, _ = await post(client, change, {"current_password": "x", "new_password": PASSWORD})
    assert status == 401  # signed in only
    status, body = await post(
        client,
        change,
        {"current_password": "drive-demo-1", "new_password": PASSWORD},
        headers=bearer(here),
    )
    assert status == 204, body
    # This device stays signed in; the other one is signed out.
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": here["refresh_token"]})
    assert resp.status == 200
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert resp.status == 401
    await login(client, "instructor1@demo.test", password=PASSWORD)


async def test_a_deactivated_account_cannot_use_its_invitation(client: Any, db: Db) -> None:
    user_id = await invited(db)
    token = await mint(db, "new.student@demo.test", accounts.INVITE)
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))
    status, body = await post(
        client, "/v1/auth/invitations/accept", {"token": token, "password": PASSWORD}
    )
    assert (status, code(body)) == (400, "invalid_token")
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        user = await session.scalar(select(User).where(User.id == user_id))
    assert user is not None and not user.is_active and not accounts.has_password(user)
