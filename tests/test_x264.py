"""dfrec.x264: H.264 round trips through libx264 alone (the copy PyAV's wheel bundles, the test
extra's ``av``), checked against FFmpeg's H.264 decoder and FFmpeg's libx264 encode of the same clip."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from needs import need_module, skip_or_fail
from repo_scripts import load_script

from dfrec import x264


@pytest.fixture(scope="module")
def lib() -> str:
    path = x264.find_library()
    if path is None:
        skip_or_fail("libx264 not found (pip install -e .[video])")
    return path


@pytest.fixture(scope="module")
def face(astronaut) -> np.ndarray:
    """A real face, 96 x 96 RGB."""
    return np.ascontiguousarray(cv2.resize(astronaut[20:320, 100:400], (96, 96), interpolation=cv2.INTER_AREA))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) inside an 8-px margin: the pan repeats the edges it moves in."""
    mse = ((a.astype(np.float64) - b.astype(np.float64))[8:-8, 8:-8] ** 2).mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def test_reconstruction_is_what_a_decoder_shows(lib, face):
    """The frames handed back are FFmpeg's decode of the stream x264 wrote, bit for bit, B frames
    included (full reconstruction), in display order: I first, B frames between, the last a P frame."""
    av = need_module("av")
    coded = x264.encode(x264.pan_clip(face), 35, lib=lib)
    assert coded.types[0] == "I" and coded.types[-1] == "P" and "B" in coded.types and len(coded.frames) == 8
    with av.open(io.BytesIO(coded.stream), format="h264") as f:
        decoded = [cv2.cvtColor(fr.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420) for fr in f.decode(video=0)]
    assert len(decoded) == 8
    for ours, theirs in zip(coded.frames, decoded):
        assert ours.shape == face.shape and ours.dtype == np.uint8 and np.array_equal(ours, theirs)
    still = x264.encode(x264.pan_clip(face), 18, options={"bframes": "0"}, lib=lib)
    assert "B" not in still.types
    clip = x264.pan_clip(face)
    assert all(_psnr(a, b) > 30 for a, b in zip(still.frames, clip)) and _psnr(still.frames[0], clip[-1]) < 20


def test_the_same_frames_always_code_the_same(lib, face):
    """Coded four times, one clip gives one stream (x264's AVX-512 routines, left out, read memory
    they never wrote: on such a CPU half the clips coded otherwise from one run to the next)."""
    streams = {x264.encode(x264.pan_clip(face), 40, lib=lib).stream for _ in range(4)}
    assert len(streams) == 1


def test_clip_round_trip_matches_ffmpegs_libx264(lib, face):
    """The picture through a panning clip at a CRF is as far from the original as the benchmarks'
    FFmpeg encode of the same clip (within 1 dB), and further the higher the CRF; odd sides come
    back as they went in."""
    need_module("av")
    video_round_trip = load_script("benchmarks/video_clip.py").VideoRoundTrip
    ours = {crf: _psnr(x264.clip_round_trip(face, crf, lib=lib), face) for crf in (18, 30, 42)}
    ffmpeg = {crf: _psnr(video_round_trip("h264", crf)(face), face) for crf in (18, 30, 42)}
    assert ours[18] > ours[30] + 3 > ours[42] + 6
    assert all(abs(ours[c] - ffmpeg[c]) < 1.0 for c in ours), (ours, ffmpeg)
    odd = face[:95, :93]
    assert x264.clip_round_trip(odd, 30, lib=lib).shape == odd.shape


def test_bad_frames_and_libraries_are_refused(lib, face, monkeypatch):
    """No, odd or mismatched frames: ValueError. No library, another library, or a libx264 whose
    ``x264_param_t`` is laid out otherwise than the module's offsets: X264Error, saying what to do."""
    with pytest.raises(ValueError, match="no frames"):
        x264.encode([], 30, lib=lib)
    with pytest.raises(ValueError, match="even"):
        x264.encode([face[:95]], 30, lib=lib)
    with pytest.raises(ValueError, match="even"):
        x264.encode([face, face[:, :94]], 30, lib=lib)
    with pytest.raises(x264.X264Error, match="cannot load"):
        x264.library("/nonexistent/libx264.so")
    with pytest.raises(x264.X264Error, match="not a libx264"):
        x264.library(np._core._multiarray_umath.__file__)  # a shared library, not x264
    monkeypatch.setenv(x264.ENV, "/nonexistent/libx264.so")
    assert x264.find_library() == "/nonexistent/libx264.so"
    monkeypatch.delenv(x264.ENV)
    monkeypatch.setattr(x264, "_LOG_LEVEL", x264._LOG_LEVEL + 4)
    with pytest.raises(x264.X264Error, match="laid out otherwise"):
        x264.encode([face], 30, lib=lib)
    monkeypatch.undo()
    with pytest.raises(x264.X264Error, match="refused the setting no-such-setting"):
        x264.encode([face], 30, options={"no-such-setting": "1"}, lib=lib)
