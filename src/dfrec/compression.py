"""How a picture was last compressed: from the file itself, without decoding pixels, the quality of
a JPEG (its quantisation tables) and of a lossy WebP (the quantisers in its VP8 frame header), or
that a WebP is lossless; from the pixels, the 8 x 8 blocks an earlier JPEG save left
(:func:`jpeg_history`: a PNG of a JPEG, a JPEG saved again).

Both qualities are the encoder setting (1-100) of the library most software uses: libjpeg's for
JPEG (exact where the file holds libjpeg's tables, as Pillow, OpenCV and most editors write them),
libwebp's for WebP (an estimate: libwebp spreads one quality over up to four segment quantisers
by the picture's content; measured on 20 LFW photos saved by Pillow at 1-100, the estimate lies
within 6 of the setting and its mean within 1).
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any, BinaryIO

import numpy as np

#: The JPEG standard's example quantisation tables (ITU-T T.81 Annex K; libjpeg's quality 50), in
#: natural (row-major) order: luma, then chroma. libjpeg, and so Pillow, OpenCV and most software,
#: scales them by the quality setting.
JPEG_BASE_TABLES = (
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
    (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99),
)


def jpeg_tables_at(quality: int) -> np.ndarray:
    """``(2, 64)`` the luma and chroma tables libjpeg writes at ``quality`` (1-100), natural order."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((np.asarray(JPEG_BASE_TABLES, np.int64) * scale + 50) // 100, 1, 255)


def estimate_jpeg_quality(tables: dict[int, Any]) -> dict[str, Any] | None:
    """The quality a JPEG was last saved at, from its quantisation ``tables`` (PIL's
    ``Image.quantization``: table id -> 64 values, natural order): ``{"quality": 1-100,
    "standard_tables": bool}``, the libjpeg quality whose tables are nearest (summed relative
    difference over the luma table, and the chroma table when there is one). ``standard_tables``:
    the file's tables are exactly libjpeg's at that quality (most software); else (cameras, some
    encoders) the quality is only the nearest match. ``None`` without a usable 64-value luma table."""
    luma = tables.get(0) if tables else None
    if luma is None or len(luma) != 64:
        return None
    own = [np.asarray(luma, np.float64)]
    if len(tables.get(1) or ()) == 64:
        own.append(np.asarray(tables[1], np.float64))
    best, best_err, exact = 0, np.inf, False
    for q in range(1, 101):
        ref = jpeg_tables_at(q)[: len(own)].astype(np.float64)
        err = float(sum(np.abs(t - r).sum() / r.sum() for t, r in zip(own, ref)))
        if err < best_err:
            best, best_err, exact = q, err, err == 0.0
    return {"quality": best, "standard_tables": exact}


class _BoolDecoder:
    """VP8's boolean entropy decoder (RFC 6386 §7.3), enough to read the frame header's fields."""

    def __init__(self, data: bytes):
        if len(data) < 2:
            raise ValueError("VP8 first partition too short")
        self.data, self.pos = data, 2
        self.value, self.range, self.bit_count = (data[0] << 8) | data[1], 255, 0

    def bit(self, prob: int = 128) -> int:
        split = 1 + (((self.range - 1) * prob) >> 8)
        if self.value >= split << 8:
            out, self.range, self.value = 1, self.range - split, self.value - (split << 8)
        else:
            out, self.range = 0, split
        while self.range < 128:
            self.value, self.range, self.bit_count = (self.value << 1) & 0xFFFF, self.range << 1, self.bit_count + 1
            if self.bit_count == 8:
                self.bit_count = 0
                if self.pos < len(self.data):
                    self.value |= self.data[self.pos]
                self.pos += 1
        return out

    def literal(self, n: int) -> int:
        """``L(n)``: an ``n``-bit unsigned value, most significant bit first."""
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def signed(self, n: int) -> int:
        """An ``n``-bit magnitude followed by its sign bit."""
        v = self.literal(n)
        return -v if self.bit() else v

    def optional_signed(self, n: int) -> int:
        """A flag, then (when set) an ``n``-bit signed value; 0 when the flag is clear."""
        return self.signed(n) if self.bit() else 0


