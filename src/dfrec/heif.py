"""How a HEIC or AVIF photo was compressed: the HEVC quantiser (QP) or AV1 quantiser index
(base_q_idx) of its coded image, read from the file without decoding pixels.

A HEIC file (HEIF with HEVC, as iPhones save photos) is an ISO base media file whose ``meta`` box
lists items (ISO/IEC 23008-12): the primary item (``pitm``) is one HEVC-coded image (``hvc1``) or a
``grid`` of them (an iPhone photo: 512 x 512 tiles, each its own item, listed by the grid's ``dimg``
references in ``iref``). Each coded item's ``hvcC`` property (``iprp``/``ipco``, tied to it by
``ipma``) holds its parameter sets and its data (``iloc``: in the file, or in ``idat``) is
length-prefixed NAL units, an intra-coded picture whose slice headers state the QP, as a video
frame's do (:mod:`dfrec.hevc` parses them). An AVIF file is the same HEIF structure with AV1
items (``av01``, their ``av1C`` property holding the sequence header): each item's data is OBUs, an
intra frame whose header states ``base_q_idx`` (:mod:`dfrec.av1` parses it). The median over the
tiles is the photo's quantiser, as a video's is the median over its frames
(:func:`dfrec.h264.read_encoding`).
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

from dfrec import av1
from dfrec.containers import boxes, child, read_range
from dfrec.h264 import Syntax, _first_slice, _sample_nals, _take, quantiser_summary, spread
from dfrec.hevc import HEVC

#: coded item type -> the codec's syntax (its name, configuration property, quantiser and profiles)
CODED_ITEMS: dict[str, Syntax] = {"hvc1": HEVC, "av01": av1.AV1}

#: The most tiles read, spread over the grid (an iPhone's 48-megapixel photo, 8064 x 6048, is 16 x 12 =
#: 192 tiles of 512 px; a median needs fewer).
MAX_TILES = 64


def _full(data: bytes) -> tuple[int, int, bytes]:
    """``(version, flags, payload)`` of a full box's content."""
    return data[0], int.from_bytes(data[1:4], "big"), data[4:]


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    return int.from_bytes(data[pos:pos + size], "big"), pos + size


def _items(iinf: bytes) -> dict[int, str]:
    """item_ID -> item_type of an ``iinf`` box's ``infe`` entries (versions 2 and 3)."""
    version, _, body = _full(iinf)
    pos = 2 if version == 0 else 4
    out = {}
    while pos + 8 <= len(body):
        size, kind = struct.unpack(">I4s", body[pos:pos + 8])
        if size < 8:
            break
        if kind == b"infe":
            v, _, infe = _full(body[pos + 8:pos + size])
            if v >= 2:
                width = 2 if v == 2 else 4
                item_id = int.from_bytes(infe[:width], "big")
                out[item_id] = infe[width + 2:width + 6].decode("latin-1")
        pos += size
    return out


