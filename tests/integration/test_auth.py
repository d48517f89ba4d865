"""Sign-in, refresh and tenant isolation, on both databases."""

from __future__ import annotations

import time
from typing import Any

import jwt
from sqlalchemy import update

from schemas import Tenant
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import TEST_SECRET, Db, bearer, login


async def test_login_instructor(client: Any) -> None:
    body = await login(client, "instructor1@demo.test")
    assert body["user"]["role"] == "instructor"
    assert body["user"]["instructor_id"]
    assert body["token_type"] == "Bearer"
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"], issuer="drivesync")
    assert claims["tid"] == body["user"]["tenant_id"]
    assert claims["exp"] - claims["iat"] == 900


async def test_wrong_password_is_401_with_code(client: Any) -> None:
    resp = await client.post(
        "/v1/auth/login", json={"tenant": "demo", "email": "admin@demo.test", "password": "nope"}
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"
    # Same answer for an unknown school or email: nothing leaks about which exists.
    for tenant, email in (("nosuch", "admin@demo.test"), ("demo", "nobody@demo.test")):
        resp = await client.post(
            "/v1/auth/login", json={"tenant": tenant, "email": email, "password": "drive-demo-1"}
        )
        assert resp.status == 401


async def test_login_rate_limited_after_failures(client: Any) -> None:
    for _ in range(5):
        resp = await client.post(
            "/v1/auth/login",
            json={"tenant": "demo", "email": "student1@demo.test", "password": "bad"},
        )
        assert resp.status == 401
    resp = await client.post(
        "/v1/auth/login",
        json={"tenant": "demo", "email": "student1@demo.test", "password": "drive-demo-1"},
    )
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    # Another account is unaffected.
    await login(client, "student2@demo.test")


async def test_malformed_login_body(client: Any) -> None:
    resp = await client.post(
        "/v1/auth/login", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"
    resp = await client.post("/v1/auth/login", json={"tenant": "demo"})
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["field"] in ("email", "password")


async def test_refresh_rotates_and_detects_reuse(client: Any) -> None:
    first = await login(client, "admin@demo.test")
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert resp.status == 200
    second = await resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    # Reusing the spent token fails and revokes the family, so the new one dies too.
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert resp.status == 401
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert resp.status == 401


async def test_tokens_carry_the_school_and_its_pass_mark(client: Any, db: Db) -> None:
    """Clients need the school's pass mark offline; a change reaches them at the next
    refresh. Each school sees only its own."""
    student = await login(client, "student1@demo.test")
    school = student["school"]
    assert (school["slug"], school["pass_mark"], school["pass_total"]) == ("demo", 43, 50)
    assert school["timezone"] == "Europe/London" and school["currency"] == "GBP"
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(Tenant).where(Tenant.slug == "demo").values(pass_mark=40))
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": student["refresh_token"]})
    assert resp.status == 200
    assert (await resp.json())["school"]["pass_mark"] == 40
    rival = await login(client, "admin@rival.test", tenant="rival")
    assert rival["school"]["slug"] == "rival" and rival["school"]["pass_mark"] == 43


async def test_logout_revokes_refresh(client: Any) -> None:
    tokens = await login(client, "admin@demo.test")
    resp = await client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 204
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 401


async def test_expired_and_forged_tokens_are_401(client: Any) -> None:
    tokens = await login(client, "admin@demo.test")
    claims = jwt.decode(
        tokens["access_token"], TEST_SECRET, algorithms=["HS256"], issuer="drivesync"
    )
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}, TEST_SECRET
    )
    forged = jwt.encode({**claims, "role": "owner"}, "another-secret")
    none_alg = jwt.encode(claims, key=None, algorithm="none")
    for token, words in (
        (expired, "expired"),
        (forged, "signature"),
        (none_alg, "invalid"),
        ("garbage", "invalid"),
    ):
        resp = await client.get("/v1/sync/pull", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401
        body = await resp.json()
        assert body["error"]["code"] == "unauthenticated"
        assert words in body["error"]["message"]
    resp = await client.get("/v1/sync/pull")
    assert resp.status == 401
    resp = await client.get("/v1/sync/pull", headers=bearer(tokens))
    assert resp.status == 200


async def test_a_hash_with_old_parameters_is_replaced_at_sign_in(client: Any, db: Db) -> None:
    """Hashes made with the library's old defaults (64 MiB, 3 passes, 4 lanes: every core)
    still verify, and the sign-in stores one with today's parameters."""
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from schemas import User
    from server.auth.passwords import needs_rehash, verify_password

    old = PasswordHasher().hash("drive-demo-1")
    assert needs_rehash(old)
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(User).where(User.email == "student1@demo.test").values(password_hash=old)
        )
    await login(client, "student1@demo.test")
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        stored = await s.scalar(
            select(User.password_hash).where(User.email == "student1@demo.test")
        )
    assert stored != old and not needs_rehash(stored)
    assert verify_password(stored, "drive-demo-1")
    await login(client, "student1@demo.test")  # and it keeps working


async def test_an_account_without_a_password_cannot_sign_in(client: Any, db: Db) -> None:
    """An invited account has no password until its link is used: no password signs in to
    it — not the one the server checks unknown accounts against to spend the same time."""
    from schemas import User
    from server.auth import passwords

    dummy = "no-such-user-dummy-password"
    assert passwords._HASHER.verify(passwords._DUMMY, dummy)  # the dummy is what it says
    for stored in ("", "!"):
        async with db.sessions() as s, s.begin():
            bind_tenant(s, ALL_TENANTS)
            await s.execute(
                update(User).where(User.email == "student1@demo.test").values(password_hash=stored)
            )
        for password in (dummy, "demo-password-1"):
            resp = await client.post(
                "/v1/auth/login",
                json={"tenant": "demo", "email": "student1@demo.test", "password": password},
            )
            assert resp.status == 401, (stored, password, await resp.text())