def vp8_quantizers(frame: bytes) -> list[int]:
    """The luma AC quantiser indices (0-127, higher = coarser) a VP8 key ``frame`` (a WebP's
    ``VP8 `` chunk) codes with: one per segment when the frame is segmented, else one. Reads
    the frame header as RFC 6386 §9.2-9.6 and §19.2 lay it out; ``ValueError`` for a frame that
    is not a key frame or is cut short."""
    if len(frame) < 11 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        raise ValueError("not a VP8 key frame")
    d = _BoolDecoder(frame[10:])
    d.literal(2)  # colour space, clamping type
    segment_q, absolute = None, True
    if d.bit():  # segmentation enabled
        update_map, update_data = d.bit(), d.bit()
        if update_data:
            absolute = bool(d.bit())
            segment_q = [d.optional_signed(7) for _ in range(4)]
            for _ in range(4):
                d.optional_signed(6)  # loop-filter level per segment
        if update_map:
            for _ in range(3):
                if d.bit():
                    d.literal(8)  # segment map probabilities
    d.literal(1 + 6 + 3)  # filter type, loop-filter level, sharpness
    if d.bit() and d.bit():  # loop-filter adjustments enabled, and updated
        for _ in range(8):
            d.optional_signed(6)
    d.literal(2)  # log2 of the number of DCT partitions
    base = d.literal(7)  # y_ac_qi
    if segment_q is None:
        return [base]
    return [int(np.clip(q if absolute else base + q, 0, 127)) for q in segment_q]


def webp_quality_of_quantizers(quantizers: list[int]) -> int:
    """The libwebp quality (1-100) whose quantisers these are (:func:`vp8_quantizers`). libwebp
    turns quality ``Q`` into a compression ``c = (2Q/3 or 2Q - 1)^(1/3)`` and gives each segment
    the quantiser ``127 (1 - c^e)``, with exponents ``e`` spread evenly about 1 by the segment's
    texture, the extremes ``1 ± a``: so ``c`` is the geometric mean of the extreme segments'
    ``1 - q/127``, whatever its spatial noise shaping ``a``."""
    qs = np.clip(np.asarray(quantizers, np.float64), 0, 127)
    c = math.sqrt((1 - qs.min() / 127) * (1 - qs.max() / 127))
    linear = c ** 3
    q = linear * 1.5 if linear < 0.5 else (linear + 1) / 2
    return int(min(max(round(100 * q), 1), 100))


def _riff_chunks(f: BinaryIO, end: int) -> Any:
    """``(fourcc, payload offset, payload size)`` of each chunk from ``f``'s position to ``end``."""
    while f.tell() + 8 <= end:
        head = f.read(8)
        if len(head) < 8:
            return
        tag, size = head[:4], struct.unpack("<I", head[4:])[0]
        start = f.tell()
        yield tag, start, size
        f.seek(start + size + (size & 1))


def read_webp_encoding(path: str | os.PathLike) -> dict[str, Any] | None:
    """How a WebP file's (first) picture is coded: ``{"lossless": True}`` (a ``VP8L`` bitstream)
    or ``{"lossless": False, "quality": 1-100, "quantizers": [...]}`` (a ``VP8 `` key frame, its
    quality estimated by :func:`webp_quality_of_quantizers`); animated files are read at their
    first frame. ``None`` for a file that is not a WebP or whose header cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
                return None
            end = 8 + struct.unpack("<I", head[4:8])[0]
            chunks = _riff_chunks(f, end)
            while (chunk := next(chunks, None)) is not None:
                tag, start, size = chunk
                if tag == b"ANMF":  # an animation frame: 16 bytes of placement, then its own chunks
                    f.seek(start + 16)
                    chunks = _riff_chunks(f, start + size)
                    continue
                if tag == b"VP8L":
                    return {"lossless": True}
                if tag == b"VP8 ":
                    f.seek(start)
                    # the frame header sits at the start of the first partition: a few hundred bytes
                    want = min(size, 4096)
                    frame = f.read(want)
                    if len(frame) < want:
                        return None  # cut short
                    qs = vp8_quantizers(frame)
                    return {"lossless": False, "quality": webp_quality_of_quantizers(qs), "quantizers": qs}
    except (OSError, ValueError, struct.error):
        return None
    return None


#: Zigzag positions (row, column) of the low-frequency luma coefficients :func:`jpeg_history` reads
#: the quantiser steps of: the DC and the first nine AC terms, where even a textured picture keeps
#: enough non-zero values to show their spacing.
HISTORY_COEFFICIENTS = ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0))
#: A step fits where the coefficients at least half a step from 0 sit this close to its multiples
#: (the mean of cos(2 pi c / step): 1 on the multiples, 0 for values spread evenly); decoding and
#: rounding to 8 bits leave them within about 0.3 of the multiples, a step of 2 or more keeps 0.8.
HISTORY_STEP_FIT = 0.8
#: Fewest such coefficients a step is judged from.
HISTORY_MIN_SAMPLES = 64
#: The share of zeroed high-frequency coefficients on the blocks' grid must beat the median
#: offset's by this much (a JPEG save: 0.2-0.9; a picture never saved as JPEG: under 0.02).
HISTORY_GRID_LEAD = 0.05
#: Largest picture side analysed (a centred window): more adds time, not evidence.
HISTORY_MAX_SIDE = 1024


def _dct_matrix() -> np.ndarray:
    """``(8, 8)`` the orthonormal DCT-II basis JPEG codes 8 x 8 blocks with (rows: frequencies)."""
    k, n = np.mgrid[0:8, 0:8]
    m = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


def _blocks(luma: np.ndarray, dx: int, dy: int, max_blocks: int | None = None) -> np.ndarray:
    """``(n, 8, 8)`` the DCT coefficients of the 8 x 8 blocks of ``luma`` (level-shifted by 128)
    on the grid starting ``dx``, ``dy`` pixels in; at most about ``max_blocks``, evenly spread."""
    window = luma[dy:, dx:]
    rows, cols = window.shape[0] // 8, window.shape[1] // 8
    blocks = window[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    if max_blocks is not None and len(blocks) > max_blocks:
        blocks = blocks[:: len(blocks) // max_blocks]
    d = _dct_matrix()
    return d @ (blocks - 128) @ d.T


#: The high-frequency coefficients (row + column >= 8) a JPEG save mostly zeroes, and only on its grid.
_HIGH = np.add.outer(np.arange(8), np.arange(8)) >= 8


def _block_grid(luma: np.ndarray) -> tuple[int, int, float]:
    """``(dx, dy, lead)``: where 8 x 8 block edges lie (the offset, 0-7 each way, on whose blocks
    the most high-frequency coefficients are zero, as a JPEG save leaves them) and by how much that
    share beats the median offset's (about 0 for a picture never saved as JPEG)."""
    shares = np.zeros((8, 8))
    for dy in range(8):
        for dx in range(8):
            shares[dy, dx] = (np.abs(_blocks(luma, dx, dy, 2048)[:, _HIGH]) < 0.5).mean()
    dy, dx = np.unravel_index(int(shares.argmax()), shares.shape)
    return int(dx), int(dy), float(shares[dy, dx] - np.median(shares))


