"""server.http.conform: what the response check refuses, logs or lets through."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schemas.response import PullResponse, PushResponse
from server.http import ResponseMismatch, conform


def _page(**extra: Any) -> dict[str, Any]:
    change = {"entity": "lesson_note", "id": "n1", "rev": 7, "op": "delete", **extra}
    return {"changes": [change], "cursor": "c", "has_more": False, "rev": 7}


def test_a_declared_body_passes_in_every_mode() -> None:
    push = {
        "results": [
            {"seq": 1, "status": "merged", "rev": 3, "record": {}, "lost": ["attended"]},
            {"seq": 2, "status": "rejected", "duplicate": True,
             "error": {"code": "not_found", "message": "…", "details": {"field": "id"}}},
        ],
        "acked_seq": 2,
        "rev": 3,
    }  # fmt: skip
    for strict in (False, True):
        conform(PushResponse, push, strict=strict, envelope_only=False)
        conform(PullResponse, _page(), strict=strict, envelope_only=True)


def test_strict_mode_refuses_an_undeclared_key_wherever_it_is() -> None:
    with pytest.raises(ResponseMismatch) as err:
        conform(PullResponse, _page(surprise=1), strict=True, envelope_only=True)
    assert err.value.details["field"] == "changes.0.lesson_note.surprise"
    result = {"seq": 1, "status": "applied", "rev": 1, "surprise": 1}
    with pytest.raises(ResponseMismatch):
        conform(PushResponse, {"results": [result], "acked_seq": 1, "rev": 1},
                strict=True, envelope_only=False)  # fmt: skip
    with pytest.raises(ResponseMismatch):  # a status outside the four
        bad = {"results": [{"seq": 1, "status": "ok"}], "acked_seq": 1, "rev": 1}
        conform(PushResponse, bad, strict=True, envelope_only=False)


def test_production_logs_a_mismatch_and_checks_only_the_envelope_of_hot_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="drivesync.http"):
        # Inside a change: not looked at (a 1,000-change page would cost 4-9 ms).
        conform(PullResponse, _page(surprise=1), strict=False, envelope_only=True)
        assert caplog.records == []
        # At the top: logged, not raised (the body still goes out).
        conform(PullResponse, {**_page(), "surprise": 1}, strict=False, envelope_only=True)
    assert "PullResponse: surprise" in caplog.text