def _locations(iloc: bytes) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """item_ID -> (construction_method, [(offset, length)]) of an ``iloc`` box (§8.11.3)."""
    version, _, body = _full(iloc)
    offset_size, length_size = body[0] >> 4, body[0] & 15
    base_size, index_size = body[1] >> 4, (body[1] & 15 if version in (1, 2) else 0)
    count, pos = _uint(body, 2, 2 if version < 2 else 4)
    out = {}
    for _ in range(count):
        item_id, pos = _uint(body, pos, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            method, pos = _uint(body, pos, 2)
            method &= 15
        pos += 2  # data_reference_index
        base, pos = _uint(body, pos, base_size)
        extents, pos = _uint(body, pos, 2)
        spans = []
        for _ in range(extents):
            pos += index_size
            offset, pos = _uint(body, pos, offset_size)
            length, pos = _uint(body, pos, length_size)
            spans.append((base + offset, length))
        out[item_id] = (method, spans)
    return out


def _properties(f: BinaryIO, iprp: tuple[int, int]) -> tuple[list[tuple[bytes, int, int]], dict[int, list[int]]]:
    """The ``ipco`` properties (type, start, end; 1-based in associations) and ``ipma``'s item_ID ->
    [property index]."""
    ipco = child(f, *iprp, b"ipco")
    props = list(boxes(f, *ipco)) if ipco else []
    assoc: dict[int, list[int]] = {}
    for kind, start, end in boxes(f, *iprp):
        if kind != b"ipma":
            continue
        version, flags, body = _full(read_range(f, start, end))
        count, pos = _uint(body, 0, 4)
        for _ in range(count):
            item_id, pos = _uint(body, pos, 2 if version < 1 else 4)
            n, pos = _uint(body, pos, 1)
            wide = flags & 1
            for _ in range(n):
                value, pos = _uint(body, pos, 2 if wide else 1)
                assoc.setdefault(item_id, []).append(value & (0x7FFF if wide else 0x7F))
    return props, assoc


def _references(iref: bytes, kind: bytes) -> dict[int, list[int]]:
    """from_item_ID -> [to_item_ID] of an ``iref`` box's references of ``kind`` (``dimg``: a grid's tiles)."""
    version, _, body = _full(iref)
    width, pos, out = (2 if version == 0 else 4), 0, {}
    while pos + 8 <= len(body):
        size, ref = struct.unpack(">I4s", body[pos:pos + 8])
        if size < 8:
            break
        if ref == kind:
            from_id, p = _uint(body, pos + 8, width)
            n, p = _uint(body, p, 2)
            out[from_id] = [_uint(body, p + width * i, width)[0] for i in range(n)]
        pos += size
    return out


def read_heif_encoding(path: str | os.PathLike) -> dict[str, Any] | None:
    """The quantiser of a HEIC or AVIF photo's primary image: ``{"codec": "hevc" | "av1", "profile",
    "qp"`` (the median over its coded tiles: HEVC first slice QP, 0-51; AV1 base_q_idx, 0-255),
    ``"qp_range": [min, max]``, ``"tiles_read"``, ``"tiles"`` (coded items in the image: 1, or a
    grid's), ``"quantiser": "QP" | "base_q_idx", "quantiser_max": 51 | 255}``; ``None`` for a file
    that is no HEIF, or whose primary image is coded otherwise or cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            ftyp = child(f, 0, size, b"ftyp")
            meta = child(f, 0, size, b"meta")
            if ftyp is None or meta is None:
                return None
            meta = (meta[0] + 4, meta[1])  # a full box: version and flags first
            in_meta = {k: (s, e) for k, s, e in boxes(f, *meta)}
            if not all(k in in_meta for k in (b"pitm", b"iinf", b"iloc", b"iprp")):
                return None
            version, _, pitm = _full(read_range(f, *in_meta[b"pitm"]))
            primary = int.from_bytes(pitm[:2 if version == 0 else 4], "big")
            types = _items(read_range(f, *in_meta[b"iinf"]))
            if types.get(primary) == "grid":
                grid = _references(read_range(f, *in_meta[b"iref"]), b"dimg") if b"iref" in in_meta else {}
                coded = grid.get(primary, [])
            else:
                coded = [primary]
            kind = types.get(coded[0]) if coded else None
            if kind not in CODED_ITEMS or any(types.get(i) != kind for i in coded):
                return None
            syntax = CODED_ITEMS[kind]
            locations = _locations(read_range(f, *in_meta[b"iloc"]))
            props, assoc = _properties(f, in_meta[b"iprp"])
            idat = in_meta.get(b"idat")
            state: dict[str, Any] = {}
            frames = []
            for i in spread(len(coded), MAX_TILES):
                item = coded[i]
                config = next((props[k - 1] for k in assoc.get(item, []) if 0 < k <= len(props)
                               and props[k - 1][0] == syntax.config_box), None)
                method, spans = locations.get(item, (None, []))
                if config is None or len(spans) != 1 or method not in (0, 1) or (method == 1 and idat is None):
                    continue
                offset, length = spans[0]
                if method == 1:
                    offset += idat[0]
                payload = read_range(f, config[1], config[2])
                if syntax is av1.AV1:
                    state.pop("seq", None)  # this item's sequence header, not an earlier one's
                    av1.read_config(payload, state)
                    frames.extend(av1.parse_sample(f, offset, length, state)[:1])
                    continue
                length_size, nals = HEVC.config(payload)
                for nal in nals:
                    _take(HEVC, nal, state)
                if (got := _first_slice(_sample_nals(f, offset, length, length_size, HEVC), HEVC, state)) is not None:
                    frames.append(got)
    except (OSError, ValueError, struct.error, IndexError):
        return None
    if not frames:
        return None
    return {**quantiser_summary(syntax, frames, state), "tiles_read": len(frames), "tiles": len(coded),
            "quantiser": syntax.quantiser, "quantiser_max": syntax.quantiser_max}