def _step_of(values: np.ndarray, max_step: int = 96) -> int | None:
    """The largest quantiser step (2 ..  ``max_step``) the coefficient ``values`` sit on the
    multiples of (:data:`HISTORY_STEP_FIT`, from at least :data:`HISTORY_MIN_SAMPLES` values half a
    step or more from 0); ``None`` when none does (never compressed, or too fine a step to see)."""
    for step in range(max_step, 1, -1):
        v = values[np.abs(values) >= step / 2]
        if len(v) < HISTORY_MIN_SAMPLES:
            continue
        if float(np.cos(2 * np.pi * v / step).mean()) >= HISTORY_STEP_FIT:
            return step
    return None


def jpeg_history(pixels: np.ndarray) -> dict[str, Any] | None:
    """Whether a picture's pixels (``(H, W, 3) uint8`` RGB, or ``(H, W)`` gray) still hold the
    8 x 8 blocks of an earlier JPEG save (a PNG or screenshot of a JPEG, not resized since):
    ``{"quality": 1-100, "grid": [dx, dy], "steps": {"r,c": step}}``, the libjpeg quality whose
    luma table is nearest the quantiser steps the low-frequency coefficients sit on (the blocks
    start ``dx``, ``dy`` pixels in), or ``None`` where they do not show (never JPEG-compressed,
    resized or filtered since, or saved above about quality 90, whose steps are too fine to see)."""
    img = np.asarray(pixels)
    h, w = img.shape[:2]
    if min(h, w) < 64:
        return None
    top, left = max(0, (h - HISTORY_MAX_SIDE) // 2), max(0, (w - HISTORY_MAX_SIDE) // 2)
    img = img[top: top + HISTORY_MAX_SIDE, left: left + HISTORY_MAX_SIDE]
    luma = img.astype(np.float64)
    if luma.ndim == 3:
        luma = luma[..., :3] @ np.array([0.299, 0.587, 0.114])  # JPEG's luma (ITU-R BT.601)
    dx, dy, lead = _block_grid(luma)
    if lead < HISTORY_GRID_LEAD:  # no grid stands out: nothing to read
        return None
    coeffs = _blocks(luma, dx, dy)
    steps = {}
    for r, c in HISTORY_COEFFICIENTS:
        step = _step_of(coeffs[:, r, c])
        if step is not None:
            steps[(r, c)] = step
    if len(steps) < 3:
        return None
    index = np.array([r * 8 + c for r, c in steps])
    found = np.array(list(steps.values()), np.float64)
    errors = [float(np.abs(jpeg_tables_at(q)[0][index] - found).sum() / found.sum()) for q in range(1, 101)]
    best = int(np.argmin(errors))
    if errors[best] > 0.15:  # steps that fit no libjpeg quality: another encoder or chance
        return None
    return {"quality": best + 1, "grid": [int(dx + left) % 8, int(dy + top) % 8],
            "steps": {f"{r},{c}": s for (r, c), s in steps.items()}}
