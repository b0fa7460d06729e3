"""Self-blended images (SBI, Shiohara & Yamasaki 2022): a face blended with an altered copy
of itself, so the only forgery cues are blending boundaries and statistic mismatches."""

from __future__ import annotations

import cv2
import numpy as np

from dfrec.data.synth.config import SelfBlendConfig
from dfrec.data.synth.masks import bbox, face_size, random_mask
from dfrec.data.synth.swap import alpha_blend, choose
from dfrec.data.synth.types import FaceCrop


def _alter(image: np.ndarray, cfg: SelfBlendConfig, rng: np.random.Generator) -> np.ndarray:
    """Colour-shifted, slightly moved and scaled copy of ``image (S, S, 3) uint8``."""
    img = image.astype(np.float32)
    img += rng.uniform(*cfg.rgb_shift, size=3).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(round(rng.uniform(*cfg.hue_shift)))) % 180
    hsv[..., 1] += int(round(rng.uniform(*cfg.sat_shift)))
    hsv[..., 2] += int(round(rng.uniform(*cfg.val_shift)))
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    c = rng.uniform(*cfg.contrast)
    img = np.clip((img - img.mean()) * c + img.mean(), 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    s = rng.uniform(*cfg.scale)
    tx, ty = rng.uniform(*cfg.translate, size=2) * np.array([w, h])
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, s)
    m[:, 2] += (tx, ty)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def self_blend(face: FaceCrop, cfg: SelfBlendConfig, rng: np.random.Generator):
    """Blend ``face`` with an altered copy of itself.

    Returns ``(forgery (S, S, 3) uint8, alpha (S, S) float32 in [0, 1], info dict)``; the
    alpha is the mask after two random Gaussian blurs, times the blend ratio.
    """
    h, w = face.image.shape[:2]
    mc = cfg.mask
    hull = choose(mc.hull_weights, rng)
    binary = random_mask(face.landmarks, (h, w), hull, rng, mc.forehead, mc.deform, mc.erode_dilate)
    fs = face_size(face.landmarks)
    a = binary.astype(np.float32) / 255.0
    for _ in range(2):  # two blurs with random kernels, as in SBI
        sigma = rng.uniform(*mc.feather) * fs
        k = int(2 * round(3 * sigma) + 1)
        if k >= 3:
            a = cv2.GaussianBlur(a, (k, k), sigma)
    a[a < 1.0 / 255] = 0.0
    a[a > 254.0 / 255] = 1.0
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])
    alpha = a * ratio
    altered = _alter(face.image, cfg, rng)
    forgery = alpha_blend(altered, face.image, alpha, bbox(alpha > 0, pad=1))
    return forgery, alpha, {"hull": hull, "blend_ratio": ratio}
