"""Login input a database cannot hold is a 422 with the field named, never a 500 (issue 9
item 9: PostgreSQL refuses NUL in text; a lone surrogate cannot be encoded). Both databases."""

from __future__ import annotations

from typing import Any

import pytest

GOOD = {"tenant": "demo", "email": "admin@demo.test", "password": "drive-demo-1"}


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("tenant", r'"de\u0000mo"', "nul"),
        ("email", r'"admin\u0000@demo.test"', "nul"),
        ("password", r'"drive\u0000"', "nul"),
        ("tenant", r'"demo\ud800"', "surrogate"),
        ("email", r'"\udfffadmin@demo.test"', "surrogate"),
        ("password", r'"pw\ud83d"', "surrogate"),
    ],
)
async def test_text_a_database_cannot_hold_is_422(
    client: Any, field: str, raw: str, reason: str
) -> None:
    parts = [
        f'"{k}": {raw if k == field else repr(v).replace(chr(39), chr(34))}'
        for k, v in GOOD.items()
    ]
    body = ("{" + ", ".join(parts) + "}").encode()
    resp = await client.post(
        "/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "invalid"
    # The request model or the service refuses it; either way 422 naming the field.
    assert error["details"]["field"] == field
    if reason == "nul":  # surrogates are already refused by the request model's str type
        assert "nul" in error["details"]["reason"].lower()


@pytest.mark.parametrize("field", ["tenant", "email", "password"])
async def test_absurdly_long_fields_are_422(client: Any, field: str) -> None:
    resp = await client.post("/v1/auth/login", json={**GOOD, field: "x" * 5000 + "@x"})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid" and error["details"]["field"] == field


async def test_odd_refresh_tokens_are_4xx_not_500(client: Any) -> None:
    for raw in (r'"abcdefghij\u0000k"', r'"abcdefghij\ud800"'):
        body = ('{"refresh_token": ' + raw + "}").encode()
        for path in ("/v1/auth/refresh", "/v1/auth/logout"):
            resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
            assert resp.status in (204, 401, 422), (path, raw, await resp.text())
    # The valid pair still signs in afterwards.
    resp = await client.post("/v1/auth/login", json=GOOD)
    assert resp.status == 200
