"""dfrec.encoder_settings: the settings x264 and x265 write into the stream, read back from real
encodes (PyAV's libx264 and libx265, the test extra's ``av``) in every container the readers walk,
and the same text as FFmpeg's decoder exports it."""

from __future__ import annotations

import numpy as np
import pytest

from needs import need_module
from repo_scripts import load_script

from dfrec.encoder_settings import encoder_settings, encoder_words, parse_settings, sei_payloads, software_encoder_note
from dfrec.hevc import read_video_encoding

X264_CRF = ("x264 - core 164 r3108 31e19f9 - H.264/MPEG-4 AVC codec - Copyleft 2003-2023 - "
            "http://www.videolan.org/x264.html - options: cabac=1 ref=3 deblock=1:0:0 analyse=0x3:0x113 me=hex "
            "subme=7 psy=1 psy_rd=1.00:0.00 ... rc_lookahead=40 rc=crf mbtree=1 crf=23.0 qcomp=0.60 qpmin=0 "
            "qpmax=69 qpstep=4 ip_ratio=1.40 aq=1:1.00")
X265_2PASS = ("x265 (build 199) - 3.5+1-f0c1022b6:[Linux][GCC 11.2.0][64 bit] 8bit+10bit+12bit - H.265/HEVC codec - "
              "Copyright 2013-2018 (c) Multicoreware, Inc - http://x265.org - options: cpuid=1111039 frame-threads=4 "
              "rc=2 pass bitrate=1500 qcomp=0.60 qpstep=4 stats-write=0 stats-read=2 aq-mode=2 aq-strength=1.00")


