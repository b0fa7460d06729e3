"""dfrec.hevc: the quantiser of an HEVC video read from its slice segment headers, checked against
x265 encodes at a fixed QP (PyAV's libx265, the test extra's ``av``) of a real face panning, across
the options that change what a slice header holds."""

from __future__ import annotations

import numpy as np
import pytest

from needs import need_module
from repo_scripts import load_script

from dfrec.h264 import read_h264_encoding
from dfrec.hevc import read_hevc_encoding, read_video_encoding


@pytest.fixture(scope="module")
def clip(panning_face) -> list[np.ndarray]:
    return panning_face(24)


@pytest.fixture(scope="module")
def encode():
    need_module("av")
    clips = load_script("benchmarks/video_clip.py")

    def run(path, frames, params, pix_fmt="yuv420p"):
        clips.encode_clip(path, frames, {"x265-params": f"log-level=error:{params}"}, codec="libx265", pix_fmt=pix_fmt)

    return run


@pytest.mark.parametrize("suffix, params, pix_fmt, profile", [
    (".mp4", "qp=30", "yuv420p", "Main"),
    (".mov", "qp=30", "yuv420p", "Main"),  # QuickTime, as iPhones record
    (".mkv", "qp=30", "yuv420p", "Main"),  # Matroska
    (".mp4", "qp=30:weightp=1:weightb=1", "yuv420p", "Main"),  # weighted prediction tables in P and B slices
    (".mp4", "qp=30:keyint=8:open-gop=1", "yuv420p", "Main"),  # CRA pictures and RASL frames
    (".mp4", "qp=30:sao=0:tmvp=0", "yuv420p", "Main"),
    (".mp4", "qp=30:bframes=4:b-pyramid=1:ref=4", "yuv420p", "Main"),  # long reference picture sets
    (".mp4", "qp=30:slices=2", "yuv420p", "Main"),
    (".mp4", "qp=30", "yuv420p10le", "Main 10"),
    (".mp4", "qp=30:tskip=1:signhide=1", "yuv444p", "Range extensions"),
])
def test_fixed_qp_is_read_from_the_slice_headers(encode, clip, tmp_path, suffix, params, pix_fmt, profile):
    """x265 at a fixed QP codes its P frames at that QP, its I frames 3 lower and its B frames higher:
    the reader finds exactly that in every frame."""
    path = tmp_path / f"clip{suffix}"
    encode(path, clip, params, pix_fmt)
    got = read_hevc_encoding(path)
    assert got["codec"] == "hevc" and got["profile"] == profile
    assert got["frames_read"] == got["frames_in_file"] == len(clip)
    assert got["qp_by_type"]["P"] == 30 and got["qp_by_type"]["I"] == 27 and got["qp_by_type"]["B"] > 30
    assert read_h264_encoding(path) is None  # and the H.264 reader leaves it alone


def test_fragmented_mp4(clip, tmp_path):
    need_module("av")
    load_script("benchmarks/video_clip.py").encode_clip(
        tmp_path / "frag.mp4", clip, {"x265-params": "log-level=error:qp=30:keyint=8"}, codec="libx265",
        container={"movflags": "frag_keyframe+empty_moov"})
    got = read_hevc_encoding(tmp_path / "frag.mp4")
    assert got["frames_read"] == len(clip) and got["qp_by_type"]["P"] == 30


def test_coarser_crf_reads_as_higher_qp_and_no_bframes_reads_p_only(encode, clip, tmp_path):
    qps = []
    for crf in (18, 28, 40):
        encode(tmp_path / f"crf{crf}.mp4", clip, f"crf={crf}")
        qps.append(read_hevc_encoding(tmp_path / f"crf{crf}.mp4")["qp"])
    assert qps == sorted(qps) and qps[-1] - qps[0] >= 15
    encode(tmp_path / "p.mp4", clip, "qp=34:bframes=0")
    assert read_hevc_encoding(tmp_path / "p.mp4")["qp_by_type"] == {"I": 31.0, "P": 34.0}


def test_h264_and_damaged_files_read_as_none(encode, clip, tmp_path):
    need_module("av")
    load_script("benchmarks/video_clip.py").encode_clip(tmp_path / "avc.mp4", clip, {"qp": "30"})
    assert read_hevc_encoding(tmp_path / "avc.mp4") is None
    assert read_video_encoding(tmp_path / "avc.mp4")["codec"] == "h264"  # either codec, one walk of the file
    encode(tmp_path / "hevc.mkv", clip, "qp=30")
    assert read_video_encoding(tmp_path / "hevc.mkv")["codec"] == "hevc"
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())
    assert read_hevc_encoding(tmp_path / "noise.mp4") is None and read_hevc_encoding(tmp_path / "missing.mp4") is None
    encode(tmp_path / "whole.mp4", clip, "qp=30")
    data = (tmp_path / "whole.mp4").read_bytes()
    for cut in (len(data) // 3, len(data) - 9):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        got = read_hevc_encoding(tmp_path / "cut.mp4")
        assert got is None or got["qp_by_type"].get("P", 30) == 30
