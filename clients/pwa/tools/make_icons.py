"""Draw the PWA's PNG icons (192 and 512 px) with the standard library only: a rounded
blue square with a white steering wheel. Run from the repository root:

    python clients/pwa/tools/make_icons.py
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

BLUE = (11, 79, 138)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "icons"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """A truecolour+alpha PNG from raw RGBA rows."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def pixel(x: float, y: float, size: int) -> tuple[int, int, int, int]:
    """Colour at (x, y): full-bleed blue (maskable-safe), wheel inside the safe zone."""
    c = size / 2
    dx, dy = x - c, y - c
    r = math.hypot(dx, dy) / size
    ring = 0.25 <= r <= 0.31
    hub = r <= 0.07
    angle = math.degrees(math.atan2(dy, dx)) % 360
    spoke = r < 0.26 and any(abs(((angle - a + 180) % 360) - 180) < 8 for a in (90, 210, 330))
    if ring or hub or spoke:
        return (*WHITE, 255)
    return (*BLUE, 255)


def icon(size: int) -> bytes:
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            row += bytes(pixel(x + 0.5, y + 0.5, size))
        rows.append(bytes(row))
    return png(size, size, rows)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(icon(size))
        print(f"wrote {OUT / f'icon-{size}.png'}")


if __name__ == "__main__":
    main()
