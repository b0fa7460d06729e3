"""dfrec.mpegts: H.264 and HEVC in MPEG transport streams (broadcast, HLS, AVCHD), their quantiser
read from the PES packets' slice headers and checked against FFmpeg's own parser of the same file."""

from __future__ import annotations

import numpy as np
import pytest

from ffmpeg_trace import traced_values
from needs import need_module
from repo_scripts import load_script

from dfrec.h264 import read_h264_encoding
from dfrec.hevc import read_hevc_encoding, read_video_encoding
from dfrec.mpegts import annexb_nals, packet_layout


@pytest.fixture(scope="module")
def clip(panning_face) -> list[np.ndarray]:
    return panning_face(24)


def encode(path, frames, codec: str, options: dict[str, str]) -> None:
    """``frames`` coded by ``codec`` into ``path`` (its suffix picks the muxer: ``.ts`` 188-byte
    packets, ``.m2ts`` FFmpeg's BDAV mode, 192-byte packets with a timestamp ahead of each)."""
    need_module("av")
    if codec == "libx265":
        options = {**options, "x265-params": f"log-level=error:{options.pop('x265-params', '')}"}
    load_script("benchmarks/video_clip.py").encode_clip(path, frames, options, codec=codec)


def ffmpeg_qps(path, codec: str) -> list[int]:
    """Every slice's QP in decoding order, as FFmpeg's H.264/HEVC parser logs the file's headers
    (one picture parameter set, one slice per picture in these encodes)."""
    init = traced_values(path, "pic_init_qp_minus26" if codec == "h264" else "init_qp_minus26")
    assert len(set(init)) == 1
    return [26 + init[0] + d for d in traced_values(path, "slice_qp_delta")]


@pytest.mark.parametrize("suffix, codec, options, packet, profile", [
    (".ts", "libx264", {"crf": "30"}, 188, "High"),  # as HLS segments and broadcast captures hold it
    (".m2ts", "libx264", {"crf": "30", "x264-params": "keyint=8"}, 192, "High"),  # AVCHD / Blu-ray packets
    (".ts", "libx264", {"crf": "30", "x264-params": "interlaced=1"}, 188, "High"),  # broadcast: field coding
    (".ts", "libx264", {"crf": "30", "x264-params": "bframes=0:cabac=0"}, 188, "High"),
    (".ts", "libx265", {"crf": "30"}, 188, "Main"),
    (".m2ts", "libx265", {"crf": "30", "x265-params": "keyint=8:open-gop=1"}, 192, "Main"),
])
def test_every_picture_reads_as_ffmpeg_parses_it(clip, tmp_path, suffix, codec, options, packet, profile):
    path = tmp_path / f"clip{suffix}"
    encode(path, clip, codec, options)
    data = path.read_bytes()
    assert packet_layout(data[:2048]) == (4 if packet == 192 else 0, packet)
    name = "h264" if codec == "libx264" else "hevc"
    expected = ffmpeg_qps(path, name)
    assert len(expected) == len(clip)
    got = read_video_encoding(path)
    assert got["codec"] == name and got["profile"] == profile
    assert got["frames_read"] == got["frames_in_file"] == len(clip)
    assert got["qp"] == np.median(expected) and got["qp_range"] == [min(expected), max(expected)]
    assert (read_h264_encoding if name == "h264" else read_hevc_encoding)(path) == got
    assert (read_hevc_encoding if name == "h264" else read_h264_encoding)(path) is None


def test_the_same_stream_reads_alike_in_a_transport_stream_and_an_mp4(clip, tmp_path):
    """One x264 encode, muxed both ways: the transport stream's reading is the MP4's, frame for frame
    (frame types and QPs by type included)."""
    av = need_module("av")
    encode(tmp_path / "clip.ts", clip, "libx264", {"crf": "33"})
    with av.open(str(tmp_path / "clip.ts")) as src, av.open(str(tmp_path / "clip.mp4"), "w") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    got = read_video_encoding(tmp_path / "clip.ts")
    assert got["frames_read"] == len(clip) and set(got["qp_by_type"]) == {"I", "P", "B"}
    assert read_video_encoding(tmp_path / "clip.mp4") == got


