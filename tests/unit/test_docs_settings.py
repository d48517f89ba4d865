"""docs/operations.md documents every setting the server reads."""

from __future__ import annotations

from pathlib import Path

from server.config import Settings


def test_every_setting_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [
        f"DRIVESYNC_{name.upper()}"
        for name in Settings.model_fields
        if f"DRIVESYNC_{name.upper()}" not in text
    ]
    assert missing == [], f"document these in docs/operations.md: {missing}"


def test_bad_setting_names_the_variable(monkeypatch: object) -> None:
    import pytest

    from server.config import SettingsError, load_settings

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("DRIVESYNC_PORT", "99999")
        mp.setenv("DRIVESYNC_DATABASE_URL", "mysql://x")
        with pytest.raises(SettingsError) as err:
            load_settings()
        assert "DRIVESYNC_PORT" in str(err.value) and "DRIVESYNC_DATABASE_URL" in str(err.value)
    finally:
        mp.undo()
