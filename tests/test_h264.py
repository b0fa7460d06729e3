"""dfrec.h264: the quantiser of an H.264 video read from its slice headers, checked against x264
encodes at a fixed QP (PyAV's libx264, the test extra's ``av``) of a real face panning."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from needs import need_module
from repo_scripts import load_script

from dfrec.h264 import read_h264_encoding


@pytest.fixture(scope="module")
def clip(panning_face) -> list[np.ndarray]:
    return panning_face(12)


@pytest.fixture(scope="module")
def encode():
    need_module("av")
    return load_script("benchmarks/video_clip.py").encode_clip


@pytest.mark.parametrize("qp", [20, 36])
def test_fixed_qp_is_read_from_the_slice_headers(encode, clip, tmp_path, qp):
    """x264 at a fixed QP codes its P frames at that QP, its I frames lower and its B frames higher
    (its ip/pb ratios): the reader finds exactly that, in every frame, with the profile."""
    path = tmp_path / "clip.mp4"
    encode(path, clip, {"qp": str(qp)})
    got = read_h264_encoding(path)
    assert got["codec"] == "h264" and got["profile"] == "High"
    assert got["frames_read"] == got["frames_in_file"] == len(clip)
    assert got["qp_by_type"]["P"] == qp and got["qp_by_type"]["I"] < qp < got["qp_by_type"]["B"]
    assert got["qp_range"][0] == got["qp_by_type"]["I"] and qp - 4 <= got["qp"] <= qp + 3


@pytest.mark.parametrize("suffix, options, pix_fmt, profile, p_qp", [
    (".mov", {"qp": "30", "x264-params": "bframes=0:weightp=0"}, "yuv420p", "High", 30),  # QuickTime, no B frames
    (".mkv", {"qp": "30"}, "yuv420p", "High", 30),  # Matroska, as OBS and yt-dlp write
    (".mp4", {"qp": "30", "profile": "baseline"}, "yuv420p", "Baseline", 30),  # CAVLC, no B frames
    (".mp4", {"qp": "28", "x264-params": "interlaced=1"}, "yuv420p", "High", 28),  # field / MBAFF coding
    (".mp4", {"qp": "30"}, "yuv444p", "High 4:4:4 Predictive", 30),  # 4:4:4 chroma
    (".mp4", {"qp": "30"}, "yuv420p10le", "High 10", 18),  # 10-bit: x264's QP 30 is 30 - 12 on the 8-bit scale
])
def test_containers_profiles_and_codings(encode, clip, tmp_path, suffix, options, pix_fmt, profile, p_qp):
    path = tmp_path / f"clip{suffix}"
    encode(path, clip, options, pix_fmt=pix_fmt)
    got = read_h264_encoding(path)
    assert got["profile"] == profile and got["qp_by_type"]["P"] == p_qp
    assert got["frames_read"] == len(clip)


def test_frames_are_read_evenly_up_to_max_frames(encode, clip, tmp_path):
    path = tmp_path / "long.mp4"
    encode(path, clip * 5, {"crf": "30"})
    got = read_h264_encoding(path, max_frames=10)
    assert got["frames_in_file"] == 60 and got["frames_read"] == 10
    assert read_h264_encoding(path)["frames_read"] == 60


def test_coarser_crf_reads_as_higher_qp(encode, clip, tmp_path):
    qps = []
    for crf in (18, 28, 40):
        encode(tmp_path / f"crf{crf}.mp4", clip, {"crf": str(crf)})
        qps.append(read_h264_encoding(tmp_path / f"crf{crf}.mp4")["qp"])
    assert qps == sorted(qps) and qps[-1] - qps[0] >= 15


def test_other_codecs_and_damaged_files_read_as_none(encode, clip, tmp_path):
    """HEVC, VP9, MPEG-4 Part 2 and Motion JPEG videos, a picture, random bytes and an H.264 file cut
    short are not H.264 slice headers this reader can vouch for: None, never an exception."""
    encode(tmp_path / "hevc.mp4", clip, {"qp": "30"}, codec="libx265")
    encode(tmp_path / "hevc.mkv", clip, {"qp": "30"}, codec="libx265")
    encode(tmp_path / "vp9.webm", clip, {"crf": "30", "b": "0"}, codec="libvpx-vp9")
    for fourcc, name in (("mp4v", "mpeg4.mp4"), ("MJPG", "mjpeg.avi")):
        vw = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*fourcc), 25, (128, 96))
        for f in clip:
            vw.write(f)
        vw.release()
    cv2.imwrite(str(tmp_path / "picture.jpg"), clip[0])
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name in ("hevc.mp4", "hevc.mkv", "vp9.webm", "mpeg4.mp4", "mjpeg.avi", "picture.jpg", "noise.mp4", "empty.mp4",
                 "missing.mp4"):
        assert read_h264_encoding(tmp_path / name) is None, name
    encode(tmp_path / "whole.mp4", clip, {"qp": "30"})
    data = (tmp_path / "whole.mp4").read_bytes()
    for cut in (len(data) // 4, len(data) // 2, len(data) - 9):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        got = read_h264_encoding(tmp_path / "cut.mp4")
        assert got is None or got["qp_by_type"].get("P", 30) == 30
    encode(tmp_path / "whole.mkv", clip, {"qp": "30"})  # Matroska cut short: the frames before the cut
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[:len(data) * 9 // 10])
    got = read_h264_encoding(tmp_path / "cut.mkv")
    assert 0 < got["frames_read"] < len(clip) and got["qp_range"][0] >= 27 and got["qp_range"][1] <= 32


def test_a_damaged_sample_count_is_bounded(encode, clip, tmp_path):
    """A sample table claiming four billion frames (a damaged stsz box) reads at once, without
    allocating for them."""
    encode(tmp_path / "whole.mp4", clip, {"qp": "30", "x264-params": "bframes=0"})
    data = bytearray((tmp_path / "whole.mp4").read_bytes())
    at = data.index(b"stsz") + 4 + 8  # version/flags, then sample_size (0: sizes listed), then the count
    assert int.from_bytes(data[at:at + 4], "big") == len(clip)
    data[at:at + 4] = (0xFFFFFFF0).to_bytes(4, "big")
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    got = read_h264_encoding(tmp_path / "damaged.mp4")
    assert got is None or got["qp_by_type"]["P"] == 30


@pytest.mark.parametrize("movflags", ["faststart", "frag_keyframe+empty_moov", "frag_every_frame+empty_moov+default_base_moof"])
def test_fast_start_and_fragmented_mp4(clip, tmp_path, movflags):
    """An MP4 whose index comes first (``faststart``, as sites serve them) or whose frames sit in
    ``moof`` fragments (DASH segments, some recorders) reads as the plain MP4 does."""
    need_module("av")
    clips = load_script("benchmarks/video_clip.py")
    clips.encode_clip(tmp_path / "clip.mp4", clip * 3, {"qp": "30", "x264-params": "keyint=10"},
                      container={"movflags": movflags})
    got = read_h264_encoding(tmp_path / "clip.mp4")
    assert got["frames_read"] == got["frames_in_file"] == 3 * len(clip) and got["qp_by_type"]["P"] == 30
