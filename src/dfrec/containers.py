"""The two container layouts dfrec's readers walk, box by box and element by element, without
decoding anything: ISO base media files (MP4, MOV, M4V, 3GP, HEIF/AVIF: ISO/IEC 14496-12 boxes)
and Matroska/WebM (EBML elements, RFC 8794 / RFC 9559)."""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Iterator


def boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of the ISO boxes from ``start`` to ``end``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            big = f.read(8)
            if len(big) < 8:
                return
            size, header = struct.unpack(">Q", big)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def child(f: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """``(payload start, box end)`` of the first box of type ``kind`` from ``start`` to ``end``; ``None`` for none."""
    return next(((s, e) for k, s, e in boxes(f, start, end) if k == kind), None)


def read_range(f: BinaryIO, start: int, end: int) -> bytes:
    """The bytes of ``f`` from ``start`` to ``end``."""
    f.seek(start)
    return f.read(end - start)


def track_handlers(f: BinaryIO) -> list[str] | None:
    """The handler of each track of an ISO file open for reading (``"vide"``, ``"soun"``, ``"text"``,
    ``"meta"`` ...), in order; ``None`` for a file with no ``moov`` box (or not an ISO file)."""
    size = os.fstat(f.fileno()).st_size
    moov = child(f, 0, size, b"moov")
    if moov is None:
        return None
    handlers = []
    for kind, start, end in list(boxes(f, *moov)):
        if kind == b"trak" and (mdia := child(f, start, end, b"mdia")) is not None:
            if (hdlr := child(f, *mdia, b"hdlr")) is not None:
                handlers.append(read_range(f, hdlr[0] + 8, hdlr[0] + 12).decode("latin-1"))
    return handlers


def vint(f: BinaryIO, marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``f``'s position: ``(value, bytes)``, the length marker kept
    (an element ID) or dropped (a size; all ones, "unknown", reads as -1); ``None`` at the end."""
    head = f.read(1)
    if not head or head[0] == 0:
        return None
    n = 9 - head[0].bit_length()
    rest = f.read(n - 1)
    if len(rest) < n - 1:
        return None
    value = head[0] if marker else head[0] & ((1 << (8 - n)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    if not marker and value == (1 << (7 * n)) - 1:
        value = -1
    return value, n


def element(f: BinaryIO, pos: int) -> tuple[int, int, int] | None:
    """``(id, data start, data size or -1)`` of the EBML element at ``pos``."""
    f.seek(pos)
    if (ident := vint(f, True)) is None or (size := vint(f, False)) is None:
        return None
    return ident[0], pos + ident[1] + size[1], size[0]
