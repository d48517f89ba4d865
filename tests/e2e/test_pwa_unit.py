"""The PWA's pure JavaScript functions (hlc, writable fields, slots, time zones, pass mark,
distances), run by Node's own test runner when Node is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PWA = Path(__file__).resolve().parents[2] / "clients" / "pwa"


def test_pwa_pure_functions() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the PWA's unit tests need Node 18+")
    result = subprocess.run(
        [node, "--test", "tests/"], cwd=PWA, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
