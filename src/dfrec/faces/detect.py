"""Face detection and 68-point landmarks with dlib.

Pipeline per image: dlib's HOG frontal detector on a copy whose long side is at most
``max_side`` pixels (upsampled ``upsample`` times, so faces down to ≈ 40/``max_side`` of
the long side are found); weak HOG detections must be confirmed by the CNN detector
(HOG's false alarms, e.g. on round badges, score low). When HOG finds nothing, two
fallbacks run in turn: HOG with one more upsampling, then dlib's CNN detector
(``mmod_human_face_detector.dat``), whose boxes are mapped to HOG-style boxes (the
68-point predictor was trained on HOG boxes). The 68 landmarks are predicted at full
resolution. Faces come back largest first.

Models load once per :class:`FaceDetector` (and once per process for
:func:`detect_faces`); calls are serialised with a lock, and a detector that crosses a
``fork`` (DataLoader workers) keeps working since dlib models are plain memory.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dfrec.errors import InputError
from dfrec.faces.model_files import cnn_detector_path, shape_predictor_68_path
from dfrec.io import as_rgb_uint8

# The 68-point predictor was trained on HOG boxes, so other detectors' boxes are turned
# into HOG-style boxes in two steps, both fitted on 296 LFW faces that HOG and the CNN
# both find: (1) CNN box -> HOG box: same centre shifted by (0.010, 0.059) x side, side
# x 1.069; (2) after a first landmark pass, the HOG box implied by the landmarks: centred
# on the template point (0.456, 0.465) of dlib's mean face, side 1.357 template units.
_CNN_SHIFT = (0.010, 0.059)
_CNN_SIDE = 1.069
_LM_BOX_CENTRE = (0.456, 0.465)
_LM_BOX_SIDE = 1.357

#: The ``hog+up`` fallback runs only while the upsampled copy's long side stays within this.
_HOG_UP_MAX_SIDE = 2048

#: HOG detections scoring below this need the CNN's confirmation (see FaceDetector).
VERIFY_BELOW = 0.3

# Image geometry, checked before any native (dlib) call. dlib's CNN detector reads and
# writes outside its buffers on thin inputs (a 1x4000 image shrunk to 1x320 crashes the
# process with SIGSEGV or a corrupted heap; valgrind shows invalid writes from a short
# side of 4 px and none from 8 px up), and raises multi-line C++ assertions on tiny ones.
#: Shortest image side accepted for face detection, in pixels: no face fits in fewer
#: (boxes under ``min_size``, 20 px by default, are dropped anyway).
MIN_SIDE = 20
#: Largest aspect ratio accepted (long side / short side): beyond it the detection copy
#: (long side 1024 px) would shrink the short side below MIN_SIDE.
MAX_ASPECT = 50
#: Every array handed to the CNN detector is padded (bottom/right, black) to at least this
#: many pixels per side, twice the smallest size valgrind found clean.
CNN_MIN_SIDE = 32


def check_geometry(shape: tuple[int, ...], name: str | None = None) -> None:
    """Raise :class:`InputError` when an image of ``shape`` (H, W, ...) is too small or too
    thin for face detection (see ``MIN_SIDE``, ``MAX_ASPECT``); ``name`` prefixes the message."""
    h, w = int(shape[0]), int(shape[1])
    where = f"{name}: " if name else ""
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{where}image is {w}x{h} pixels; face detection needs at least "
                         f"{MIN_SIDE} pixels on each side")
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise InputError(f"{where}image is {w}x{h} pixels, an aspect ratio over {MAX_ASPECT}:1; "
                         "too thin for face detection (crop it first)")


#: Side of dlib's HOG frontal-face window in detection-copy pixels: the smallest face HOG finds
#: without upsampling (each upsampling halves it).
HOG_WINDOW = 80
#: FaceDetector's defaults, which ``no_face_message`` assumes unless told otherwise.
DEFAULT_UPSAMPLE, DEFAULT_MAX_SIDE, DEFAULT_MIN_SIZE = 1, 1024, 20.0


def smallest_face(shape: tuple[int, ...], upsample: int = DEFAULT_UPSAMPLE, max_side: int = DEFAULT_MAX_SIDE,
                  min_size: float = DEFAULT_MIN_SIZE) -> int:
    """About the smallest face side, in image pixels, that :class:`FaceDetector` (HOG, and its
    ``hog+up`` fallback where the image is small enough) finds in an image of ``shape`` (H, W, ...)."""
    scale = min(1.0, max_side / max(int(shape[0]), int(shape[1])))
    long_copy = max(int(shape[0]), int(shape[1])) * scale
    ups = upsample + 1 if long_copy * 2 ** (upsample + 1) <= _HOG_UP_MAX_SIDE else upsample
    return int(np.ceil(max(min_size, HOG_WINDOW / 2**ups / scale)))


def no_face_message(shape: tuple[int, ...], upsample: int = DEFAULT_UPSAMPLE, option: str | None = None,
                    max_side: int = DEFAULT_MAX_SIDE, frames: int | None = None) -> str:
    """``no face found`` and what the detector misses in a picture of ``shape`` (H, W, ...), for the
    person reading the error. ``option``: the command-line flag that sets ``upsample``, named in a
    hint when one more upsampling would find smaller faces. ``frames``: how many video frames of
    that shape were searched, for a video."""
    h, w = int(shape[0]), int(shape[1])
    least = smallest_face(shape, upsample, max_side)
    where = f"in any of the {frames} sampled frames (in these {w}x{h} frames" if frames is not None else \
        f"(in this {w}x{h} picture"
    text = f"no face found {where} faces under about {least} px across, in profile or heavily covered are missed"
    if option and upsample < 2 and smallest_face(shape, upsample + 1, max_side) < least:
        text += (f"; {option} {upsample + 1} looks for faces down to about "
                 f"{smallest_face(shape, upsample + 1, max_side)} px, more slowly")
    return text + ")"


def _pad_to(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` padded with black at the bottom and right so both sides are at least ``side``
    (coordinates of the original pixels are unchanged)."""
    h, w = img.shape[:2]
    if h >= side and w >= side:
        return img
    return np.ascontiguousarray(np.pad(img, ((0, max(0, side - h)), (0, max(0, side - w)), (0, 0))))


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
    """dlib face detector chain with the 68-point shape predictor.

    detectors: tried in order until one finds a face: ``hog`` (HOG, ``upsample``
    upsamplings), ``hog+up`` (HOG, one more upsampling; only for images up to 512 px at upsample 1),
    ``cnn`` (dlib's mmod CNN on a copy whose long side is ``cnn_max_side``, one
    upsampling; ~1 s at 250² on 2 CPU cores). upsample: 1 finds faces ≥ ≈ 40 px in the
    detection copy. max_side: long side of the HOG detection copy (big images are
    downscaled for detection only; landmarks use full resolution). min_size: drop boxes
    smaller than this many image pixels. threshold: HOG score threshold (dlib's
    ``adjust_threshold``). verify_below: HOG detections scoring below this are kept only
    if the CNN also finds a face there (removes HOG's weak false alarms; 0 disables).
    want_centre: for pre-cropped data (LFW, dataset crops) where the subject sits in the
    middle: keep trying the next detector until some box holds the image centre, and
    return the faces of every detector tried (on LFW's 7,701 pair images HOG finds only
    a bystander in 6).
    Settings only: the dlib models are loaded once per process and shared, so creating
    detectors is cheap and they pickle (DataLoader workers).
    """

    DETECTORS = ("hog", "hog+up", "cnn")

    def __init__(
        self,
        upsample: int = DEFAULT_UPSAMPLE,
        max_side: int = DEFAULT_MAX_SIDE,
        min_size: float = DEFAULT_MIN_SIZE,
        threshold: float = 0.0,
        detectors: tuple[str, ...] | list[str] = DETECTORS,
        verify_below: float = VERIFY_BELOW,
        cnn_max_side: int = 320,
        want_centre: bool = False,
    ) -> None:
        unknown = set(detectors) - set(self.DETECTORS)
        if unknown or not detectors:
            raise ValueError(f"detectors must be a non-empty subset of {self.DETECTORS}; got {detectors!r}")
        self.upsample = int(upsample)
        self.max_side = int(max_side)
        self.min_size = float(min_size)
        self.threshold = float(threshold)
        self.detectors = tuple(detectors)
        self.verify_below = float(verify_below)
        self.cnn_max_side = int(cnn_max_side)
        self.want_centre = bool(want_centre)

    def __repr__(self) -> str:
        return (
            f"FaceDetector(upsample={self.upsample}, max_side={self.max_side}, min_size={self.min_size}, "
            f"threshold={self.threshold}, detectors={self.detectors}, verify_below={self.verify_below}, "
            f"cnn_max_side={self.cnn_max_side}, want_centre={self.want_centre})"
        )

    def load(self) -> "FaceDetector":
        """Load the dlib models now (else on first detection); returns self."""
        _MODELS.hog_and_shape()
        if "cnn" in self.detectors or self.verify_below > 0:
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
        if upsample > self.upsample and max(small.shape[:2]) * 2**upsample > _HOG_UP_MAX_SIDE:
            return []  # the extra-upsampling fallback is for small images only (cost grows 4x)
        rects, scores, _ = _native(hog.run, small, upsample, self.threshold)
        return [
            (np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / scale, float(s))
            for r, s in zip(rects, scores)
        ]

    def _cnn_boxes(self, img: np.ndarray, max_side: int, upsample: int = 1) -> list[tuple[np.ndarray, float]]:
        cnn = _MODELS.cnn()
        small, scale = self._downscaled(img, max_side)
        small = _pad_to(small, CNN_MIN_SIDE)  # dlib's CNN is unsafe on thin inputs (see CNN_MIN_SIDE)
        out = []
        for d in _native(cnn, small, upsample):
            r = d.rect
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / scale
            out.append((_cnn_to_hog_box(box), float(d.confidence)))
        return out

    def _confirmed(self, img: np.ndarray, box: np.ndarray) -> bool:
        """Does the CNN find a face at a HOG ``box``? Runs on a local crop at ~80 px face size."""
        side = box[2] - box[0]
        x0, y0 = max(int(box[0] - side), 0), max(int(box[1] - side), 0)
        x1, y1 = min(int(box[2] + side), img.shape[1]), min(int(box[3] + side), img.shape[0])
        crop = np.ascontiguousarray(img[y0:y1, x0:x1])
        if crop.size == 0 or side <= 0:
            return False
        max_side = int(round(max(crop.shape[:2]) * min(1.0, 80.0 / side)))
        for cbox, _ in self._cnn_boxes(crop, max_side=max(max_side, 1), upsample=1):
            if _iou(cbox + np.array([x0, y0, x0, y0]), box) > 0.3:
                return True
        return False

    def _landmarks(self, img: np.ndarray, box: np.ndarray) -> np.ndarray:
        import dlib

        _, sp = _MODELS.hog_and_shape()
        x0, y0, x1, y1 = box
        rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
        shape = _native(sp, img, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def detect(self, image: Any) -> list[Face]:
        """All faces in ``image`` (array (H, W, 3) uint8 RGB, any array/PIL/path accepted by
        :func:`dfrec.io.as_rgb_uint8`), largest box first; empty list when none.

        Raises :class:`InputError` for an image too small or too thin to hold a detectable
        face (:func:`check_geometry`), before any native code sees it."""
        img = as_rgb_uint8(image)
        check_geometry(img.shape)
        faces: list[Face] = []
        with _MODELS.lock:
            for name in self.detectors:
                if name == "cnn":
                    found = self._cnn_boxes(img, self.cnn_max_side)
                else:
                    found = self._hog_boxes(img, self.upsample + (name == "hog+up"))
                too_small = False
                for box, score in sorted(found, key=lambda bs: -bs[1]):
                    if min(box[2] - box[0], box[3] - box[1]) < self.min_size:
                        too_small = True
                        continue
                    if any(_iou(box, f.box) > 0.5 for f in faces):
                        continue
                    if name != "cnn" and score < self.verify_below and not self._confirmed(img, box):
                        continue
                    lm = self._landmarks(img, box)
                    if name == "cnn":  # re-run the predictor from the HOG-style box its landmarks imply
                        lm = self._landmarks(img, hog_box_from_landmarks(lm))
                    faces.append(Face(box=box, score=score, landmarks=lm, detector=name))
                if self.want_centre:
                    cx, cy = img.shape[1] / 2, img.shape[0] / 2
                    if any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in faces):
                        break
                elif faces or too_small:  # fallbacks are for misses, not for faces under min_size
                    break
        faces.sort(key=lambda f: -f.area)
        return faces

    __call__ = detect


