"""Blending masks from 68 landmarks: hull polygons, random deformation, erosion, feathering.

Landmark indices follow iBUG 300-W: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67. Masks are ``(H, W) float32`` in [0, 1]; all random draws come from the
``numpy.random.Generator`` passed in, so a seeded generator gives the same mask.
"""

from __future__ import annotations

import cv2
import numpy as np

JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
EYES_L = np.arange(36, 42)
EYES_R = np.arange(42, 48)
MOUTH = np.arange(48, 68)


def face_size(landmarks: np.ndarray) -> float:
    """Face size in pixels: distance from the chin (8) to the brows' midpoint. ``landmarks (68, 2)``."""
    return float(np.linalg.norm(landmarks[8] - landmarks[BROWS].mean(0))) + 1e-6


def up_vector(landmarks: np.ndarray) -> np.ndarray:
    """Unit vector (2,) from the chin towards the brows (image y grows downwards)."""
    v = landmarks[BROWS].mean(0) - landmarks[8]
    return v / (np.linalg.norm(v) + 1e-6)


def raised_brows(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Brow points (10, 2) moved up by ``amount`` × face size, the outer ones a bit less."""
    lift = np.array([0.6, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 0.9, 0.8, 0.6], np.float32)
    return landmarks[BROWS] + (amount * face_size(landmarks)) * lift[:, None] * up_vector(landmarks)[None]


def hull_polygons(landmarks: np.ndarray, hull_type: str, forehead: float = 0.2) -> list[np.ndarray]:
    """Convex polygons (each (K, 2) float32) of a hull type.

    ``full``: jaw + brows; ``inner``: brows, eyes, nose, mouth (no cheeks or jaw line);
    ``extended``: ``full`` with the brows raised by ``forehead`` × face size; ``components``:
    separate hulls of each eye+brow, the nose and the mouth.
    """
    lm = np.asarray(landmarks, np.float32)
    if hull_type == "full":
        groups = [lm[:27]]
    elif hull_type == "inner":
        groups = [lm[17:68]]
    elif hull_type == "extended":
        groups = [np.concatenate([lm[:17], raised_brows(lm, forehead)])]
    elif hull_type == "components":
        groups = [
            np.concatenate([lm[17:22], lm[36:42]]),
            np.concatenate([lm[22:27], lm[42:48]]),
            lm[27:36],
            lm[48:68],
        ]
    else:
        raise ValueError(f"unknown hull type {hull_type!r}")
    return [cv2.convexHull(g.astype(np.float32)).reshape(-1, 2) for g in groups]


def fill_polygons(polys: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Binary ``(H, W) uint8`` mask (0/255) of convex polygons, sub-pixel accurate."""
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillConvexPoly(mask, np.round(p * 16).astype(np.int32), 255, lineType=cv2.LINE_8, shift=4)
    return mask


def deform(mask: np.ndarray, amplitude: float, rng: np.random.Generator, grid: int = 4) -> np.ndarray:
    """Smooth random deformation of a ``(H, W) uint8`` mask; ``amplitude`` in pixels (max shift)."""
    if amplitude <= 0.5:
        return mask
    h, w = mask.shape
    d = rng.uniform(-1.0, 1.0, size=(2, grid, grid)).astype(np.float32) * amplitude
    dx = cv2.resize(d[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(d[1], (w, h), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def erode_dilate(mask: np.ndarray, pixels: float) -> np.ndarray:
    """Erode (``pixels`` < 0) or dilate (> 0) a uint8 mask with an elliptic kernel."""
    r = int(round(abs(pixels)))
    if r < 1:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask, k) if pixels > 0 else cv2.erode(mask, k)


def feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Soft alpha ``(H, W) float32`` in [0, 1] from a uint8 mask by Gaussian blur.

    Values below 1/255 become exactly 0 and above 254/255 exactly 1, so pixels outside the
    returned alpha's support are untouched by a blend.
    """
    a = mask.astype(np.float32) / 255.0
    if sigma > 0.3:
        k = int(2 * round(3 * sigma) + 1)
        a = cv2.GaussianBlur(a, (k, k), sigma)
    a[a < 1.0 / 255] = 0.0
    a[a > 254.0 / 255] = 1.0
    return a


def random_mask(
    landmarks: np.ndarray,
    size: tuple[int, int],
    hull_type: str,
    rng: np.random.Generator,
    forehead: tuple[float, float],
    deform_range: tuple[float, float],
    erode_range: tuple[float, float],
) -> np.ndarray:
    """Binary ``(H, W) uint8`` mask: hull of ``hull_type``, randomly deformed and eroded/dilated.

    Ranges are fractions of :func:`face_size`. Falls back to the undeformed hull if the
    random operations leave it empty.
    """
    fs = face_size(landmarks)
    polys = hull_polygons(landmarks, hull_type, forehead=rng.uniform(*forehead))
    base = fill_polygons(polys, size)
    m = deform(base, rng.uniform(*deform_range) * fs, rng)
    m = erode_dilate(m, rng.uniform(*erode_range) * fs)
    m = np.where(m >= 128, 255, 0).astype(np.uint8)
    return m if m.any() else base


def bbox(mask: np.ndarray, pad: int = 0) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of nonzero pixels of a mask, padded and clipped; whole image if empty."""
    h, w = mask.shape[:2]
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    if ys.size == 0:
        return 0, h, 0, w
    return (max(0, ys[0] - pad), min(h, ys[-1] + 1 + pad), max(0, xs[0] - pad), min(w, xs[-1] + 1 + pad))
