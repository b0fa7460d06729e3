"""Face X-ray style blended images (BI): a donor face blended onto a target's head.

The donor is the candidate (another identity) whose landmarks are nearest to the
target's (:func:`nearest_donor`); it is aligned to the target by the similarity transform
between the landmark sets, colour-matched inside a random deformed hull, and alpha-blended
with a feathered mask scaled by a random peak ratio.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from dfrec.data.synth.appearance import apply_appearance
from dfrec.data.synth.color import transfer_lab
from dfrec.data.synth.config import BlendConfig
from dfrec.data.synth.masks import bbox, face_size, feather, random_mask
from dfrec.data.synth.swap import alpha_blend, choose
from dfrec.data.synth.types import FaceCrop


def landmark_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of point distances between landmark sets ``a (68, 2)`` and ``b (..., 68, 2)``, after
    removing each set's centroid and scale (so crop placement does not matter)."""

    def norm(x):
        x = np.asarray(x, np.float32)
        c = x - x.mean(-2, keepdims=True)
        return c / (np.sqrt((c**2).sum((-1, -2), keepdims=True) / x.shape[-2]) + 1e-6)

    return np.linalg.norm(norm(b) - norm(a), axis=-1).sum(-1)


def nearest_donor(target_landmarks: np.ndarray, candidates: Sequence[np.ndarray]) -> int:
    """Index of the candidate landmark set ``(68, 2)`` nearest to ``target_landmarks``."""
    return int(np.argmin(landmark_distance(target_landmarks, np.stack(candidates))))


def blended_image(target: FaceCrop, donor: FaceCrop, cfg: BlendConfig, rng: np.random.Generator):
    """Blend ``donor``'s face onto ``target`` (same crop size).

    Returns ``(forgery (S, S, 3) uint8, alpha (S, S) float32 in [0, 1], info dict)``.
    """
    h, w = target.image.shape[:2]
    sim, _ = cv2.estimateAffinePartial2D(donor.landmarks.astype(np.float32), target.landmarks.astype(np.float32))
    if sim is None:
        sim = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    aligned = cv2.warpAffine(donor.image, sim, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mc = cfg.mask
    hull = choose(mc.hull_weights, rng)
    binary = random_mask(target.landmarks, (h, w), hull, rng, mc.forehead, mc.deform, mc.erode_dilate)
    recolor = bool(rng.random() < cfg.color_transfer_prob)
    sigma = rng.uniform(*mc.feather) * face_size(target.landmarks)
    peak = float(rng.uniform(*cfg.max_alpha))
    roi = bbox(binary, pad=int(3 * sigma) + 3)
    if recolor:
        aligned = transfer_lab(aligned, target.image, binary, roi)
    aligned, look = apply_appearance(aligned, target.image, roi, face_size(target.landmarks), cfg.appearance, rng)
    alpha = feather(binary, sigma) * peak
    forgery = alpha_blend(aligned, target.image, alpha, roi)
    info = {"hull": hull, "feather_sigma": round(float(sigma), 3), "peak_alpha": round(peak, 3),
            "color_transfer": recolor, **look}
    return forgery, alpha, info
