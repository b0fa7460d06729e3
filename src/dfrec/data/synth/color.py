"""Colour transfer between face regions: match LAB mean and standard deviation inside a mask."""

from __future__ import annotations

import cv2
import numpy as np


def transfer_lab(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift ``src``'s LAB statistics inside ``mask`` to those of ``ref`` inside the same mask.

    ``src``, ``ref``: ``(H, W, 3) uint8`` RGB; ``mask``: ``(H, W)`` nonzero where measured.
    Returns ``(H, W, 3) uint8`` RGB (the whole image is shifted by the same affine map per
    channel; callers blend it back through their mask). ``src`` is returned unchanged when
    the mask has fewer than 16 pixels.
    """
    sel = mask > 0
    if int(sel.sum()) < 16:
        return src
    s = cv2.cvtColor(src.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    r = cv2.cvtColor(ref.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    sv, rv = s[sel], r[sel]
    mu_s, sd_s = sv.mean(0), sv.std(0) + 1e-3
    mu_r, sd_r = rv.mean(0), rv.std(0) + 1e-3
    gain = np.clip(sd_r / sd_s, 0.4, 2.5)
    out = (s - mu_s) * gain + mu_r
    out = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
