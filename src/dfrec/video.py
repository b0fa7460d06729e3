"""Video input: sampling frames at a chosen rate and following faces across them.

``sample_frames`` decodes a video with OpenCV (``cv2.VideoCapture``) and yields RGB frames
at about ``fps`` frames per second of video time. ``FaceTracker`` links face boxes from one
sampled frame to the next by their overlap (IoU, matched with the Hungarian algorithm), so
that scores can be aggregated per person rather than per detection.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

# FFmpeg (inside OpenCV) prints decoder complaints such as "[mjpeg @ 0x...] overread 8" to
# stderr on damaged videos; dfrec reports such files itself, in one line. Read when the
# first video is opened; set OPENCV_FFMPEG_LOGLEVEL yourself to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np
from scipy.optimize import linear_sum_assignment

from dfrec.errors import InputError

#: Frame rate assumed when a container does not report one.
FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What the container reports: native ``fps``, ``frame_count`` (may be 0 when unknown),
    frame ``width`` and ``height`` in pixels as displayed, ``duration`` in seconds, the video
    stream's ``codec`` as its four-character code (``avc1``, ``hevc``, ``FMP4``, ``MJPG``, ...;
    ``""`` when the container names none) and ``rotation``: the degrees (0, 90, 180, 270) the
    container asks frames to be turned for display, as phones record upright video on a sideways
    sensor; OpenCV turns every decoded frame accordingly."""

    fps: float
    frame_count: int
    width: int
    height: int
    codec: str = ""
    rotation: int = 0

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


@dataclass
class Frame:
    """One sampled frame: ``index`` in the video (0-based), ``time`` in seconds, and
    ``image`` as ``(H, W, 3) uint8`` RGB."""

    index: int
    time: float
    image: np.ndarray


def _open(path: str | os.PathLike) -> cv2.VideoCapture:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"{p}: cannot open as a video ({_no_video_stream(p) or 'unsupported or corrupt file'})"
                         f"{_misnamed(p)}")
    return cap


def _fourcc(value: float) -> str:
    """OpenCV's FOURCC property (a float holding four bytes) as text; ``""`` for none or junk."""
    try:
        code = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return ""
    text = bytes((code >> 8 * i) & 0xFF for i in range(4)).decode("latin-1")
    return text.strip() if text.isprintable() and text.strip() else ""


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Read a video's frame rate, frame count and size without decoding frames."""
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return VideoInfo(
            fps=fps if fps > 0 and np.isfinite(fps) else FALLBACK_FPS,
            frame_count=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            codec=_fourcc(cap.get(cv2.CAP_PROP_FOURCC)),
            rotation=int(round(float(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0.0))) % 360,
        )
    finally:
        cap.release()


