"""Appearance of the pasted face: what makes a synthesised swap look like a real one.

Real face swaps are GAN outputs, not landmark warps: the pasted face is blurrier or
sharper than its surroundings, rendered at another resolution, noisier or cleaner, its
colour a little off, and (the GAN keeps the target's expression and lighting) it carries
the target's low-frequency shading under the source's identity. :func:`apply_appearance`
draws these from an :class:`~dfrec.data.synth.config.AppearanceConfig` and applies them to
the source pixels inside the region of interest before they are blended onto the target,
so a model cannot learn the fingerprint of one warp. With every probability at 0 (the
default) nothing is drawn and the image is returned unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from dfrec.data.synth.augment import rescale_round_trip
from dfrec.data.synth.config import AppearanceConfig


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=max(sigma, 1e-3), borderType=cv2.BORDER_REFLECT_101)


def apply_appearance(
    pasted: np.ndarray,
    target: np.ndarray,
    roi: tuple[int, int, int, int],
    face_px: float,
    cfg: AppearanceConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict]:
    """Alter ``pasted`` (the source pixels about to be blended, ``(S, S, 3) uint8``) inside ``roi``.

    ``target``: the target crop (its low frequencies may be kept); ``roi`` ``(y0, y1, x0, x1)``;
    ``face_px``: face size in pixels (scales the low-frequency sigma). Returns the altered
    image (equal to ``pasted`` outside ``roi``) and a dict of what was applied.
    """
    if not cfg.enabled:
        return pasted, {}
    y0, y1, x0, x1 = roi
    if y1 - y0 < 4 or x1 - x0 < 4:
        return pasted, {}
    region = pasted[y0:y1, x0:x1].astype(np.float32)
    info: dict = {}
    if rng.random() < cfg.target_lowfreq_prob:
        sigma = float(rng.uniform(*cfg.lowfreq_sigma)) * face_px
        ref = target[y0:y1, x0:x1].astype(np.float32)
        region = region - _blur(region, sigma) + _blur(ref, sigma)
        info["target_lowfreq_sigma"] = round(sigma, 2)
    if rng.random() < cfg.color_shift_prob:
        shift = rng.uniform(*cfg.color_shift, size=3).astype(np.float32)
        region = region + shift
        info["color_shift"] = [round(float(v), 1) for v in shift]
    if rng.random() < cfg.rescale_prob:
        f = float(rng.uniform(*cfg.rescale))
        region = rescale_round_trip(region, f)
        info["rescale"] = round(f, 3)
    r = rng.random()
    if r < cfg.blur_prob:
        sigma = float(rng.uniform(*cfg.blur_sigma))
        region = _blur(region, sigma)
        info["blur_sigma"] = round(sigma, 2)
    elif r < cfg.blur_prob + cfg.sharpen_prob:
        amount = float(rng.uniform(*cfg.sharpen_amount))
        region = region + amount * (region - _blur(region, 1.0))
        info["sharpen"] = round(amount, 2)
    if rng.random() < cfg.noise_prob:
        sigma = float(rng.uniform(*cfg.noise_sigma))
        region = region + rng.normal(0.0, sigma, size=region.shape).astype(np.float32)
        info["noise_sigma"] = round(sigma, 2)
    out = pasted.copy()
    out[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
    return out, info