def sei_nal(*messages: tuple[int, bytes], header: bytes = b"\x06") -> bytes:
    """An SEI NAL unit of ``messages`` ((payloadType, payload)), with emulation prevention."""
    body = b""
    for kind, payload in messages:
        for value in (kind, len(payload)):
            body += b"\xff" * (value // 255) + bytes([value % 255])
        body += payload
    body += b"\x80"
    escaped, zeros = bytearray(), 0
    for byte in body:
        if zeros >= 2 and byte <= 3:
            escaped.append(3)
            zeros = 0
        escaped.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return header + bytes(escaped)


def test_settings_text_is_parsed():
    """x264's CRF run, x265's two-pass run; constant QP, ABR, CBR; another encoder's text is not read."""
    x264 = parse_settings(X264_CRF)
    assert x264["name"] == "x264" and x264["version"] == "core 164 r3108 31e19f9"
    assert (x264["rate_control"], x264["crf"], x264["qp"], x264["bitrate_kbps"], x264["aq"]) == ("crf", 23.0, None, None,
                                                                                                  "1:1.00")
    assert x264["settings"].startswith("cabac=1 ref=3") and x264["settings"].endswith("aq=1:1.00")
    assert encoder_words(x264) == "x264 core 164 r3108 31e19f9 at CRF 23"
    x265 = parse_settings(X265_2PASS)
    assert x265["name"] == "x265" and x265["version"] == "3.5+1-f0c1022b6 (build 199)"
    assert (x265["rate_control"], x265["crf"], x265["bitrate_kbps"], x265["aq"]) == ("2pass", None, 1500.0, "2")
    assert encoder_words(x265) == "x265 3.5+1-f0c1022b6 (build 199) in two passes at 1500 kbit/s"
    cqp = parse_settings(X264_CRF.replace("rc=crf mbtree=1 crf=23.0", "rc=cqp mbtree=0 qp=30").replace("aq=1:1.00", "aq=0"))
    assert (cqp["rate_control"], cqp["crf"], cqp["qp"], cqp["aq"]) == ("cqp", None, 30.0, "0")
    assert encoder_words(cqp).endswith("at a constant QP of 30")
    for rc, words in (("abr", "at an average 800 kbit/s"), ("cbr", "at a constant 800 kbit/s")):
        got = parse_settings(X264_CRF.replace("rc=crf mbtree=1 crf=23.0", f"rc={rc} mbtree=1 bitrate=800 ratetol=1.0"))
        assert got["rate_control"] == rc and got["bitrate_kbps"] == 800.0 and encoder_words(got).endswith(words)
    assert parse_settings("Lavc60.3.100 libx264") is None and parse_settings("") is None


def test_sei_messages_are_split_and_the_settings_found_among_them():
    """Several messages in one SEI unit, sizes of 255 and more (0xFF runs), emulation prevention in
    the payload, a truncated last message; only a user_data_unregistered message (5) is read."""
    uuid = bytes(range(0xdc, 0xec))
    text = X264_CRF.encode() + b"\x00"
    timing = (1, b"\x00\x00\x01\x02")  # pic_timing, with bytes that need emulation prevention
    nal = sei_nal(timing, (5, uuid + text))
    from dfrec.h264 import rbsp

    payloads = sei_payloads(rbsp(nal))
    assert [k for k, _ in payloads] == [1, 5] and payloads[0][1] == timing[1] and payloads[1][1] == uuid + text
    assert len(uuid + text) > 255
    assert encoder_settings(rbsp(nal))["crf"] == 23.0
    assert encoder_settings(rbsp(sei_nal(timing, (4, uuid + text)))) is None  # registered user data: not read
    assert encoder_settings(rbsp(sei_nal((5, uuid + b"some other encoder\x00")))) is None
    cut = rbsp(nal)[:-40]
    assert sei_payloads(cut)[-1][0] == 5 and encoder_settings(cut)["crf"] == 23.0  # cut in the options: still read
    hevc = sei_nal((5, uuid + X265_2PASS.encode()), header=b"\x4e\x01")
    assert encoder_settings(rbsp(hevc, 2))["name"] == "x265"


@pytest.mark.parametrize("codec, options, stated", [
    ("libx264", {"crf": "23"}, ("crf", 23.0)),
    ("libx264", {"qp": "30"}, ("cqp", 30.0)),
    ("libx264", {"b": "300k"}, ("abr", 300.0)),
    ("libx265", {"crf": "28", "x265-params": "log-level=error"}, ("crf", 28.0)),
    ("libx265", {"b": "300k", "x265-params": "log-level=error"}, ("abr", 300.0)),
])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_real_encodes_state_their_settings_in_every_container(panning_face, tmp_path, codec, options, stated, suffix):
    """What the encoder was told comes back from the file, from the first access unit (x264) or
    the sample description's parameter set arrays (x265 in MP4 and Matroska), and the text is the
    one FFmpeg's decoder exports (PyAV's SEI side data)."""
    av = need_module("av")
    clips = load_script("benchmarks/video_clip.py")
    path = tmp_path / f"clip{suffix}"
    clips.encode_clip(path, panning_face(6), options, codec=codec)
    enc = read_video_encoding(path)["encoder"]
    rc, value = stated
    assert enc["name"] == codec[3:] and enc["rate_control"] == rc
    assert value == {"crf": enc["crf"], "cqp": enc["qp"], "abr": enc["bitrate_kbps"]}[rc]
    if codec == "libx264":
        with av.open(str(path)) as f:
            sei = next(f.decode(video=0)).side_data.get(av.sidedata.sidedata.Type.SEI_UNREGISTERED)  # PyAV >= 18.1
        assert sei is not None and enc["settings"] in bytes(sei).decode("latin-1")


def test_a_stream_without_settings_has_no_encoder(panning_face, tmp_path):
    """The same encode with its settings message turned into filler data (as a remux that strips SEI
    leaves it, FFmpeg's ``-bsf:v filter_units=remove_types=6``): the reader says no encoder, still
    reads the QP, and the caveat goes by the slice headers."""
    need_module("av")
    from dfrec.results import lossy_save

    clips = load_script("benchmarks/video_clip.py")
    path = tmp_path / "clip.mp4"
    clips.encode_clip(path, panning_face(6), {"qp": "30"})
    data = bytearray(path.read_bytes())
    size_end = data.find(b"x264 - core") - 16  # the UUID before the text, the payload size before that
    start = size_end - 1
    while data[start - 1] == 0xFF:
        start -= 1
    assert data[start - 2:start] == b"\x06\x05"  # NAL header (SEI), payloadType 5
    data[start - 2] = 12  # filler data
    path.write_bytes(bytes(data))
    got = read_video_encoding(path)
    assert got["encoder"] is None and got["qp_by_type"]["P"] == 30 and np.isfinite(got["qp"])
    assert lossy_save({"video_encoding": got}) == ("h264", got["qp"], "slice_headers")


def test_a_software_encoded_stream_is_noted_and_more_so_under_a_phones_name():
    """x264 or x265 in the stream: made or re-encoded by software; with a phone or camera named in
    the container's metadata, the note says the two disagree; no note for a stream that states no
    such encoder."""
    x264 = parse_settings(X264_CRF)
    plain = software_encoder_note(x264, {"Encoder": "Lavf61.7.100"})
    assert plain.startswith("The video stream was encoded by x264, a software encoder")
    assert "(x264 core 164 r3108 31e19f9 at CRF 23, as it wrote into the stream)" in plain
    assert plain.endswith("made or re-encoded by software.") and "although" not in plain
    apple = software_encoder_note(x264, {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15 Pro"})
    assert "although the file's metadata names Apple iPhone 15 Pro as the device that recorded it" in apple
    assert "names Canon EOS R5 as" in software_encoder_note(x264, {"Make": "Canon", "Model": "Canon EOS R5"})
    assert "names an Android phone as" in software_encoder_note(parse_settings(X265_2PASS), {"com.android.version": "14"})
    assert software_encoder_note(None, {"Make": "Apple"}) is None
    assert software_encoder_note({"name": "other"}, {}) is None
