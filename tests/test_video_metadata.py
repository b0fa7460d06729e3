"""dfrec.video_metadata: what a video's container says made it, read from files FFmpeg's muxers
wrote (PyAV, the test extra's ``av``) and checked against what FFmpeg's demuxers read back; never a
location."""

from __future__ import annotations

import numpy as np
import pytest

from needs import need_module

from dfrec.io import METADATA_MAX_CHARS, METADATA_MAX_ENTRIES
from dfrec.video_metadata import video_metadata

PLACE = "+48.8584+002.2945/"


def write(path, tags: dict[str, str], options: dict[str, str] | None = None, codec: str = "libx264") -> None:
    """A 4-frame 64 x 64 video with container ``tags`` (FFmpeg's metadata keys)."""
    av = need_module("av")
    with av.open(str(path), "w", options=options or {}) as out:
        out.metadata.update(tags)
        stream = out.add_stream(codec, rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(4):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")))
        out.mux(stream.encode())


def ffmpeg_reads(path) -> set[str]:
    """Every tag value FFmpeg's demuxer reads from the file (container and streams)."""
    import av

    with av.open(str(path)) as f:
        return {*f.metadata.values(), *(v for s in f.streams for v in s.metadata.values())}


@pytest.mark.parametrize("suffix, tags, options, expected", [
    (".mp4", {"title": "Interview", "comment": "cut 3", "creation_time": "2024-05-01T12:00:00Z", "location": PLACE}, {},
     {"Title": "Interview", "Comment": "cut 3", "Created (movie header, UTC)": "2024-05-01T12:00:00Z"}),
    (".mov", {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15 Pro",
              "com.apple.quicktime.software": "17.4", "com.apple.quicktime.location.ISO6709": PLACE},
     {"movflags": "use_metadata_tags"},  # QuickTime metadata keys, as an iPhone writes them
     {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15 Pro",
      "com.apple.quicktime.software": "17.4"}),
    (".mkv", {"title": "Interview", "creation_time": "2024-05-01T12:00:00Z", "COMMENT": "cut 3", "location": PLACE}, {},
     {"Title": "Interview", "DateUTC": "2024-05-01T12:00:00Z", "COMMENT": "cut 3"}),
])
def test_container_tags_are_read_as_ffmpeg_reads_them_and_never_a_location(tmp_path, suffix, tags, options, expected):
    path = tmp_path / f"clip{suffix}"
    write(path, tags, options)
    got = video_metadata(path)
    assert {k: got.get(k) for k in expected} == expected
    muxer = got.get("Encoder") or got.get("encoder") or got.get("MuxingApp")
    assert muxer and muxer.startswith("Lavf")  # FFmpeg's muxer names itself
    assert not any(PLACE in v or "location" in k.lower() for k, v in got.items())
    assert PLACE in ffmpeg_reads(path) or suffix == ".mov"  # the place was in the file
    times = {v for v in got.values() if v.endswith("Z")}
    assert set(got.values()) - times <= ffmpeg_reads(path)  # every text as FFmpeg reads it (dates in their own format)


def test_long_many_and_missing_tags(tmp_path, fixture_dir):
    """A text past METADATA_MAX_CHARS is cut with an ellipsis, entries stop at METADATA_MAX_ENTRIES;
    a WebM names its muxer; a picture, a truncated MP4 and a transport stream (no tags) read {}."""
    path = tmp_path / "many.mkv"
    write(path, {"title": "t" * 400, **{f"NOTE{i:02d}": f"n{i}" for i in range(20)}})
    got = video_metadata(path)
    assert got["Title"] == "t" * METADATA_MAX_CHARS + "…" and len(got) == METADATA_MAX_ENTRIES
    webm = tmp_path / "clip.webm"
    write(webm, {}, codec="libvpx-vp9")
    assert video_metadata(webm)["MuxingApp"].startswith("Lavf")
    mp4 = tmp_path / "clip.mp4"
    write(mp4, {"title": "x"}, {"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4.read_bytes()[:40])
    ts = tmp_path / "clip.ts"
    write(ts, {"title": "x"})
    assert video_metadata(fixture_dir / "obama.jpg") == video_metadata(cut) == {}
    assert video_metadata(ts) == {} and video_metadata(tmp_path / "missing.mp4") == {}
