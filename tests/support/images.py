"""Tiny real images (PNG, GIF) that a browser can render, built without an imaging library."""

import struct
import zlib


def png(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """A solid-colour truecolour PNG of `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def gif(rgb: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """A 1x1 GIF of one colour."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00"  # 1x1, a global table of two colours
        + bytes(rgb)
        + b"\xff\xff\xff"
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # one 1x1 image
        + b"\x02\x02D\x01\x00;"  # LZW data for one pixel of colour 0, end
    )