def test_a_capture_cut_anywhere_reads_from_its_next_key_frame(clip, tmp_path):
    """A recording that starts mid-packet and mid-picture (a cut broadcast capture) has no parameter
    sets until its next key frame: the pictures before it read as nothing, the rest as FFmpeg reads
    the whole file; one that ends mid-packet reads as far as it goes."""
    encode(tmp_path / "whole.ts", clip, "libx264", {"qp": "30", "x264-params": "keyint=6:bframes=0"})
    data = (tmp_path / "whole.ts").read_bytes()
    (tmp_path / "cut.ts").write_bytes(data[188 * 40 + 77:len(data) - 100])
    got = read_video_encoding(tmp_path / "cut.ts")
    assert got is not None and 0 < got["frames_read"] < got["frames_in_file"] < len(clip)
    assert got["qp_by_type"] == {"I": 27.0, "P": 30.0}  # x264 at qp 30 codes I frames 3 finer


def test_other_streams_and_damaged_files_read_as_none(clip, tmp_path):
    encode(tmp_path / "mpeg2.ts", clip, "mpeg2video", {})  # a codec whose quantiser dfrec does not read
    assert read_video_encoding(tmp_path / "mpeg2.ts") is None
    rng = np.random.default_rng(3)
    (tmp_path / "noise.ts").write_bytes(rng.integers(0, 256, 50_000, np.uint8).tobytes())
    assert read_video_encoding(tmp_path / "noise.ts") is None
    packets = np.full((40, 188), 0xFF, np.uint8)
    packets[:, 0] = 0x47  # sync bytes and nothing else: no program tables
    (tmp_path / "empty.ts").write_bytes(packets.tobytes())
    assert read_video_encoding(tmp_path / "empty.ts") is None
    encode(tmp_path / "good.ts", clip, "libx264", {"qp": "30"})
    data = bytearray((tmp_path / "good.ts").read_bytes())
    data[188 * 5 + 4:] = rng.integers(0, 256, len(data) - 188 * 5 - 4, np.uint8).tobytes()
    (tmp_path / "garbled.ts").write_bytes(bytes(data))
    got = read_video_encoding(tmp_path / "garbled.ts")  # the tables survive, the pictures do not
    assert got is None or got["qp_by_type"].get("P", 30) == 30


@pytest.mark.parametrize("order", [("mpeg2video", "libx264"), ("libx264", "mpeg2video")])
def test_a_multiplex_reads_the_video_stream_opencv_decodes(tmp_path, order):
    """Two video streams in one transport stream (a recorded multiplex): OpenCV decodes the first
    (FFmpeg's first video stream), and the reader reads that one's quantiser, or none where it is
    MPEG-2, never the H.264 stream behind it."""
    import cv2

    av = need_module("av")
    path = tmp_path / "mux.ts"
    with av.open(str(path), "w") as out:
        streams = []
        for codec in order:
            st = out.add_stream(codec, rate=10, options={"qp": "30"} if codec == "libx264" else {})
            st.width = st.height = 64
            st.pix_fmt = "yuv420p"
            streams.append(st)
        for i in range(6):
            for st in streams:
                out.mux(st.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")))
        for st in streams:
            out.mux(st.encode())
    cap = cv2.VideoCapture(str(path))
    decoded = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    cap.release()
    got = read_video_encoding(path)
    if order[0] == "mpeg2video":
        assert decoded == b"mpg2" and got is None
    else:
        assert decoded == b"h264" and got["codec"] == "h264" and got["qp_by_type"]["P"] == 30


def test_packet_layouts_and_annexb_units():
    ts = bytes(b for k in range(10) for b in [0x47] + [k] * 187)
    assert packet_layout(ts) == (0, 188)
    assert packet_layout(b"\x00" * 60 + ts) == (60, 188)  # a file cut mid-packet
    assert packet_layout(b"\x00" * 60 + ts, range(5)) is None  # the sniffer wants a whole file
    m2ts = bytes(b for k in range(10) for b in [1, 2, 3, 4, 0x47] + [k] * 187)
    assert packet_layout(m2ts) == (4, 192)
    assert packet_layout(bytes(b for k in range(10) for b in [0x47] + [k] * 203)) == (0, 204)
    assert packet_layout(ts[:188 * 2]) is None and packet_layout(b"") is None  # 3 sync bytes at least
    stream = b"\x00\x00\x00\x01\x67\x64\x00\x00\x00\x01\x68\xee\x00\x00\x00\x00\x01\x65\x88\x00\x01\x02"
    assert list(annexb_nals(stream)) == [b"\x67\x64", b"\x68\xee", b"\x65\x88\x00\x01\x02"]
    assert list(annexb_nals(b"junk")) == []
