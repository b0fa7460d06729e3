"""Face detection and 68-point landmarks with dlib.

Pipeline per image: dlib's HOG frontal detector on a copy whose long side is at most
``max_side`` pixels (upsampled ``upsample`` times, so faces down to ≈ 40/``max_side`` of
the long side are found); when it finds nothing, two fallbacks run in turn: HOG with one
more upsampling, then dlib's CNN detector (``mmod_human_face_detector.dat``), whose boxes
are mapped to HOG-style boxes (the 68-point predictor was trained on HOG boxes). The
68 landmarks are then predicted at full resolution. Faces come back largest first.

Models load once per :class:`FaceDetector` (and once per process for
:func:`detect_faces`); calls are serialised with a lock, and a detector that crosses a
``fork`` (DataLoader workers) keeps working since dlib models are plain memory.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from dfrec.faces.model_files import cnn_detector_path, shape_predictor_68_path
from dfrec.io import as_rgb_uint8

# CNN (mmod) box -> HOG-style box: x0, y0, x1, y1 of the HOG box as (offset + scale * side)
# relative to the mmod box, fitted on LFW faces both detectors find (see module docstring).
_CNN_TO_HOG = {"cx": (0.0, 0.0), "cy": (0.0, 0.0), "side": 1.0}


@dataclass
class Face:
    """One detected face.

    box: (4,) float64 x0, y0, x1, y1 in image pixels. score: detector confidence (HOG:
    SVM margin, typically 0..3; CNN: mmod confidence; not comparable across detectors).
    landmarks: (68, 2) float32 (x, y) image pixels, iBUG-300W order. detector: ``hog``,
    ``hog+up`` or ``cnn``.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    detector: str = "hog"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        """Box area in pixels²."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: box, score, detector, landmarks (68 [x, y] lists)."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "detector": self.detector,
            "landmarks": np.round(self.landmarks.astype(np.float64), 2).tolist(),
        }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class _DlibModels:
    """Process-wide dlib models, loaded on first use, shared by every :class:`FaceDetector`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._hog = self._sp = self._cnn = None

    def hog_and_shape(self):
        if self._hog is None:
            import dlib

            self._sp = dlib.shape_predictor(str(shape_predictor_68_path()))
            self._hog = dlib.get_frontal_face_detector()
        return self._hog, self._sp

    def cnn(self):
        if self._cnn is None:
            import dlib

            self._cnn = dlib.cnn_face_detection_model_v1(str(cnn_detector_path()))
        return self._cnn

    def _after_fork(self) -> None:  # a lock held by another thread at fork time stays held
        self.lock = threading.RLock()


_MODELS = _DlibModels()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_MODELS._after_fork)


