"""dfrec.vp9: the quantiser index of a VP9 video read from its frame headers, checked against libvpx
encodes at a fixed quantiser (PyAV's libvpx-vp9, the test extra's ``av``) of a real face panning,
across containers, profiles and the options that change what a frame header holds; superframes and
damaged samples."""

from __future__ import annotations

import io

import numpy as np
import pytest

from needs import need_module
from repo_scripts import load_script

from dfrec.h264 import Unreadable, read_h264_encoding
from dfrec.hevc import read_video_encoding
from dfrec.vp9 import parse_frame_header, parse_sample, read_vp9_encoding, superframe_sizes


@pytest.fixture(scope="module")
def clip(panning_face) -> list[np.ndarray]:
    return panning_face(12)


def encode(path, frames, q: int, pix_fmt: str = "yuv420p", **extra: str) -> None:
    """libvpx-vp9 at quantiser ``q`` (0-63) for every frame: base_q_idx ``4 q`` (libvpx's table up to 61)."""
    need_module("av")
    load_script("benchmarks/video_clip.py").encode_clip(
        path, frames, {"qmin": str(q), "qmax": str(q), "b": "1M", "cpu-used": "8", **extra}, codec="libvpx-vp9",
        pix_fmt=pix_fmt)


@pytest.mark.parametrize("suffix, q, pix_fmt, extra, profile", [
    (".webm", 30, "yuv420p", {}, "Profile 0"),  # WebM, as YouTube serves and yt-dlp saves
    (".mkv", 10, "yuv420p", {}, "Profile 0"),
    (".mp4", 50, "yuv420p", {}, "Profile 0"),  # vp09 in an ISO sample table
    (".webm", 30, "yuv420p", {"error-resilient": "1"}, "Profile 0"),  # no frame-context bits
    (".webm", 30, "yuv444p", {}, "Profile 1"),  # subsampling bits in the colour configuration
])  # (profiles 2 and 3, 10 and 12 bits, are not in the wheel's libvpx)
def test_fixed_quantiser_is_read_from_the_frame_headers(clip, tmp_path, suffix, q, pix_fmt, extra, profile):
    path = tmp_path / f"clip{suffix}"
    encode(path, clip, q, pix_fmt, **extra)
    got = read_vp9_encoding(path)
    assert got["codec"] == "vp9" and got["profile"] == profile
    assert got["frames_read"] == got["frames_in_file"] == len(clip)
    assert got["qp"] == 4 * q and got["qp_range"] == [4 * q, 4 * q] and set(got["qp_by_type"]) == {"I", "P"}
    assert got["quantiser"] == "base_q_idx" and got["quantiser_max"] == 255
    assert read_video_encoding(path) == got  # the report's reader picks VP9 by the track's codec
    assert read_h264_encoding(path) is None  # and the H.264 reader leaves it alone


def test_the_default_rate_control_gives_each_frame_its_own_quantiser(clip, tmp_path):
    need_module("av")
    path = tmp_path / "clip.webm"
    load_script("benchmarks/video_clip.py").encode_clip(path, clip, {"cpu-used": "8"}, codec="libvpx-vp9")
    got = read_vp9_encoding(path)
    lo, hi = got["qp_range"]
    assert 0 <= lo < hi <= 255 and got["qp_by_type"]["I"] < got["qp_by_type"]["P"]  # the key frame finer


def _frames(path) -> list[bytes]:
    av = need_module("av")
    with av.open(str(path)) as f:
        return [bytes(p) for p in f.demux(video=0) if p.size]


def test_every_frame_of_a_superframe_counts(clip, tmp_path):
    """A superframe (two coded frames and the index after them, §B.3) reads as both frames; a sample
    whose index is damaged as its first frame alone."""
    encode(tmp_path / "a.webm", clip[:3], 20)
    encode(tmp_path / "b.webm", clip[:3], 40)
    first, second = _frames(tmp_path / "a.webm")[1], _frames(tmp_path / "b.webm")[2]
    marker = 0b11000000 | (3 << 3) | 1  # 4-byte sizes, 2 frames
    index = bytes([marker]) + len(first).to_bytes(4, "little") + len(second).to_bytes(4, "little") + bytes([marker])
    sample = first + second + index
    assert superframe_sizes(sample) == [len(first), len(second)]
    got = parse_sample(io.BytesIO(b"xx" + sample), 2, len(sample))
    assert [(g["type"], g["qp"]) for g in got] == [("P", 80), ("P", 160)]
    assert superframe_sizes(sample[:-1] + b"\x00") is None  # not an index: one frame
    assert [g["qp"] for g in parse_sample(io.BytesIO(sample[:-1] + b"\x00"), 0, len(sample))] == [80]


def test_damaged_headers_read_as_nothing(clip, tmp_path):
    encode(tmp_path / "a.webm", clip[:2], 30)
    key = _frames(tmp_path / "a.webm")[0]
    assert parse_frame_header(key) == {"type": "I", "shown": True, "qp": 120, "profile": 0}
    with pytest.raises(Unreadable):
        parse_frame_header(b"\x00" + key[1:])  # no frame marker
    with pytest.raises(Unreadable):
        parse_frame_header(key[:3])  # cut short
    assert parse_sample(io.BytesIO(key[:5]), 0, 5) == []
    path = tmp_path / "a.webm"
    data = bytearray(path.read_bytes())
    for frame in _frames(path):  # every frame's marker broken: nothing to read
        at = data.find(frame[:16])
        data[at] = 0
    broken = tmp_path / "broken.webm"
    broken.write_bytes(bytes(data))
    assert read_vp9_encoding(broken) is None
    assert read_vp9_encoding(tmp_path / "missing.webm") is None
