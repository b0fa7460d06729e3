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


#: Matroska element IDs (with their length markers; RFC 9559) the readers share.
EBML_HEADER, SEGMENT, TRACKS, TRACK_ENTRY, TRACK_TYPE, CLUSTER = 0x1A45DFA3, 0x18538067, 0x1654AE6B, 0xAE, 0x83, 0x1F43B675
#: Matroska TrackType -> what the track holds.
MATROSKA_TRACK_KINDS = {1: "video", 2: "sound", 3: "complex", 0x10: "logo", 0x11: "subtitles", 0x12: "buttons",
                        0x20: "control", 0x21: "metadata"}
#: AVI stream header fccType -> what the stream holds.
AVI_STREAM_KINDS = {b"vids": "video", b"auds": "sound", b"txts": "subtitles", b"mids": "MIDI"}


def matroska_segment(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """``(start, end)`` of the Segment's children in a Matroska/WebM file of ``size`` bytes (a segment
    of unknown size, as live recorders write it, ends with the file); ``None`` for another kind of file."""
    head = element(f, 0)
    if head is None or head[0] != EBML_HEADER or head[2] < 0:
        return None
    segment = element(f, head[1] + head[2])
    if segment is None or segment[0] != SEGMENT:
        return None
    return segment[1], size if segment[2] < 0 else min(size, segment[1] + segment[2])


def matroska_track_types(f: BinaryIO) -> list[int] | None:
    """The ``TrackType`` of each track of a Matroska/WebM file open for reading (1 video, 2 audio,
    0x11 subtitles ...: :data:`MATROSKA_TRACK_KINDS`), in order; ``None`` for another kind of file
    or one whose ``Tracks`` do not come before its first cluster."""
    if (segment := matroska_segment(f, os.fstat(f.fileno()).st_size)) is None:
        return None
    pos, end = segment
    while pos < end and (el := element(f, pos)) is not None and el[2] >= 0 and el[0] != CLUSTER:
        ident, data, length = el
        if ident == TRACKS:
            kinds, at = [], data
            while at < data + length and (entry := element(f, at)) is not None and entry[2] >= 0:
                if entry[0] == TRACK_ENTRY:
                    inner = entry[1]
                    while inner < entry[1] + entry[2] and (field := element(f, inner)) is not None and field[2] >= 0:
                        if field[0] == TRACK_TYPE:
                            kinds.append(int.from_bytes(read_range(f, field[1], field[1] + field[2]), "big"))
                        inner = field[1] + field[2]
                at = entry[1] + entry[2]
            return kinds
        pos = data + length
    return None


def _riff_chunks(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(fourcc, data start, data end)`` of the RIFF chunks from ``start`` to ``end`` (little-endian
    sizes, padded to an even length); a ``LIST``'s fourcc is its list type (``hdrl``, ``strl`` ...)
    and its data starts after it."""
    pos = start
    while pos + 8 <= end:
        head = read_range(f, pos, pos + 8)
        if len(head) < 8:
            return
        kind, size = head[:4], struct.unpack("<I", head[4:])[0]
        data, stop = pos + 8, min(pos + 8 + size, end)
        if kind == b"LIST":
            kind, data = read_range(f, data, data + 4), data + 4
        yield kind, data, stop
        pos += 8 + size + (size & 1)


def avi_stream_types(f: BinaryIO) -> list[bytes] | None:
    """The ``fccType`` of each stream of an AVI file open for reading (``b"vids"``, ``b"auds"`` ...:
    :data:`AVI_STREAM_KINDS`), in order; ``None`` for another kind of file."""
    size = os.fstat(f.fileno()).st_size
    head = read_range(f, 0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] not in (b"AVI ", b"AVIX"):
        return None
    hdrl = next(((s, e) for k, s, e in _riff_chunks(f, 12, size) if k == b"hdrl"), None)
    if hdrl is None:
        return None
    kinds = []
    for kind, s, e in _riff_chunks(f, *hdrl):
        if kind == b"strl":
            strh = next(((a, b) for k, a, b in _riff_chunks(f, s, e) if k == b"strh"), None)
            if strh is not None:
                kinds.append(read_range(f, strh[0], strh[0] + 4))
    return kinds