class FaceDetector:
    """dlib HOG (+ fallbacks) face detector with the 68-point shape predictor.

    upsample: HOG pyramid upsamplings of the detection copy (1 finds faces ≥ ≈ 40 px
    there). max_side: long side of the detection copy (large images are downscaled for
    detection only; landmarks use full resolution). min_size: drop faces whose box is
    smaller than this many image pixels. threshold: HOG score threshold (dlib's
    ``adjust_threshold``; lower finds more, with more false alarms). fallback: run the
    extra detectors on images where HOG finds nothing. cnn_max_side: long side of the
    copy the CNN fallback sees (it costs ~1 s at 250² on 2 CPU cores with one upsample).
    Settings only: the dlib models are loaded once per process and shared, so creating
    detectors is cheap and they pickle (DataLoader workers).
    """

    def __init__(
        self,
        upsample: int = 1,
        max_side: int = 1024,
        min_size: float = 20.0,
        threshold: float = 0.0,
        fallback: bool = True,
        cnn_max_side: int = 400,
    ) -> None:
        self.upsample = int(upsample)
        self.max_side = int(max_side)
        self.min_size = float(min_size)
        self.threshold = float(threshold)
        self.fallback = bool(fallback)
        self.cnn_max_side = int(cnn_max_side)

    def __repr__(self) -> str:
        return (
            f"FaceDetector(upsample={self.upsample}, max_side={self.max_side}, min_size={self.min_size}, "
            f"threshold={self.threshold}, fallback={self.fallback}, cnn_max_side={self.cnn_max_side})"
        )

    def load(self) -> "FaceDetector":
        """Load the dlib models now (else on first detection); returns self."""
        _MODELS.hog_and_shape()
        if self.fallback:
            _MODELS.cnn()
        return self

    # -- detection ---------------------------------------------------------------------
    @staticmethod
    def _downscaled(img: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
        h, w = img.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        if scale >= 1.0:
            return img, 1.0
        small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return small, scale

    def _hog_boxes(self, img: np.ndarray, upsample: int) -> list[tuple[np.ndarray, float]]:
        hog, _ = _MODELS.hog_and_shape()
        small, scale = self._downscaled(img, self.max_side)
        rects, scores, _ = hog.run(small, upsample, self.threshold)
        return [
            (np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / scale, float(s))
            for r, s in zip(rects, scores)
        ]

    def _cnn_boxes(self, img: np.ndarray) -> list[tuple[np.ndarray, float]]:
        cnn = _MODELS.cnn()
        small, scale = self._downscaled(img, self.cnn_max_side)
        out = []
        for d in cnn(small, 1):
            r = d.rect
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / scale
            out.append((_cnn_to_hog_box(box), float(d.confidence)))
        return out

    def _landmarks(self, img: np.ndarray, box: np.ndarray) -> np.ndarray:
        import dlib

        _, sp = _MODELS.hog_and_shape()
        x0, y0, x1, y1 = box
        rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
        shape = sp(img, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def detect(self, image: Any) -> list[Face]:
        """All faces in ``image`` (array (H, W, 3) uint8 RGB, any array/PIL/path accepted by
        :func:`dfrec.io.as_rgb_uint8`), largest box first; empty list when none."""
        img = as_rgb_uint8(image)
        with _MODELS.lock:
            found = [(b, s, "hog") for b, s in self._hog_boxes(img, self.upsample)]
            if not found and self.fallback:
                small, _ = self._downscaled(img, self.max_side)
                if max(small.shape[:2]) * 2 ** (self.upsample + 1) <= 4096:
                    found = [(b, s, "hog+up") for b, s in self._hog_boxes(img, self.upsample + 1)]
                if not found:
                    found = [(b, s, "cnn") for b, s in self._cnn_boxes(img)]
            faces = []
            for box, score, name in found:
                if min(box[2] - box[0], box[3] - box[1]) < self.min_size:
                    continue
                if any(_iou(box, f.box) > 0.5 for f in faces):
                    continue
                faces.append(Face(box=box, score=score, landmarks=self._landmarks(img, box), detector=name))
        faces.sort(key=lambda f: -f.area)
        return faces

    __call__ = detect


def _cnn_to_hog_box(box: np.ndarray) -> np.ndarray:
    """Map a CNN (mmod) box (4,) to the box HOG would give for the same face."""
    side = max(box[2] - box[0], box[3] - box[1])
    cx = (box[0] + box[2]) / 2 + _CNN_TO_HOG["cx"][0] * side
    cy = (box[1] + box[3]) / 2 + _CNN_TO_HOG["cy"][0] * side
    s = side * _CNN_TO_HOG["side"]
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], np.float64)


def detect_faces(
    image: Any,
    upsample: int = 1,
    min_size: float = 20.0,
    max_side: int = 1024,
    threshold: float = 0.0,
    fallback: bool = True,
) -> list[Face]:
    """Detect all faces with 68 landmarks in ``image`` ((H, W, 3) uint8 RGB), largest first.

    The dlib models load once per process; see :class:`FaceDetector` for the parameters.
    """
    det = FaceDetector(upsample=upsample, max_side=max_side, min_size=min_size, threshold=threshold, fallback=fallback)
    return det.detect(image)
