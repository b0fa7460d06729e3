"""dfrec.containers: the track kinds of Matroska/WebM and AVI files FFmpeg's muxers wrote (PyAV),
against FFmpeg's own demuxers."""

from __future__ import annotations

import numpy as np
import pytest

from needs import need_module

from dfrec.containers import avi_stream_types, matroska_track_types, track_handlers


def write(path, video: bool, audio: bool) -> None:
    av = need_module("av")
    with av.open(str(path), "w") as out:
        v = a = None
        if video:
            v = out.add_stream("mpeg4", rate=10)
            v.width = v.height = 32
            v.pix_fmt = "yuv420p"
        if audio:
            a = out.add_stream("pcm_s16le", rate=8000)
        for i in range(3):
            if v is not None:
                out.mux(v.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 50 * i, np.uint8), format="rgb24")))
            if a is not None:
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
                frame.sample_rate, frame.pts = 8000, 800 * i
                out.mux(a.encode(frame))
        for s in (v, a):
            if s is not None:
                out.mux(s.encode())


def ffmpeg_kinds(path) -> list[str]:
    import av

    with av.open(str(path)) as f:
        return [s.type for s in f.streams]


@pytest.mark.parametrize("video, audio", [(True, True), (False, True), (True, False)])
def test_track_kinds_match_ffmpeg(tmp_path, video, audio):
    """Video and sound, sound alone, video alone: each container's reader lists what FFmpeg's demuxer
    lists, and the other readers say the file is not theirs."""
    for suffix in (".mkv", ".avi", ".mp4"):
        path = tmp_path / f"clip{suffix}"
        write(path, video, audio)
        assert ffmpeg_kinds(path) == ["video"] * video + ["audio"] * audio
        with open(path, "rb") as f:
            mkv, avi, iso = matroska_track_types(f), avi_stream_types(f), track_handlers(f)
        if suffix == ".mkv":
            assert mkv == [1] * video + [2] * audio and avi is None and iso is None
        elif suffix == ".avi":
            assert avi == [b"vids"] * video + [b"auds"] * audio and mkv is None and iso is None
        else:
            assert iso == ["vide"] * video + ["soun"] * audio and mkv is None and avi is None


def test_other_files_have_no_track_kinds(tmp_path, fixture_dir):
    """A photo and a Matroska file cut inside its header list no tracks."""
    cut = tmp_path / "cut.mkv"
    write(tmp_path / "clip.mkv", True, True)
    cut.write_bytes((tmp_path / "clip.mkv").read_bytes()[:30])
    for path in (fixture_dir / "obama.jpg", cut):
        with open(path, "rb") as f:
            assert matroska_track_types(f) is None and avi_stream_types(f) is None and track_handlers(f) is None
