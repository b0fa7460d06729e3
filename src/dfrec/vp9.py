"""How a VP9 video was compressed: the quantiser index of its frames, read from the frame headers of
a WebM/Matroska (``V_VP9``, as YouTube serves and yt-dlp saves) or MP4 (``vp09``) without decoding
pixels.

A VP9 frame's uncompressed header (VP9 bitstream specification §6.2) states ``base_q_idx``, 0-255,
the index of its quantiser step (each +1 a few per cent coarser; libvpx's ``--min-q``/``--max-q`` q,
0-63, is index ``4 q`` up to 61). Reaching it means reading the frame type, colour configuration,
frame size, reference indices, interpolation filter and loop filter parameters before it
(§6.2.1-§6.2.9). Segments may depart from it (segmentation, as adaptive quantisation), which is not
read here. A sample may be a superframe (§B.3): several coded frames, a hidden alternate reference
among them, with an index at its end; each of its frames counts.

The container walk is :func:`dfrec.h264.read_encoding`'s; :data:`VP9` is this codec's
:class:`dfrec.h264.Syntax`. The ``vp9_compressed`` caveat goes by the median index read here
(``dfrec.results``; measured with libvpx clips at CRF 15-60, ``assets/vp9_fake_score.json``).
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from dfrec.h264 import Bits, Syntax, Unreadable, read_encoding

#: frame_sync_code (§6.2.1)
_SYNC = 0x498342
#: color_space value that means sRGB (§7.2.2): no colour range or subsampling bits follow in profile 0/2
_CS_RGB = 7
#: the most bytes read for one frame's uncompressed header (it needs under 40)
FRAME_HEADER_BYTES = 128


def _color_config(r: Bits, profile: int) -> None:
    """Read past color_config() (§6.2.2)."""
    if profile >= 2:
        r.u(1)  # ten_or_twelve_bit
    if r.u(3) != _CS_RGB:
        r.u(1)  # color_range
        if profile in (1, 3):
            r.u(3)  # subsampling_x, subsampling_y, reserved_zero
    elif profile in (1, 3):
        r.u(1)  # reserved_zero


def _frame_size(r: Bits) -> None:
    r.u(32)  # frame_width_minus_1, frame_height_minus_1


def _render_size(r: Bits) -> None:
    if r.u(1):  # render_and_frame_size_different
        r.u(32)


def parse_frame_header(data: bytes) -> dict[str, Any] | None:
    """``{"type": "I" | "P", "shown": bool, "qp": base_q_idx (0-255), "profile": 0-3}`` of one VP9
    frame's uncompressed header (§6.2, the start of ``data``); ``None`` for a frame that only shows an
    earlier one (show_existing_frame: no quantiser). Raises :class:`dfrec.h264.Unreadable` when
    ``data`` is no VP9 frame header."""
    r = Bits(data[:FRAME_HEADER_BYTES])
    if r.u(2) != 2:
        raise Unreadable("no VP9 frame marker")
    profile = r.u(1)
    profile |= r.u(1) << 1
    if profile == 3:
        r.u(1)  # reserved_zero
    if r.u(1):  # show_existing_frame
        return None
    key = r.u(1) == 0  # frame_type: 0 KEY_FRAME
    shown = r.u(1) == 1
    error_resilient = r.u(1)
    intra_only = False
    if key:
        if r.u(24) != _SYNC:
            raise Unreadable("VP9 key frame without its sync code")
        _color_config(r, profile)
        _frame_size(r)
        _render_size(r)
    else:
        intra_only = not shown and r.u(1) == 1
        if not error_resilient:
            r.u(2)  # reset_frame_context
        if intra_only:
            if r.u(24) != _SYNC:
                raise Unreadable("VP9 intra-only frame without its sync code")
            if profile > 0:
                _color_config(r, profile)
            r.u(8)  # refresh_frame_flags
            _frame_size(r)
            _render_size(r)
        else:
            r.u(8)  # refresh_frame_flags
            r.u(12)  # ref_frame_idx[3] (3 bits) and ref_frame_sign_bias[3]
            for _ in range(3):  # frame_size_with_refs(): found_ref
                if r.u(1):
                    break
            else:
                _frame_size(r)
            _render_size(r)
            r.u(1)  # allow_high_precision_mv
            if not r.u(1):  # is_filter_switchable
                r.u(2)  # raw_interpolation_filter
    if not error_resilient:
        r.u(2)  # refresh_frame_context, frame_parallel_decoding_mode
    r.u(2)  # frame_context_idx
    r.u(9)  # loop_filter_params(): filter_level, sharpness
    if r.u(1) and r.u(1):  # loop_filter_delta_enabled, loop_filter_delta_update
        for _ in range(6):  # 4 ref deltas, 2 mode deltas: update flag, then su(6)
            if r.u(1):
                r.u(7)
    return {"type": "I" if key or intra_only else "P", "shown": shown, "qp": r.u(8), "profile": profile}


def superframe_sizes(tail: bytes, size: int | None = None) -> list[int] | None:
    """The byte sizes of the frames of a VP9 superframe (§B.3: an index at the sample's end, its
    marker byte ``0b110mmnnn`` first and last) from the sample's last bytes ``tail`` (the whole
    sample, or its last 34 bytes and its ``size``), or ``None`` when the sample is one frame."""
    size = len(tail) if size is None else size
    if not tail:
        return None
    marker = tail[-1]
    if marker & 0xE0 != 0xC0:
        return None
    size_bytes, count = ((marker >> 3) & 3) + 1, (marker & 7) + 1
    index = 2 + size_bytes * count
    if len(tail) < index or tail[-index] != marker:
        return None
    sizes = [int.from_bytes(tail[-index + 1 + i * size_bytes:-index + 1 + (i + 1) * size_bytes], "little")
             for i in range(count)]
    return sizes if sum(sizes) <= size - index else None


def parse_sample(f: BinaryIO, offset: int, size: int, state: dict | None = None) -> list[dict[str, Any]]:
    """The frame headers (:func:`parse_frame_header`) of every coded frame in the VP9 sample of
    ``size`` bytes at ``offset`` of ``f``; ``[]`` where one cannot be read. (``state``: unused, VP9
    frame headers stand alone.)"""
    f.seek(offset)
    if size <= FRAME_HEADER_BYTES:
        sample = f.read(size)
        tail = sample
    else:
        head = f.read(FRAME_HEADER_BYTES)
        f.seek(offset + size - 34)  # the largest superframe index: 2 + 4 x 8 bytes
        tail = f.read(34)
        sample = None
    sizes = superframe_sizes(tail, size)
    starts = [0] if sizes is None else [sum(sizes[:i]) for i in range(len(sizes))]
    frames = []
    for start in starts:
        if sample is not None:
            data = sample[start:start + FRAME_HEADER_BYTES]
        elif start == 0:
            data = head
        else:
            f.seek(offset + start)
            data = f.read(FRAME_HEADER_BYTES)
        try:
            if (got := parse_frame_header(data)) is not None:
                frames.append(got)
        except Unreadable:
            return []
    return frames


VP9 = Syntax(
    name="vp9", entries=("vp09",), matroska_codecs=("V_VP9",), config_box=b"vpcC",
    profile_names={0: "Profile 0", 1: "Profile 1", 2: "Profile 2", 3: "Profile 3"},
    parse_sample=parse_sample, quantiser="base_q_idx", quantiser_max=255,
)


def read_vp9_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """:func:`dfrec.h264.read_encoding` of a VP9 video (WebM/Matroska ``V_VP9`` or MP4 ``vp09``):
    ``{"codec": "vp9", "profile", "qp"`` (median base_q_idx, 0-255), ``"qp_range", "qp_by_type",
    "frames_read", "frames_in_file", "quantiser": "base_q_idx", "quantiser_max": 255}`` or ``None``."""
    return read_encoding(path, (VP9,), max_frames)
