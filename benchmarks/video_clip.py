"""A picture through an H.264, HEVC, VP9 or AV1 video, as a face swap reaches an investigator inside a video file.

:class:`VideoRoundTrip` makes a short clip in which the picture pans by whole pixels (1 px right
and ½ px down per frame, edges repeated), encodes it with x264 (H.264), x265 (HEVC), libvpx (VP9,
constant quality, in WebM) or SVT-AV1 (AV1, in MP4) at a CRF (FFmpeg's default settings otherwise: x264/x265 preset medium,
SVT-AV1's preset, 4:2:0 chroma, B frames), decodes it, and
returns its last frame moved back into place: a predicted (P or B) frame, coded against its
neighbours, as most frames of a video are. It records the clip's median quantiser (slice QP; VP9's and AV1's
base_q_idx) as ``dfrec
recover`` reads it from a video (:func:`dfrec.hevc.read_video_encoding`), so that a caveat keyed
on QP quotes the clips it was measured on. A CRF is content-dependent: the same CRF gives a noisier picture a higher QP.

OpenCV's FFmpeg has no H.264, HEVC, VP9 or AV1 encoder; this needs PyAV (``pip install av``, whose wheels
bundle libx264, libx265, libvpx and SVT-AV1; ``pip install -e .[video]``). The training chain's H.264 round trip
(:func:`dfrec.x264.clip_round_trip`) makes the same clip through libx264 alone.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from dfrec.x264 import CLIP_FRAMES, pan_clip, unpan_last  # the clip the training chain's H.264 makes too

#: The CRF values the video round trips run at by default (FaceForensics++'s "c23" and "c40" among them).
CRFS = (18, 23, 28, 33, 40, 45)
#: codec -> FFmpeg's encoder for it.
ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
#: codec -> its encoder's highest CRF (libvpx's constant-quality level and SVT-AV1's CRF run to 63).
CRF_MAX = {"h264": 51, "hevc": 51, "vp9": 63, "av1": 63}
#: codec -> what its clips' ``qp`` is (:attr:`dfrec.h264.Syntax.quantiser`, as the benchmarks name it).
QUANTISER = {"h264": "slice QP", "hevc": "slice QP", "vp9": "base_q_idx", "av1": "base_q_idx"}
#: codec -> its clips' file suffix (YouTube serves VP9 in WebM, AV1 in MP4).
SUFFIX = {"vp9": ".webm"}


def _require_av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise SystemExit("the video round trips need PyAV, which bundles libx264, libx265, libvpx and SVT-AV1 (OpenCV's "
                         "FFmpeg has none of their encoders): pip install av, or pip install -e .[video]") from e
    return av


def encode_clip(path: str | os.PathLike, frames: list[np.ndarray], options: dict[str, str], fps: int = 25,
                codec: str = "libx264", pix_fmt: str = "yuv420p", container: dict[str, str] | None = None) -> None:
    """Write ``frames`` (each ``(H, W, 3) uint8`` RGB, even ``H`` and ``W``) to a video file (its suffix
    picks the container: ``.mp4``, ``.mov`` ...) with ``codec`` and its ``options`` (x264's: ``{"crf":
    "23"}``, ``{"qp": "30"}``, ``{"x264-params": "bframes=0"}`` ...); ``container``: the muxer's options
    (``{"movflags": "frag_keyframe+empty_moov"}`` for a fragmented MP4)."""
    av = _require_av()
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration to stderr at every clip otherwise
    with av.open(str(path), "w", options=dict(container or {})) as out:
        stream = out.add_stream(codec, rate=fps, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        for a in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")))
        out.mux(stream.encode())


def decode_frames(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of the video at ``path``, in display order, as ``(H, W, 3) uint8`` RGB."""
    av = _require_av()
    with av.open(str(path)) as f:
        return [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]


class VideoRoundTrip:
    """``f(picture (H, W, 3) uint8 RGB) -> picture``: the last frame of a :data:`CLIP_FRAMES`-frame
    clip of ``picture`` panning, through ``codec``'s encoder (:data:`ENCODERS`) at ``crf``; ``qps``
    collects each clip's median slice QP."""

    def __init__(self, codec: str, crf: int, frames: int = CLIP_FRAMES) -> None:
        if codec not in ENCODERS:
            raise ValueError(f"codec {codec!r}: one of {', '.join(ENCODERS)}")
        self.codec, self.crf, self.frames, self.qps = codec, int(crf), int(frames), []

    def __call__(self, picture: np.ndarray) -> np.ndarray:
        from dfrec.hevc import read_video_encoding

        h, w = picture.shape[:2]
        even = np.pad(picture, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # 4:2:0 wants even sides
        with tempfile.TemporaryDirectory(prefix="dfrec-h264-") as tmp:
            path = os.path.join(tmp, "clip" + SUFFIX.get(self.codec, ".mp4"))
            options = {"crf": str(self.crf), **{"hevc": {"x265-params": "log-level=error"},
                                                 "vp9": {"b": "0"}}.get(self.codec, {})}  # libvpx: b 0 = constant quality
            encode_clip(path, pan_clip(even, self.frames), options, codec=ENCODERS[self.codec])
            decoded = decode_frames(path)
            encoding = read_video_encoding(path)
        if len(decoded) != self.frames or encoding is None or encoding["codec"] != self.codec:
            raise RuntimeError(f"{ENCODERS[self.codec]} clip at CRF {self.crf}: {len(decoded)} frames decoded, "
                               f"encoding {encoding}")
        self.qps.append(encoding["qp"])
        return np.ascontiguousarray(unpan_last(decoded[-1], self.frames)[:h, :w])
