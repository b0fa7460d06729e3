"""H.264 round trips through libx264 itself, without FFmpeg, a container or a decoder.

An encoder keeps the reconstruction of every frame it codes, which is exactly what any H.264
decoder shows for it; libx264 hands it back with each coded frame (``x264_picture_t.img`` of the
output picture, full reconstruction on: deblocked even where the stream does not need it). So a
round trip needs one shared library, ``libx264`` (about 2 MB, nothing but libc beside it), reached
through :mod:`ctypes`. The training chain uses it (``augment.h264_prob``) where FFmpeg has no H.264
encoder: OpenCV's does not, and the GPU machine has no PyAV.

:func:`clip_round_trip` is the round trip of one picture: an 8-frame clip in which it pans by whole
pixels, x264's defaults (preset medium, B frames, CABAC, 4:2:0, BT.601 limited range) at a CRF, and
the clip's last frame, a P frame, moved back into place; ``benchmarks/video_clip.py`` makes the
same clip through FFmpeg's libx264 and a real decoder, to measure the bundled model on.

The library is found at ``$DFREC_LIBX264`` (a file), else the copy PyAV's wheel bundles
(``pip install -e .[video]``), else the system's (``ctypes.util.find_library("x264")``). The few
fields of ``x264_param_t`` and ``x264_picture_t`` set or read here have sat at the same offsets
since x264 build 155 (2018); each encoder opened checks them against values x264 itself wrote, so
a library laid out otherwise fails with :class:`X264Error` instead of coding garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

#: Environment variable naming the libx264 shared library to load.
ENV = "DFREC_LIBX264"
#: Frames of a :func:`clip_round_trip` clip; its last is returned.
CLIP_FRAMES = 8
#: Oldest x264 build (``X264_BUILD``) whose structure offsets below hold.
MIN_BUILD = 155
#: Frame types x264 reports (``X264_TYPE_*``) -> the letter a slice header would give.
FRAME_TYPES = {1: "I", 2: "I", 3: "P", 4: "B", 5: "B"}

# x264_param_t (x264.h): the CPU flags (uint32) first, int fields at these byte offsets (checked at open,
# see _check_layout)
_CPU, _WIDTH, _CSP, _BITDEPTH = 0, 28, 36, 40  # i_height sits between, at 32
#: X264_CPU_AVX512: x264's AVX-512 routines read memory they never wrote (the lookahead's macroblock
#: tree), so that one clip coded twice differs, by up to 0.02 in a fake score's AUC over 480 crops;
#: without them (AVX2 and below, as fast) every coding is the same
_CPU_AVX512 = 1 << 16
_LOG_LEVEL, _FULL_RECON = 528, 532
# x264_picture_t: i_type, i_pts, then img = {i_csp, i_plane, i_stride[4], plane[4]}
_PIC_TYPE, _PIC_PTS, _IMG_CSP, _IMG_STRIDE, _IMG_PLANE = 0, 16, 40, 48, 64  # i_plane sits at 44
# x264_nal_t: i_payload (int), p_payload (uint8_t *); 40 bytes each
_NAL_BYTES, _NAL_SIZE, _NAL_DATA = 40, 20, 24
_CSP_I420, _CSP_NV12 = 0x0002, 0x0004
_PARAM_BYTES, _PICTURE_BYTES = 4096, 1024  # >= sizeof (1024 and 240 in build 164)


class X264Error(RuntimeError):
    """libx264 is missing, laid out otherwise than this module knows, or refused to encode."""


def find_library() -> str | None:
    """Path (or soname) of the libx264 to load: ``$DFREC_LIBX264``, PyAV's bundled copy, the system's."""
    env = os.environ.get(ENV)
    if env:
        return env
    try:
        import importlib.util

        spec = importlib.util.find_spec("av")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        site = Path(spec.origin).resolve().parent.parent
        found = sorted(glob.glob(str(site / "av.libs" / "libx264*.so*")))
        if found:
            return found[0]
    return ctypes.util.find_library("x264")


class _Library:
    """The loaded libx264 with argument types set; ``build`` its ``X264_BUILD``."""

    def __init__(self, path: str) -> None:
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise X264Error(f"cannot load libx264 from {path}: {e}") from None
        build = next((b for b in range(MIN_BUILD, 256) if hasattr(lib, f"x264_encoder_open_{b}")), None)
        if build is None:
            raise X264Error(f"{path}: not a libx264 of build {MIN_BUILD} or later (no x264_encoder_open_N)")
        self.path, self.build = path, build
        vp, ip = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)
        self.open = getattr(lib, f"x264_encoder_open_{build}")
        self.open.argtypes, self.open.restype = [vp], vp
        for name, args, res in [
            ("x264_param_default_preset", [vp, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
            ("x264_param_parse", [vp, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
            ("x264_picture_alloc", [vp, ctypes.c_int, ctypes.c_int, ctypes.c_int], ctypes.c_int),
            ("x264_picture_clean", [vp], None),
            ("x264_encoder_encode", [vp, ctypes.POINTER(vp), ip, vp, vp], ctypes.c_int),
            ("x264_encoder_delayed_frames", [vp], ctypes.c_int),
            ("x264_encoder_close", [vp], None),
        ]:
            f = getattr(lib, name)
            f.argtypes, f.restype = args, res
            setattr(self, name[len("x264_"):], f)


_LOADED: dict[str, _Library] = {}
_FOUND: dict[str, str | None] = {}
_LOCK = threading.Lock()


def library(path: str | None = None) -> _Library:
    """The libx264 at ``path`` (default :func:`find_library`, looked up once per process and value
    of ``$DFREC_LIBX264``), loaded once per process."""
    if path is None:
        key = os.environ.get(ENV, "")
        if key not in _FOUND:
            _FOUND[key] = find_library()
        path = _FOUND[key]
    if not path:
        raise X264Error(f"libx264 not found: pip install av (its wheel bundles libx264; pip install -e .[video]), "
                        f"install the system's libx264, or set {ENV} to the library file")
    with _LOCK:
        if path not in _LOADED:
            _LOADED[path] = _Library(path)
        return _LOADED[path]


def _int(buf, offset: int) -> int:
    return struct.unpack_from("i", buf, offset)[0]


def _check_layout(param, lib: _Library) -> None:
    """Raise :class:`X264Error` unless the offsets this module uses hold values x264 wrote there."""
    probes = []
    for level in (b"-1", b"0"):  # x264_param_parse("log") writes i_log_level, just before b_full_recon
        lib.param_parse(param, b"log", level)
        probes.append(_int(param, _LOG_LEVEL) == int(level))
    probes.append(_int(param, _CSP) == _CSP_I420 and _int(param, _BITDEPTH) == 8 and _int(param, _WIDTH) == 0)
    lib.param_parse(param, b"log", b"-1")
    if not all(probes):
        raise X264Error(f"{lib.path} (x264 build {lib.build}): x264_param_t is laid out otherwise than dfrec.x264 "
                        f"knows; set {ENV} to another libx264")


def _plane(pointer: int, rows: int, stride: int, cols: int) -> np.ndarray:
    """A view of ``rows x cols`` bytes of a picture plane at ``pointer`` with ``stride`` bytes per row."""
    flat = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_uint8)), (rows, stride))
    return flat[:, :cols]


@dataclass
class Coded:
    """What :func:`encode` made: ``frames`` as a decoder shows them (display order, each ``(H, W, 3)
    uint8`` RGB), each one's ``types`` (``"I"``, ``"P"``, ``"B"``), and the H.264 ``stream`` (Annex B
    byte stream, parameter sets first), which any decoder decodes to ``frames``."""

    frames: list[np.ndarray]
    types: list[str]
    stream: bytes


def encode(frames: Sequence[np.ndarray], crf: float, preset: str = "medium", fps: int = 25,
           options: dict[str, str] | None = None, lib: str | None = None) -> Coded:
    """Code ``frames`` (each ``(H, W, 3) uint8`` RGB, the same even ``H`` and ``W``) as one H.264
    stream at ``crf`` (0-51; x264's ``preset`` and its other defaults; ``options``: more x264
    settings by their command-line names, ``{"bframes": "0"}``). RGB goes to YUV 4:2:0 and back as
    BT.601 limited range (OpenCV's I420 and NV12). The same frames always code the same: one thread,
    and no AVX-512 (whose routines read unwritten memory; see ``_CPU_AVX512``)."""
    x = library(lib)
    if not frames:
        raise ValueError("no frames to code")
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2 or any(f.shape != (h, w, 3) or f.dtype != np.uint8 for f in frames):
        raise ValueError(f"frames must share an even (H, W, 3) uint8 shape; got {[f.shape for f in frames[:3]]}")
    param = ctypes.create_string_buffer(_PARAM_BYTES)
    if x.param_default_preset(param, preset.encode(), None) < 0:
        raise X264Error(f"x264 has no preset {preset!r}")
    _check_layout(param, x)
    struct.pack_into("I", param, _CPU, struct.unpack_from("I", param, _CPU)[0] & ~_CPU_AVX512)
    settings = {"crf": f"{float(crf):g}", "threads": "1", "fps": str(int(fps)), **(options or {})}
    for k, v in settings.items():
        if x.param_parse(param, k.encode(), str(v).encode()) != 0:
            raise X264Error(f"x264 refused the setting {k}={v}")
    struct.pack_into("iii", param, _WIDTH, w, h, _CSP_I420)
    struct.pack_into("i", param, _FULL_RECON, 1)
    encoder = x.open(param)
    if not encoder:
        raise X264Error(f"x264 could not open an encoder for {w}x{h} with {settings}")
    pic_in = ctypes.create_string_buffer(_PICTURE_BYTES)
    pic_out = ctypes.create_string_buffer(_PICTURE_BYTES)
    if x.picture_alloc(pic_in, _CSP_I420, w, h) < 0:
        x.encoder_close(encoder)
        raise X264Error("x264_picture_alloc failed")
    nal, n_nal = ctypes.c_void_p(), ctypes.c_int()
    out: list[tuple[int, str, np.ndarray]] = []
    stream = bytearray()

    def take() -> None:
        for k in range(n_nal.value):
            size, data = struct.unpack_from("<iQ", ctypes.string_at(nal.value + k * _NAL_BYTES + _NAL_SIZE, 12))
            stream.extend(ctypes.string_at(data, size))
        csp, planes = struct.unpack_from("ii", pic_out, _IMG_CSP)
        stride = struct.unpack_from("4i", pic_out, _IMG_STRIDE)
        ptr = struct.unpack_from("4Q", pic_out, _IMG_PLANE)
        if (csp & 0xFF) != _CSP_NV12 or planes != 2:
            raise X264Error(f"x264 returned a reconstruction as colour space {csp:#x} with {planes} planes, not NV12")
        nv12 = np.vstack([_plane(ptr[0], h, stride[0], w), _plane(ptr[1], h // 2, stride[1], w)])
        kind = FRAME_TYPES.get(_int(pic_out, _PIC_TYPE), "?")
        out.append((struct.unpack_from("q", pic_out, _PIC_PTS)[0], kind, cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)))

    try:
        stride = struct.unpack_from("3i", pic_in, _IMG_STRIDE)
        ptr = struct.unpack_from("3Q", pic_in, _IMG_PLANE)
        for i, frame in enumerate(frames):
            yuv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)
            chroma = yuv[h:].reshape(2, h // 2, w // 2)
            for k, (plane, rows, cols) in enumerate([(yuv[:h], h, w), (chroma[0], h // 2, w // 2),
                                                     (chroma[1], h // 2, w // 2)]):
                _plane(ptr[k], rows, stride[k], cols)[:] = plane
            struct.pack_into("q", pic_in, _PIC_PTS, i)
            size = x.encoder_encode(encoder, ctypes.byref(nal), ctypes.byref(n_nal), pic_in, pic_out)
            if size < 0:
                raise X264Error(f"x264 failed on frame {i}")
            if size > 0:
                take()
        while x.encoder_delayed_frames(encoder) > 0:
            size = x.encoder_encode(encoder, ctypes.byref(nal), ctypes.byref(n_nal), None, pic_out)
            if size < 0:
                raise X264Error("x264 failed while flushing")
            if size > 0:
                take()
    finally:
        x.picture_clean(pic_in)
        x.encoder_close(encoder)
    out.sort(key=lambda o: o[0])
    return Coded([o[2] for o in out], [o[1] for o in out], bytes(stream))


def pan(picture: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``picture (H, W, C)`` moved ``dx`` px right and ``dy`` px down (whole pixels), edges repeated."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(picture, m, (picture.shape[1], picture.shape[0]), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REPLICATE)


def pan_clip(picture: np.ndarray, frames: int = CLIP_FRAMES) -> list[np.ndarray]:
    """``frames`` copies of ``picture`` panning 1 px right and ½ px down per frame (whole pixels)."""
    return [pan(picture, k, k // 2) for k in range(frames)]


def unpan_last(frame: np.ndarray, frames: int = CLIP_FRAMES) -> np.ndarray:
    """The last frame of a :func:`pan_clip` of ``frames`` moved back into place."""
    return pan(frame, -(frames - 1), -((frames - 1) // 2))


def clip_round_trip(picture: np.ndarray, crf: float, frames: int = CLIP_FRAMES, **kw) -> np.ndarray:
    """``picture (H, W, 3) uint8`` RGB as the last (P) frame of a :func:`pan_clip` through x264 at
    ``crf`` shows it, moved back into place; odd sides are padded for 4:2:0 and cropped again.
    ``kw`` go to :func:`encode`."""
    h, w = picture.shape[:2]
    even = np.pad(picture, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    coded = encode(pan_clip(even, frames), crf, **kw)
    return np.ascontiguousarray(unpan_last(coded.frames[-1], frames)[:h, :w])
