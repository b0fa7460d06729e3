"""What a video file says made it: its container's tags, read without decoding anything.

A video's counterpart of a photo's EXIF ``Make``/``Model``/``Software``: what the muxer, the
editing app or the phone wrote into the container, e.g. FFmpeg's ``encoder: Lavf61.7.100`` (FFmpeg
and everything built on it, the face-swap tools included), an iPhone's
``com.apple.quicktime.make: Apple``, ``…model: iPhone 15 Pro``, ``…software: 17.4``, an
Android phone's ``com.android.version``, a Matroska file's ``MuxingApp``/``WritingApp`` (OBS,
HandBrake, mkvmerge). Like EXIF it is a claim anyone can edit, and sites often strip it.

- MP4, MOV, M4V, 3GP (:func:`iso_metadata`): the movie header's creation time, the ``udta`` box's
  QuickTime text atoms (``©too``, ``©swr``, ``©mak``, ``©mod``, ``©day``, ``©nam`` ...), iTunes-style
  ``udta/meta/ilst`` items (as FFmpeg writes ``©too``), and QuickTime metadata (``meta`` with
  ``keys`` and ``ilst``: Apple's and Android's reverse-DNS keys).
- Matroska and WebM (:func:`matroska_metadata`): the segment's ``Info`` (``Title``, ``MuxingApp``,
  ``WritingApp``, ``DateUTC``) and its ``Tags`` (``ENCODER``, ``CREATION_TIME`` ...; a track's
  tags named so).

Never a location: ``©xyz`` and any key that names a location or GPS are passed over unread.
At most :data:`dfrec.io.METADATA_MAX_ENTRIES` entries of :data:`dfrec.io.METADATA_MAX_CHARS`
characters, as for photos.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from typing import BinaryIO

from dfrec.containers import boxes, child, element, matroska_segment, read_range
from dfrec.io import METADATA_MAX_CHARS, METADATA_MAX_ENTRIES, shown

#: QuickTime / iTunes text atoms shown, by their four-character code, and the name a report gives them.
ISO_TEXT_ATOMS = {
    b"\xa9too": "Encoder", b"\xa9swr": "Software", b"\xa9enc": "Encoded by", b"\xa9mak": "Make",
    b"\xa9mod": "Model", b"\xa9day": "Date", b"\xa9nam": "Title", b"\xa9cmt": "Comment", b"\xa9ART": "Artist",
    b"\xa9aut": "Author", b"\xa9des": "Description", b"\xa9inf": "Information", b"desc": "Description",
}
#: A key or atom that may hold where the video was made: never read out.
LOCATION = re.compile(r"location|gps|xyz|latitude|longitude|iso6709", re.IGNORECASE)
#: Seconds from 1904-01-01 (the ISO and QuickTime epoch) to 1970-01-01.
ISO_EPOCH = 2_082_844_800
#: Matroska element IDs read here (RFC 9559).
_INFO, _TAGS = 0x1549A966, 0x1254C367
_TITLE, _MUXING_APP, _WRITING_APP, _DATE_UTC = 0x7BA9, 0x4D80, 0x5741, 0x4461
_TAG, _TARGETS, _TAG_TRACK_UID, _SIMPLE_TAG, _TAG_NAME, _TAG_STRING = 0x7373, 0x63C0, 0x63C5, 0x67C8, 0x45A3, 0x4487
#: Matroska tags not shown (the muxer's bookkeeping, not what made the file).
MATROSKA_TAGS_HIDDEN = {"DURATION", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "BPS", "_STATISTICS_TAGS",
                        "_STATISTICS_WRITING_APP", "_STATISTICS_WRITING_DATE_UTC", "HANDLER_NAME", "VENDOR_ID"}
#: The most top-level Matroska elements walked looking for Info and Tags (clusters are skipped by size).
MAX_ELEMENTS = 200_000


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip("\x00 \r\n\t")


def _utc(seconds: float) -> str | None:
    """``2024-05-01T12:00:00Z`` for seconds since 1970; ``None`` outside 1971-2100 (a zero or a damaged field)."""
    if not 31_536_000 <= seconds <= 4_102_444_800:
        return None
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _data_value(f: BinaryIO, start: int, end: int) -> str | None:
    """The text of an ``ilst`` item's ``data`` box (type 1, UTF-8; ISO/IEC 14496-12 and QuickTime)."""
    data = child(f, start, end, b"data")
    if data is None:
        return None
    raw = read_range(f, *data)
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") & 0xFFFFFF not in (1, 2):  # UTF-8, UTF-16
        return None
    value = raw[8:].decode("utf-16-be", "replace") if raw[3] == 2 else raw[8:].decode("utf-8", "replace")
    return value.strip("\x00 ") or None


