"""The bytes behind the simulator's file URLs.

Videos are tiny real H.264 MP4s shipped in ``seedrun/sim/media/`` (see its
README for how they were made); a task picks one by a hash of its id. Last
frames are solid-colour PNGs built here with zlib, coloured by the task id.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import cache
from importlib import resources

VIDEO_VARIANTS = ("video-a.mp4", "video-b.mp4", "video-c.mp4")
FRAME_SIZE = (320, 180)


@cache
def _variant(name: str) -> bytes:
    return resources.files("seedrun.sim").joinpath("media").joinpath(name).read_bytes()


def video_bytes(task_id: str) -> bytes:
    """One of the shipped MP4s, always the same one for a given task id."""
    pick = hashlib.sha256(task_id.encode()).digest()[0] % len(VIDEO_VARIANTS)
    return _variant(VIDEO_VARIANTS[pick])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid 8-bit RGB PNG of one colour."""
    row = b"\x00" + bytes(rgb) * width  # filter byte 0 (None) per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height, 9))
        + _chunk(b"IEND", b"")
    )


@cache
def frame_png(task_id: str) -> bytes:
    """The task's "last frame": a solid colour derived from its id."""
    colour = hashlib.sha256(f"frame:{task_id}".encode()).digest()[:3]
    return solid_png(*FRAME_SIZE, (colour[0], colour[1], colour[2]))
