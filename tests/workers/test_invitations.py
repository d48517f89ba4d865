"""Account mail end to end, on both databases: an invitation (or a forgot-password request)
→ outbox → the server's in-process dispatcher → a real SMTP server on 127.0.0.1 → the link
in the email sets the password."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from schemas import AccountToken, Notification, OutboxEvent
from server.admin_cli import create_user, invite_again
from server.app import create_app
from sync import accounts
from sync.errors import Invalid
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, login, make_settings
from tests.helpers import Device, uid
from tests.workers.peers import SmtpPeer

BASE = "https://app.school.test"
LINK = re.compile(re.escape(BASE) + r"/#/(accept|reset)\?token=([A-Za-z0-9_%-]+)")


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    settings = make_settings(
        db,
        tmp_path,
        smtp_url=smtp.url,
        run_dispatcher=True,
        worker_scheduler_interval_s=0,
        worker_backoff_base_s=0,
        worker_backoff_cap_s=0,
        worker_poll_s=0.05,
        public_url=BASE + "/",
    )
    return await aiohttp_client(create_app(settings))


def _parts(msg: Any) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in msg.iter_parts()}


def _link(msg: Any, route: str) -> str:
    parts = _parts(msg)
    found = LINK.findall(parts["text/plain"])
    assert len(found) == 1 and found[0][0] == route, parts["text/plain"]
    assert f'href="{BASE}/#/{route}?token={found[0][1]}"' in parts["text/html"]
    return unquote(found[0][1])


async def test_invitation_email_carries_a_working_one_time_link(
    mail_client: Any, smtp: SmtpPeer, db: Db
) -> None:
    email = "amy.new@demo.test"
    await create_user(db.sessions, db.store, "demo", email, "<b>Amy</b> New", "student", None)
    msg = (await smtp.wait_for(email))[0]
    assert msg["Subject"].endswith(" account: set your password")
    assert msg["X-DriveSync-Event"] == accounts.INVITATION_EVENT
    html = _parts(msg)["text/html"]
    assert "&lt;b&gt;Amy&lt;/b&gt; New" in html and "<b>Amy</b>" not in html
    assert "for 7 days" in _parts(msg)["text/plain"]
    token = _link(msg, "accept")
    # The outbox row holds no token; the table holds its hash only.
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        payloads = [
            e.payload
            for e in await session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == accounts.INVITATION_EVENT)
            )
        ]
        hashes = list(await session.scalars(select(AccountToken.token_hash)))
    assert len(payloads) == 1 and set(payloads[0]) == {
        "user_id",
        "person",
        "person_id",
        "email",
        "name",
    }
    assert payloads[0]["person"] == "student" and payloads[0]["email"] == email
    assert token not in str(payloads) and hashes == [accounts.hash_token(token)]
    # The link sets the password and signs in; the password then signs in too.
    resp = await mail_client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": "my-first-password"}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["user"]["email"] == email
    await login(mail_client, email, password="my-first-password")
    resp = await mail_client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": "another-password"}
    )
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_token"
    # Set up now: no second invitation.
    with pytest.raises(Invalid):
        await invite_again(db.sessions, db.store, "demo", email)


async def test_a_failed_send_retries_with_a_new_link_and_invite_again_replaces_it(
    mail_client: Any, smtp: SmtpPeer, db: Db
) -> None:
    email = "ben.new@demo.test"
    smtp.replies.append("451 4.3.0 try again later")
    await create_user(db.sessions, db.store, "demo", email, "Ben New", "instructor", None)
    first = _link((await smtp.wait_for(email))[0], "accept")
    await invite_again(db.sessions, db.store, "demo", email)
    second = _link((await smtp.wait_for(email, count=2))[1], "accept")
    assert first != second
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        rows = list(await session.scalars(select(AccountToken)))
    # One token per try (the refused send's, the first mail's, the second's); only the
    # newest is live.
    assert len(rows) == 3 and [r.revoked_at is None for r in rows].count(True) == 1
    resp = await mail_client.post(
        "/v1/auth/invitations/accept", json={"token": first, "password": "my-first-password"}
    )
    assert resp.status == 400
    resp = await mail_client.post(
        "/v1/auth/invitations/accept", json={"token": second, "password": "my-first-password"}
    )
    assert resp.status == 200
    assert (await resp.json())["user"]["role"] == "instructor"


async def test_forgot_password_emails_a_reset_link(
    mail_client: Any, smtp: SmtpPeer, db: Db
) -> None:
    resp = await mail_client.post(
        "/v1/auth/password/forgot", json={"school": "demo", "email": "student1@demo.test"}
    )
    assert resp.status == 202
    msg = (await smtp.wait_for("student1@demo.test"))[0]
    assert msg["X-DriveSync-Event"] == accounts.RESET_EVENT
    assert "for 1 hour" in _parts(msg)["text/plain"]
    token = _link(msg, "reset")
    resp = await mail_client.post(
        "/v1/auth/password/reset", json={"token": token, "password": "a-brand-new-one"}
    )
    assert resp.status == 200, await resp.text()
    await login(mail_client, "student1@demo.test", password="a-brand-new-one")
    # Email only, whatever the preferences (no push, no SMS showing the link).
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        channels = set(
            await session.scalars(
                select(Notification.channel).where(Notification.event_type == accounts.RESET_EVENT)
            )
        )
    assert channels == {"email"}


async def test_a_student_created_by_an_admin_through_sync_gets_the_invitation(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    """The people side's event (sync/rules/people.py), not ours: the same email arrives."""
    admin = await Device(mail_client, "admin@demo.test").login()
    data = {"name": "Nora Quinn", "email": "Nora.Quinn@Example.test"}
    sid = uid()
    result = (await admin.push(admin.mutation("student", sid, "put", data)))["results"][0]
    assert result["status"] == "applied", result
    token = _link((await smtp.wait_for("nora.quinn@example.test"))[0], "accept")
    resp = await mail_client.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": "nora-password-1"}
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["user"]["role"] == "student" and body["user"]["student_id"] == sid