def sample_frames(
    path: str | os.PathLike, fps: float = 1.0, max_frames: int | None = None
) -> Iterator[Frame]:
    """Yield frames of the video at ``path`` at about ``fps`` per second of video time.

    Frames are decoded in order (skipped frames are only grabbed, not converted), so this
    works on containers whose frame count is wrong or missing. ``fps <= 0`` yields every
    frame; ``max_frames`` caps how many are yielded. Raises :class:`InputError` when the
    file cannot be opened or holds no decodable frame.
    """
    info = video_info(path)
    cap = _open(path)
    step = 1.0 / fps if fps > 0 else 0.0
    next_t = 0.0
    yielded = 0
    index = -1
    try:
        while max_frames is None or yielded < max_frames:
            if not cap.grab():
                break
            index += 1
            t = index / info.fps
            if t + 1e-6 < next_t:
                continue
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                continue
            next_t = (np.floor(t / step + 1e-6) + 1) * step if step > 0 else 0.0
            yield Frame(index=index, time=t, image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            yielded += 1
    finally:
        cap.release()
    if yielded == 0 and index < 0:
        raise InputError(f"{Path(path)}: video holds no decodable frame{_misnamed(path)}")


def _no_video_stream(path: str | os.PathLike) -> str:
    """``"it holds no video stream: sound only"`` (or "sound, subtitles") for an MP4/MOV/M4A, a
    Matroska/WebM (MKA), an AVI or a transport stream whose tracks or program map name no video, as
    an audio recording's; ``""`` for any other file, or one that does not say."""
    from dfrec.containers import (AVI_STREAM_KINDS, MATROSKA_TRACK_KINDS, avi_stream_types, matroska_track_types,
                                  track_handlers)
    from dfrec.mpegts import VIDEO_STREAM_TYPES, ts_streams

    handler_words = {"vide": "video", "soun": "sound", "text": "text", "sbtl": "subtitles", "meta": "metadata",
                     "hint": "hints"}
    try:
        with open(path, "rb") as f:
            if (found := ts_streams(f)) is not None:
                return "" if any(t in VIDEO_STREAM_TYPES for t, _ in found[1]) else \
                    "it holds no video stream: a transport stream of sound or data only"
            if (handlers := track_handlers(f)) is not None:
                kinds = [handler_words.get(h, h) for h in handlers]
            elif (types := matroska_track_types(f)) is not None:
                kinds = [MATROSKA_TRACK_KINDS.get(t, f"type {t}") for t in types]
            elif (streams := avi_stream_types(f)) is not None:
                kinds = [AVI_STREAM_KINDS.get(t, t.decode("latin-1")) for t in streams]
            else:
                return ""
    except (OSError, ValueError, IndexError, struct.error):
        return ""
    if not kinds or "video" in kinds:
        return ""
    return "it holds no video stream: " + ", ".join(dict.fromkeys(kinds)) + " only"


def _misnamed(path: str | os.PathLike) -> str:
    """``"; ... rename it .mpg"`` where a video's name ends in another format's suffix, which FFmpeg
    believes before the content for some containers (a program stream named ``.jpg``); else ``""``."""
    from dfrec.io import VIDEO_SUFFIXES, sniff_file

    p = Path(path)
    if not p.suffix or p.suffix.lower() in VIDEO_SUFFIXES:
        return ""
    sniffed = sniff_file(p)
    if sniffed is None or sniffed.kind != "video":
        return ""
    return f"; its content is {sniffed.label} (named {p.suffix}, which misleads the decoder): rename it {sniffed.ext}"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a (N, 4)`` and ``b (M, 4)`` as x0, y0, x1, y1 -> ``(N, M)`` in [0, 1]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass
class Track:
    """A face followed across sampled frames: ``id``, the last ``box`` (x0, y0, x1, y1), the
    sampled-frame position it was last seen at, and the frame indices it appears in."""

    id: int
    box: np.ndarray
    last_seen: int
    frames: list[int] = field(default_factory=list)


class FaceTracker:
    """Links face boxes across consecutive sampled frames by IoU (simple, no appearance model).

    Each call to :meth:`update` takes the boxes of one sampled frame and returns a track id
    per box. A box joins the live track it overlaps most (optimal one-to-one assignment,
    IoU >= ``iou_threshold``); otherwise it starts a new track. A track not matched for
    more than ``max_missed`` sampled frames ends.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 2):
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.tracks: list[Track] = []
        self._step = -1
        self._next_id = 0

    def update(self, boxes: np.ndarray, frame_index: int | None = None) -> list[int]:
        """Assign track ids to ``boxes (N, 4)`` of the next sampled frame; returns N ids."""
        self._step += 1
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        live = [t for t in self.tracks if self._step - t.last_seen <= self.max_missed + 1]
        ids = [-1] * len(boxes)
        if live and len(boxes):
            iou = box_iou(np.stack([t.box for t in live]), boxes)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_threshold:
                    t = live[r]
                    t.box, t.last_seen = boxes[c].copy(), self._step
                    t.frames.append(self._step if frame_index is None else frame_index)
                    ids[c] = t.id
        for c, box in enumerate(boxes):
            if ids[c] < 0:
                t = Track(self._next_id, box.copy(), self._step, [self._step if frame_index is None else frame_index])
                self._next_id += 1
                self.tracks.append(t)
                ids[c] = t.id
        return ids
