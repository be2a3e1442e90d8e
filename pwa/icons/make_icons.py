"""Draws the field app's icons (two figures leaning together: 寄り添い) as small palette PNGs.

No imaging library needed: the shapes are sampled 4x4 per pixel in pure Python and written with
zlib and struct. Run `python3 pwa/icons/make_icons.py` after changing the design; the PNGs are
committed, so the app never needs this at run time.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKGROUND = (0x2A, 0x6F, 0x64)  # the app's accent (theme colour)
FOREGROUND = (0xFF, 0xFF, 0xFF)
LEVELS = 17  # 4x4 samples: 0..16 covered


def covered(x: float, y: float, scale: float) -> bool:
    """The motif in a unit square centred on (0.5, 0.5); `scale` shrinks it for maskable icons."""
    u = (x - 0.5) / scale
    v = (y - 0.5) / scale
    # A taller figure (left) and a smaller one (right) leaning towards it: heads and bodies.
    shapes = [
        ((-0.13, -0.20), 0.085),  # head, left
        ((0.14, -0.10), 0.07),  # head, right
    ]
    for (cx, cy), r in shapes:
        if (u - cx) ** 2 + (v - cy) ** 2 <= r * r:
            return True
    # bodies: ellipses, the right one tilted towards the left
    if ((u + 0.13) / 0.16) ** 2 + ((v - 0.12) / 0.21) ** 2 <= 1:
        return True
    tu, tv = u - 0.14, v - 0.14
    ru, rv = 0.94 * tu + 0.34 * tv, -0.34 * tu + 0.94 * tv
    return (ru / 0.13) ** 2 + (rv / 0.17) ** 2 <= 1


def draw(size: int, scale: float) -> bytes:
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            hits = 0
            for sy in range(4):
                for sx in range(4):
                    if covered((px + (sx + 0.5) / 4) / size, (py + (sy + 0.5) / 4) / size, scale):
                        hits += 1
            row.append(hits)
        rows.append(bytes(row))
    return b"".join(rows)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(size: int, scale: float) -> bytes:
    palette = bytearray()
    for i in range(LEVELS):
        a = i / (LEVELS - 1)
        palette += bytes(round(b + (f - b) * a) for b, f in zip(BACKGROUND, FOREGROUND, strict=True))
    header = struct.pack(">IIBBBBB", size, size, 8, 3, 0, 0, 0)  # 8-bit palette
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", bytes(palette))
        + chunk(b"IDAT", zlib.compress(draw(size, scale), 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    (HERE / "icon-192.png").write_bytes(png(192, 1.0))
    (HERE / "icon-512.png").write_bytes(png(512, 1.0))
    # Maskable: the motif stays inside the central safe circle (radius 40% of the icon).
    (HERE / "maskable-512.png").write_bytes(png(512, 0.72))
    (HERE / "apple-touch-icon.png").write_bytes(png(180, 1.0))


if __name__ == "__main__":
    main()
