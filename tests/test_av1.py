"""dfrec.av1: the quantiser index of an AV1 video read from its frame headers, checked frame by frame
against FFmpeg's own AV1 header parser (the ``trace_headers`` bitstream filter, through PyAV) on
SVT-AV1 encodes (PyAV's libsvtav1, the test extra's ``av``) of a real face panning, across
containers and the encoder options that change what a frame header holds; in-band sequence headers,
temporal delimiters and damaged samples."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ffmpeg_trace import traced_values
from needs import need_module
from repo_scripts import load_script

from dfrec.av1 import parse_sample, parse_sequence_header, read_av1_encoding, read_config
from dfrec.h264 import Unreadable, read_h264_encoding
from dfrec.hevc import read_video_encoding
from dfrec.vp9 import read_vp9_encoding


@pytest.fixture(scope="module")
def clip(panning_face) -> list[np.ndarray]:
    return panning_face(12)


def encode(path, frames, options: dict[str, str], pix_fmt: str = "yuv420p", container: dict | None = None) -> None:
    need_module("av")
    load_script("benchmarks/video_clip.py").encode_clip(path, frames, {"preset": "10", **options}, codec="libsvtav1",
                                                        pix_fmt=pix_fmt, container=container)


def reference(path) -> list[int]:
    """Every coded frame's base_q_idx in decoding order, as FFmpeg's AV1 parser logs it."""
    return traced_values(path, "base_q_idx")


def packets(path, bsf: str | None = None) -> tuple[bytes | None, list[bytes]]:
    """The track's configuration record (av1C) and its samples, through the bitstream filter ``bsf``."""
    av = need_module("av")
    with av.open(str(path)) as f:
        stream = f.streams.video[0]
        config = stream.codec_context.extradata
        out = list(f.demux(stream))
        if bsf:
            chain = av.bitstream.BitStreamFilterContext(bsf, stream)
            out = [q for p in out for q in chain.filter(p)]
        return config, [bytes(p) for p in out if p.size]


def read_all(config: bytes | None, samples: list[bytes]) -> list[int]:
    state: dict = {}
    if config:
        read_config(config, state)
    return [fr["qp"] for s in samples for fr in parse_sample(io.BytesIO(s), 0, len(s), state)]


@pytest.mark.parametrize("suffix, size, options, pix_fmt", [
    (".mp4", (128, 96), {"crf": "35"}, "yuv420p"),  # MP4 av01, as yt-dlp saves
    (".m4s", (128, 96), {"crf": "35"}, "yuv420p"),  # fragmented MP4, as YouTube's DASH serves it
    (".webm", (128, 96), {"crf": "50"}, "yuv420p"),
    (".mkv", (128, 96), {"crf": "20", "svtav1-params": "pred-struct=1"}, "yuv420p"),  # low delay: no hidden frames
    (".mp4", (1280, 720), {"crf": "30", "svtav1-params": "tile-columns=2:tile-rows=1"}, "yuv420p"),  # tile layout bits
    (".mp4", (320, 240), {"crf": "30", "svtav1-params": "superres-mode=1:superres-denom=12"}, "yuv420p"),  # use_superres
    (".mp4", (320, 240), {"crf": "30", "svtav1-params": "resize-mode=1:resize-denom=12"}, "yuv420p"),  # sizes by found_ref
    (".mp4", (320, 240), {"crf": "30", "g": "4", "svtav1-params": "irefresh-type=1"}, "yuv420p"),  # intra-only frames
    (".mp4", (320, 240), {"crf": "30", "svtav1-params": "enable-overlays=1"}, "yuv420p"),  # overlay frames
    (".webm", (320, 240), {"crf": "30"}, "yuv420p10le"),  # 10-bit Main
])
def test_every_frame_reads_as_ffmpeg_parses_it(panning_face, tmp_path, suffix, size, options, pix_fmt):
    import cv2

    frames = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in panning_face(12)]
    path = tmp_path / f"clip{suffix.replace('.m4s', '.mp4')}"
    encode(path, frames, options, pix_fmt, {"movflags": "frag_keyframe+empty_moov"} if suffix == ".m4s" else None)
    expected = reference(path)
    assert len(expected) >= len(frames)  # hidden frames are coded too
    assert read_all(*packets(path)) == expected
    got = read_av1_encoding(path)
    assert got["codec"] == "av1" and got["profile"] == "Main" and got["quantiser"] == "base_q_idx"
    assert got["frames_read"] == len(expected) and got["frames_in_file"] == len(frames)
    assert got["qp"] == np.median(expected) and got["qp_range"] == [min(expected), max(expected)]
    assert got["qp_by_type"]["I"] < got["qp_by_type"]["P"]  # the key frame finer
    assert read_video_encoding(path) == got  # the report's reader picks AV1 by the track's codec
    assert read_h264_encoding(path) is None and read_vp9_encoding(path) is None


def test_fixed_quantiser_reads_as_four_times_q(clip, tmp_path):
    """SVT-AV1 at a constant qp q with no per-layer offsets codes every frame at base_q_idx 4 q."""
    path = tmp_path / "clip.mp4"
    encode(path, clip, {"qp": "50", "svtav1-params": "rc=0:use-fixed-qindex-offsets=1"})
    got = read_av1_encoding(path)
    assert got["qp"] == 200 and got["qp_range"] == [200, 200]


@pytest.mark.parametrize("bsf", [
    "av1_metadata=td=insert",  # temporal delimiter OBUs ahead of each temporal unit
    "av1_metadata=tick_rate=8/1",  # timing info in the sequence header, no equal picture interval
    "av1_metadata=tick_rate=8/1:num_ticks_per_picture=1",  # equal_picture_interval: a uvlc to read past
])
def test_sequence_headers_in_the_stream_alone(clip, tmp_path, bsf):
    """Without the configuration record, the sequence header OBU ahead of the key frame is read (here
    rewritten by FFmpeg's av1_metadata filter); a frame before any sequence header reads as nothing."""
    path = tmp_path / "clip.mp4"
    encode(path, clip, {"crf": "40"})
    _, samples = packets(path, bsf)
    assert read_all(None, samples) == reference(path)
    assert read_all(None, samples[1:]) == []  # inter frames, no sequence header seen


def test_damaged_headers_read_as_nothing(clip, tmp_path):
    path = tmp_path / "clip.mp4"
    encode(path, clip[:4], {"crf": "40"})
    config, samples = packets(path)
    state: dict = {}
    read_config(config, state)
    seq = state["seq"]
    assert (seq["max_width"], seq["max_height"], seq["profile"]) == (128, 96, 0)
    with pytest.raises(Unreadable):
        parse_sequence_header(b"\xe0" + bytes(3))  # seq_profile 7
    with pytest.raises(Unreadable):
        parse_sequence_header(b"\x00")  # cut short
    key = samples[0]
    assert parse_sample(io.BytesIO(key[:len(key) // 2]), 0, len(key) // 2, dict(state)) == []  # OBU past the sample
    assert parse_sample(io.BytesIO(b"\x80" + key[1:]), 0, len(key), dict(state)) == []  # forbidden bit set
    read_config(config[:4] + b"\x0a\x05\x00", damaged := {})  # a damaged configuration is left out
    assert "seq" not in damaged
    data = bytearray(path.read_bytes())
    for sample in samples:  # every sample's first OBU header broken: nothing to read
        data[data.find(sample[:24])] |= 0x80
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    assert read_av1_encoding(broken) is None
    assert read_av1_encoding(tmp_path / "missing.mp4") is None