def _native(fn, *args):
    """Call a dlib function; its C++ errors (multi-line assertion text) become one line."""
    try:
        return fn(*args)
    except RuntimeError as e:
        if "Error detected" in str(e) or "dlib" in str(e):
            raise InputError("the face detector (dlib) could not process this image") from e
        raise


def _cnn_to_hog_box(box: np.ndarray) -> np.ndarray:
    """Map a CNN (mmod) box (4,) x0, y0, x1, y1 to the box HOG would give for the same face."""
    side = max(box[2] - box[0], box[3] - box[1])
    cx = (box[0] + box[2]) / 2 + _CNN_SHIFT[0] * side
    cy = (box[1] + box[3]) / 2 + _CNN_SHIFT[1] * side
    s = side * _CNN_SIDE
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], np.float64)


def hog_box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(4,) HOG-style box x0, y0, x1, y1 implied by (68, 2) landmarks (see the constants above)."""
    from dfrec.faces.align import FIT_INDICES, MEAN_FACE, crop_scale, similarity_transform, transform_points

    m = similarity_transform(MEAN_FACE[FIT_INDICES], np.asarray(landmarks, np.float64)[FIT_INDICES])
    side = _LM_BOX_SIDE * crop_scale(m)
    cx, cy = transform_points(np.array([_LM_BOX_CENTRE]), m)[0]
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float64)


def pick_face(faces: list[Face], how: str = "largest", shape: tuple[int, ...] | None = None) -> Face:
    """One face of a non-empty list: ``largest`` box, or the one whose box centre is nearest
    the image centre (``central``, needs the image ``shape``; for pre-cropped data like LFW)."""
    from dfrec.errors import NoFaceError

    if not faces:
        raise NoFaceError("no face found")
    if how == "largest":
        return max(faces, key=lambda f: f.area)
    if how == "central":
        if shape is None:
            raise ValueError("pick_face(how='central') needs the image shape")
        cy, cx = shape[0] / 2, shape[1] / 2
        return min(faces, key=lambda f: np.hypot((f.box[0] + f.box[2]) / 2 - cx, (f.box[1] + f.box[3]) / 2 - cy))
    raise ValueError(f"how must be 'largest' or 'central'; got {how!r}")


def detect_faces(
    image: Any,
    upsample: int = 1,
    min_size: float = 20.0,
    max_side: int = 1024,
    threshold: float = 0.0,
    fallback: bool = True,
    verify_below: float = VERIFY_BELOW,
) -> list[Face]:
    """Detect all faces with 68 landmarks in ``image`` ((H, W, 3) uint8 RGB), largest first.

    fallback=False uses HOG only. The dlib models load once per process; see
    :class:`FaceDetector` for the other parameters.
    """
    det = FaceDetector(
        upsample=upsample,
        max_side=max_side,
        min_size=min_size,
        threshold=threshold,
        detectors=FaceDetector.DETECTORS if fallback else ("hog",),
        verify_below=verify_below,
    )
    return det.detect(image)
