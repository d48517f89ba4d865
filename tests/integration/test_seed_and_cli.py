"""The demo seed is what other tests rely on, and running it twice changes nothing;
create-tenant / create-user make working accounts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from schemas import (
    Guardian,
    Lesson,
    SkillAssessment,
    Student,
    StudentGuardian,
    StudentInstructor,
    SyncRecord,
    Tenant,
    TheoryQuestion,
    User,
)
from server.admin_cli import create_tenant, create_user
from server.seed import seed_demo
from sync.errors import Invalid
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db


async def _counts(db: Db) -> dict[str, int]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        out = {}
        for table in (Tenant, User, Student, Lesson, SkillAssessment, TheoryQuestion, SyncRecord):
            out[table.__tablename__] = int(
                await s.scalar(select(func.count()).select_from(table)) or 0
            )
        return out


async def test_demo_school_as_promised(db: Db) -> None:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        demo = await s.scalar(select(Tenant).where(Tenant.slug == "demo"))
        assert demo is not None
        emails = set(await s.scalars(select(User.email).where(User.tenant_id == demo.id)))
        expected = (
            {"admin@demo.test", "instructor1@demo.test", "instructor2@demo.test"}
            | {f"student{i}@demo.test" for i in range(1, 7)}
            | {"guardian1@demo.test"}
        )  # issue 13: following student1 and student2
        assert emails == expected
        wards = set(
            await s.scalars(
                select(User.email)
                .join(Student, (Student.user_id == User.id) & (Student.tenant_id == User.tenant_id))
                .join(StudentGuardian, StudentGuardian.student_id == Student.id)
                .join(Guardian, Guardian.id == StudentGuardian.guardian_id)
                .where(User.tenant_id == demo.id, Guardian.email == "guardian1@demo.test")
            )
        )
        assert wards == {"student1@demo.test", "student2@demo.test"}
        pairs = (
            await s.execute(
                select(User.email, StudentInstructor.instructor_id)
                .join(Student, (Student.user_id == User.id) & (Student.tenant_id == User.tenant_id))
                .join(StudentInstructor, StudentInstructor.student_id == Student.id)
                .where(User.tenant_id == demo.id)
            )
        ).all()
        by_instructor: dict[str, set[str]] = {}
        for email, iid in pairs:
            by_instructor.setdefault(iid, set()).add(email)
        assert sorted(map(sorted, by_instructor.values())) == [
            ["student1@demo.test", "student2@demo.test", "student3@demo.test"],
            ["student4@demo.test", "student5@demo.test", "student6@demo.test"],
        ]
        questions = await s.scalar(
            select(func.count())
            .select_from(TheoryQuestion)
            .where(TheoryQuestion.tenant_id == demo.id)
        )
        assert (questions or 0) >= 200
        assert await s.scalar(select(Tenant.id).where(Tenant.slug == "rival"))


async def test_seed_twice_changes_nothing(db: Db) -> None:
    before = await _counts(db)
    assert await seed_demo(db.sessions, db.store) == []
    assert await _counts(db) == before


async def test_create_tenant_and_user(db: Db, client: Any) -> None:
    await create_tenant(db.sessions, db.store, "acme", "Acme Driving", "Europe/Dublin", "EUR")
    with pytest.raises(Invalid):
        await create_tenant(db.sessions, db.store, "acme", "Again")
    with pytest.raises(Invalid):
        await create_tenant(db.sessions, db.store, "x", "Bad zone", "Mars/Olympus")
    await create_user(
        db.sessions, db.store, "acme", "Ann@Acme.example", "Ann", "instructor", "long-password-1"
    )
    resp = await client.post(
        "/v1/auth/login",
        json={"tenant": "acme", "email": "ann@acme.example", "password": "long-password-1"},
    )
    body = await resp.json()
    assert (
        resp.status == 200
        and body["user"]["role"] == "instructor"
        and body["user"]["instructor_id"]
    )


def test_cli_migrate_seed_and_bad_config(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DRIVESYNC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3",
        "DRIVESYNC_VAR_DIR": str(tmp_path / "var"),
    }
    run = [sys.executable, "-m", "server.cli"]
    assert (
        subprocess.run([*run, "migrate"], env=env, capture_output=True, check=False).returncode == 0
    )
    first = subprocess.run(
        [*run, "seed-demo"], env=env, capture_output=True, text=True, check=False
    )
    assert first.returncode == 0 and "seeded: demo, rival" in first.stdout
    again = subprocess.run(
        [*run, "seed-demo"], env=env, capture_output=True, text=True, check=False
    )
    assert "nothing changed" in again.stdout
    bad = subprocess.run(
        [*run, "serve"],
        env={**env, "DRIVESYNC_PORT": "http"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "DRIVESYNC_PORT" in bad.stderr
    keys = subprocess.run(
        [*run, "vapid-keys"], env=env, capture_output=True, text=True, check=False
    )
    assert keys.stdout.startswith("DRIVESYNC_VAPID_PRIVATE_KEY=")