def _meta_children(f: BinaryIO, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes inside a ``meta`` box, full box (ISO: version and flags first) or not (QuickTime)."""
    for skip in (0, 4):
        found = {k: (s, e) for k, s, e in boxes(f, start + skip, end)}
        if b"hdlr" in found or b"ilst" in found or b"keys" in found:
            return found
    return {}


def _meta_items(f: BinaryIO, start: int, end: int) -> list[tuple[str, str]]:
    """``(name, text)`` of a ``meta`` box's ``ilst`` items: by ``keys`` (QuickTime metadata,
    reverse-DNS names) or by their own four-character codes (iTunes style, :data:`ISO_TEXT_ATOMS`)."""
    inner = _meta_children(f, start, end)
    if b"ilst" not in inner:
        return []
    names: list[str] = []
    if b"keys" in inner:
        raw = read_range(f, *inner[b"keys"])
        pos = 8  # version, flags, entry count
        while pos + 8 <= len(raw):
            size = int.from_bytes(raw[pos:pos + 4], "big")
            if size < 8:
                break
            names.append(_text(raw[pos + 8:pos + size]))
            pos += size
    out = []
    for kind, s, e in boxes(f, *inner[b"ilst"]):
        if names:
            index = int.from_bytes(kind, "big") - 1
            name = names[index] if 0 <= index < len(names) else None
        else:
            name = ISO_TEXT_ATOMS.get(kind)
        if name and not LOCATION.search(name) and (value := _data_value(f, s, e)) is not None:
            out.append((name, value))
    return out


def iso_metadata(f: BinaryIO, size: int) -> list[tuple[str, str]]:
    """``(name, text)`` of what an ISO file's ``moov`` says made it (the module's list); ``[]`` for none."""
    moov = child(f, 0, size, b"moov")
    if moov is None:
        return []
    out: list[tuple[str, str]] = []
    if (mvhd := child(f, *moov, b"mvhd")) is not None:
        head = read_range(f, mvhd[0], mvhd[0] + 12)
        if len(head) == 12:
            created = (struct.unpack(">Q", head[4:12])[0] if head[0] == 1 else struct.unpack(">I", head[4:8])[0])
            if (when := _utc(created - ISO_EPOCH)) is not None:
                out.append(("Created (movie header, UTC)", when))
    for kind, s, e in boxes(f, *moov):
        if kind == b"meta":
            out += _meta_items(f, s, e)
        elif kind == b"udta":
            for atom, a, b in boxes(f, s, e):
                if atom == b"meta":
                    out += _meta_items(f, a, b)
                elif atom in ISO_TEXT_ATOMS:  # QuickTime text: 2 bytes length, 2 bytes language, text
                    raw = read_range(f, a, b)
                    n = int.from_bytes(raw[:2], "big") if len(raw) >= 4 else 0
                    value = _text(raw[4:4 + n]) if n and 4 + n <= len(raw) else _data_value(f, a, b)
                    if value:
                        out.append((ISO_TEXT_ATOMS[atom], value))
    return out


def _ebml_fields(f: BinaryIO, start: int, end: int) -> list[tuple[int, int, int]]:
    """``(id, data start, size)`` of the elements from ``start`` to ``end`` (of known size)."""
    out, pos = [], start
    while pos < end and (el := element(f, pos)) is not None and el[2] >= 0:
        out.append(el)
        pos = el[1] + el[2]
    return out


def matroska_metadata(f: BinaryIO, size: int) -> list[tuple[str, str]]:
    """``(name, text)`` of a Matroska/WebM file's segment ``Info`` and ``Tags`` (the module's list);
    ``[]`` for none or for another kind of file."""
    if (segment := matroska_segment(f, size)) is None:
        return []
    (pos, end), walked = segment, 0
    out: list[tuple[str, str]] = []
    while pos < end and walked < MAX_ELEMENTS and (el := element(f, pos)) is not None and el[2] >= 0:
        ident, data, length = el
        walked += 1
        if ident == _INFO:
            for fid, s, n in _ebml_fields(f, data, data + length):
                if fid == _DATE_UTC and n == 8:  # nanoseconds since 2001-01-01T00:00:00 UTC
                    ns = struct.unpack(">q", read_range(f, s, s + 8))[0]
                    if (when := _utc(978_307_200 + ns / 1e9)) is not None:
                        out.append(("DateUTC", when))
                elif fid in (_TITLE, _MUXING_APP, _WRITING_APP) and (value := _text(read_range(f, s, s + n))):
                    out.append(({_TITLE: "Title", _MUXING_APP: "MuxingApp", _WRITING_APP: "WritingApp"}[fid], value))
        elif ident == _TAGS:
            for tid, s, n in _ebml_fields(f, data, data + length):
                if tid != _TAG:
                    continue
                fields = _ebml_fields(f, s, s + n)
                track = any(t == _TAG_TRACK_UID for fid, a, m in fields if fid == _TARGETS
                            for t, _, _ in _ebml_fields(f, a, a + m))
                for fid, a, m in fields:
                    if fid != _SIMPLE_TAG:
                        continue
                    parts = {k: _text(read_range(f, b, b + c)) for k, b, c in _ebml_fields(f, a, a + m)
                             if k in (_TAG_NAME, _TAG_STRING)}
                    name, value = parts.get(_TAG_NAME), parts.get(_TAG_STRING)
                    if name and value and name.upper() not in MATROSKA_TAGS_HIDDEN and not LOCATION.search(name):
                        out.append((f"{name} (a track's)" if track else name, value))
        pos = data + length
    return out


def video_metadata(path: str | os.PathLike) -> dict[str, str]:
    """What the container of the video at ``path`` says made it (``{name: text}``; the module's
    list, never a location), or ``{}`` (another container, none written, unreadable); a name met
    twice keeps its first text."""
    found: list[tuple[str, str]] = []
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            found = iso_metadata(f, size) or matroska_metadata(f, size)
    except (OSError, ValueError, struct.error, IndexError):
        found = []
    out: dict[str, str] = {}
    for name, value in found:
        if name not in out and len(out) < METADATA_MAX_ENTRIES:
            out[name] = shown(value[:METADATA_MAX_CHARS] + ("…" if len(value) > METADATA_MAX_CHARS else ""))
    return out
