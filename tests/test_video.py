"""Video recovery beyond the basics in test_recover.py: scene cuts split tracks, tracks come
longest first, each track's representative frame is the one where its face is largest among
the frames whose own score agrees with the track's verdict, and a container that reports no
frame rate falls back to 25 fps.

Real faces (the public-domain fixtures) in real MJPG videos written with OpenCV; the tiny
randomly initialised checkpoint of conftest.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfrec.results import paste_faces, verdict
from dfrec.video import FALLBACK_FPS, sample_frames, video_info

H, W = 300, 420


def _write(path, frames, fps):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert vw.isOpened()
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def _frame(face: np.ndarray, scale: float, x: int, y: int) -> np.ndarray:
    """A grey frame with ``face`` resized by ``scale`` and placed with its top-left at (x, y)."""
    img = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = np.full((H, W, 3), 120, np.uint8)
    h, w = min(img.shape[0], H - y), min(img.shape[1], W - x)
    out[y:y + h, x:x + w] = img[:h, :w]
    return out


@pytest.fixture(scope="module")
def recoverer(tiny_checkpoint):
    from dfrec.recover import Recoverer

    return Recoverer.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def people(fixture_dir):
    from dfrec.io import read_image

    def small(name):
        img = read_image(fixture_dir / name)
        s = 240 / max(img.shape[:2])
        return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)

    return small("obama.jpg"), small("biden.jpg")


@pytest.fixture(scope="module")
def cut_video(people, tmp_path_factory):
    """8 frames at 4 fps: Biden on the left (frames 0-1), a cut to Obama on the right whose face
    grows then shrinks (frames 2-5, largest at frame 3), a cut back to Biden on the left (6-7)."""
    obama, biden = people
    frames = [_frame(biden, 1.0, 10, 20)] * 2
    frames += [_frame(obama, s, 200, 30) for s in (0.85, 1.0, 0.9, 0.8)]
    frames += [_frame(biden, 1.0, 10, 20)] * 2
    return _write(tmp_path_factory.mktemp("video") / "cuts.avi", frames, fps=4), frames


def test_cuts_tracks_order_and_representative_frame(recoverer, cut_video):
    path, _ = cut_video
    video = recoverer.recover_video(path, fps=0)
    assert video.frames_sampled == 8 and video.frames_with_faces == 8
    # a cut ends a track: Biden before the cut, Obama, and Biden again after more than two
    # sampled frames without him is a third track (the tracker has no appearance model)
    assert [[f["frame"] for f in t.frames] for t in video.tracks] == [[2, 3, 4, 5], [0, 1], [6, 7]]
    # longest first, ties by first appearance; face.index follows that order
    assert [t.track_id for t in video.tracks] == [1, 0, 2]
    assert [t.face.index for t in video.tracks] == [0, 1, 2]
    obama = video.tracks[0]
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (np.array(f["box"]) for f in obama.frames)]
    assert obama.frames[int(np.argmax(areas))]["frame"] == 3  # the frame where the face was drawn largest
    # the representative: the largest face among the frames that agree with the track's verdict
    agree = [i for i, f in enumerate(obama.frames) if verdict(f["score_fake"]) == verdict(obama.score_fake)]
    rep = obama.frames[max(agree, key=lambda i: areas[i])]
    assert obama.frame_index == rep["frame"] and obama.frame_time == pytest.approx(rep["time"])
    assert np.allclose(obama.face.box, rep["box"], atol=0.1)
    assert verdict(obama.face.score_fake) == verdict(obama.score_fake)
    # the representative recovery is the one of that frame, pasted back into that frame
    decoded = [f.image for f in sample_frames(path, fps=0)]
    again = recoverer.recover(decoded[rep["frame"]], paste=False)[0]
    np.testing.assert_array_equal(again.target, obama.face.target)
    expect = paste_faces(decoded[rep["frame"]], [again], "target", recoverer.feather)
    np.testing.assert_array_equal(obama.face.target_frame, expect)
    other = 2 if rep["frame"] != 2 else 3
    assert not np.array_equal(obama.face.target_frame, paste_faces(decoded[other], [again], "target", recoverer.feather))
    # the track's score is the mean of its frames' scores; the dict says which frame represents it
    d = obama.to_dict()
    assert d["representative_frame"] == rep["frame"] and d["n_frames"] == 4
    assert d["score_fake"] == pytest.approx(np.mean([f["score_fake"] for f in obama.frames]), abs=1e-6)


@pytest.mark.parametrize("largest, rest", [(0.9, 0.1), (0.1, 0.9)])
def test_representative_frame_agrees_with_the_track_verdict(recoverer, cut_video, monkeypatch, largest, rest):
    """The frame where Obama's face is largest (3) reads the other way from his other three: the
    track's verdict is the three's, so its pictures come from the largest of them (4, drawn at
    0.9), never from the frame that contradicts the verdict."""
    path, _ = cut_video
    calls = iter(range(8))
    recover = recoverer.recover

    def scored(image, **kw):
        recs, frame = recover(image, **kw), next(calls)
        for r in recs:
            if 2 <= frame <= 5:
                r.score_fake = largest if frame == 3 else rest
        return recs

    monkeypatch.setattr(recoverer, "recover", scored)
    obama = recoverer.recover_video(path, fps=0).tracks[0]
    assert [f["frame"] for f in obama.frames] == [2, 3, 4, 5]
    assert verdict(obama.score_fake) == verdict(rest)
    assert obama.frame_index == 4 and obama.face.score_fake == rest
    d = obama.to_dict()
    assert d["representative_frame"] == 4 and d["representative_score_fake"] == rest
    assert d["score_fake_max"] == max(largest, rest)  # the contradicting frame is still on record


_VideoCapture = cv2.VideoCapture


class _NoFpsCapture:
    """A capture whose container reports no frame rate (0 or NaN), as some backends and streams
    do; everything else is a real ``cv2.VideoCapture``. (A wrapper, not a subclass: a Python
    subclass of cv2.VideoCapture crashed the interpreter when garbage-collected.)"""

    reported = 0.0

    def __init__(self, *args):
        self._cap = _VideoCapture(*args)

    def get(self, prop):
        return self.reported if prop == cv2.CAP_PROP_FPS else self._cap.get(prop)

    def __getattr__(self, name):
        return getattr(self._cap, name)


@pytest.mark.parametrize("reported", [0.0, float("nan")])
def test_missing_frame_rate_falls_back_to_25_fps(people, tmp_path, monkeypatch, reported):
    frames = [_frame(people[1], 1.0, 10, 20)] * 30
    path = _write(tmp_path / "v.avi", frames, fps=10)
    assert video_info(path).fps == pytest.approx(10)  # the real container first
    monkeypatch.setattr(_NoFpsCapture, "reported", reported)
    monkeypatch.setattr(cv2, "VideoCapture", _NoFpsCapture)
    info = video_info(path)
    assert info.fps == FALLBACK_FPS == 25.0 and info.frame_count == 30
    assert info.duration == pytest.approx(30 / 25)
    got = list(sample_frames(path, fps=5))  # every 5th frame at 25 fps
    assert [f.index for f in got] == [0, 5, 10, 15, 20, 25]
    assert [f.time for f in got] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])


def _rotate_mp4(path, degrees_cw: int) -> None:
    """Mark an MP4's video track "turn {degrees_cw} clockwise to display", as a phone does for video
    recorded upright on its sideways sensor: the rotation matrix in the track header (``tkhd``)."""
    import struct

    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0
    fixed = 4 * 5 if data[i + 4] == 0 else 8 * 3 + 4 * 2  # version 0 / 1 times, track id, reserved, duration
    at = i + 4 + 4 + fixed + 8 + 8  # + reserved, layer, group, volume, reserved: the 3 x 3 matrix
    c, s = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees_cw]
    data[at:at + 36] = struct.pack(">9i", c << 16, s << 16, 0, -s << 16, c << 16, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))


def test_phone_video_rotation_is_applied_and_recorded(people, tmp_path, recoverer):
    """A phone video stored sideways with a rotation in its container: frames come out upright,
    the face is found, and the rotation is recorded for the report."""
    upright = _frame(people[0], 1.0, 40, 20)  # (H, W) = (300, 420)
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # what the sensor wrote: 90° counter-clockwise
    path = tmp_path / "IMG_0007.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 4, (stored.shape[1], stored.shape[0]))
    for _ in range(4):
        vw.write(cv2.cvtColor(stored, cv2.COLOR_RGB2BGR))
    vw.release()
    _rotate_mp4(path, 90)
    info = video_info(path)
    assert (info.rotation, info.width, info.height) == (90, W, H)
    frame = next(sample_frames(path, fps=1))
    assert frame.image.shape == upright.shape
    assert np.abs(frame.image.astype(int) - upright).mean() < 6  # upright, to within the codec
    video = recoverer.recover_video(path, fps=1)
    assert video.info.rotation == 90 and len(video.tracks) == 1


@pytest.mark.parametrize("suffix, codec, sample_format", [
    (".mp4", "aac", "fltp"), (".ts", "aac", "fltp"), (".mkv", "aac", "fltp"), (".webm", "libopus", "s16"),
    (".avi", "pcm_s16le", "s16"),
])
def test_a_sound_recording_is_refused_as_such(tmp_path, suffix, codec, sample_format):
    """An MP4 (a voice memo's container), transport stream, Matroska/WebM (MKA) or AVI holding sound
    alone is not called corrupt: the error says there is no video stream in it."""
    from needs import need_module

    from dfrec.errors import InputError
    from dfrec.video import video_info

    av = need_module("av")
    path = tmp_path / f"memo{suffix}"
    rate = 48000 if codec == "libopus" else 44100
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        for i in range(10):
            samples = np.zeros((1, 960 if codec == "libopus" else 1024), np.float32 if sample_format == "fltp" else np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format=sample_format, layout="mono")
            frame.sample_rate, frame.pts = rate, i * samples.shape[1]
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    words = "a transport stream of sound or data only" if suffix == ".ts" else "sound only"
    with pytest.raises(InputError, match=f"cannot open as a video \\(it holds no video stream: {words}\\)$"):
        video_info(path)
