"""Landmark face swap: the source person's inner face warped onto the target's landmarks.

Recipe: piecewise-affine warp (Delaunay over landmarks + forehead anchors), random hull
mask on the target's landmarks (deformed, eroded/dilated), LAB colour correction of the
warped source to the target inside the mask, feathered alpha blend. The returned alpha is
the mask of pixels that carry source information; where it is 0 the forgery equals the
target exactly.
"""

from __future__ import annotations

import numpy as np

from dfrec.data.synth.appearance import apply_appearance
from dfrec.data.synth.color import transfer_lab
from dfrec.data.synth.config import SwapConfig
from dfrec.data.synth.masks import bbox, face_size, feather, random_mask
from dfrec.data.synth.types import FaceCrop
from dfrec.data.synth.warp import anchor_points, piecewise_affine


def choose(weights: dict, rng: np.random.Generator) -> str:
    """Draw a key of ``weights`` with probability proportional to its value."""
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def alpha_blend(top: np.ndarray, bottom: np.ndarray, alpha: np.ndarray, roi=None) -> np.ndarray:
    """``alpha·top + (1−alpha)·bottom`` for uint8 images, computed in ``roi`` only (elsewhere ``bottom``)."""
    out = bottom.copy()
    y0, y1, x0, x1 = roi if roi is not None else (0, bottom.shape[0], 0, bottom.shape[1])
    a = alpha[y0:y1, x0:x1, None]
    t = top[y0:y1, x0:x1].astype(np.float32)
    b = bottom[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(b + a * (t - b) + 0.5, 0, 255).astype(np.uint8)
    return out


def face_swap(target: FaceCrop, source: FaceCrop, cfg: SwapConfig, rng: np.random.Generator):
    """Swap ``source``'s face onto ``target`` (same crop size).

    Returns ``(forgery (S, S, 3) uint8, alpha (S, S) float32 in [0, 1], info dict)``.
    """
    size = target.image.shape[:2]
    mc = cfg.mask
    hull = choose(mc.hull_weights, rng)
    binary = random_mask(target.landmarks, size, hull, rng, mc.forehead, mc.deform, mc.erode_dilate)
    sigma = rng.uniform(*mc.feather) * face_size(target.landmarks)
    pad = int(3 * sigma) + 3
    roi = bbox(binary, pad=pad)
    warped = piecewise_affine(
        source.image,
        anchor_points(source.landmarks, cfg.warp_forehead),
        anchor_points(target.landmarks, cfg.warp_forehead),
        size,
        roi=roi,
        fill=target.image,
    )
    recolor = bool(rng.random() < cfg.color_transfer_prob)
    if recolor:
        warped = transfer_lab(warped, target.image, binary, roi)
    warped, look = apply_appearance(warped, target.image, roi, face_size(target.landmarks), cfg.appearance, rng)
    alpha = feather(binary, sigma)
    forgery = alpha_blend(warped, target.image, alpha, roi)
    info = {"hull": hull, "feather_sigma": round(float(sigma), 3), "color_transfer": recolor, **look}
    return forgery, alpha, info
