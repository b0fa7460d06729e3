"""Colour transfer between face regions: match LAB mean and standard deviation inside a mask."""

from __future__ import annotations

import cv2
import numpy as np


def transfer_lab(src: np.ndarray, ref: np.ndarray, mask: np.ndarray,
                 roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Shift ``src``'s LAB statistics inside ``mask`` to those of ``ref`` inside the same mask.

    ``src``, ``ref``: ``(H, W, 3) uint8`` RGB; ``mask``: ``(H, W)`` nonzero where measured;
    ``roi``: ``(y0, y1, x0, x1)`` holding the mask (only this region is converted; default
    the whole image). Per channel, ``(x − μ_src)·clip(σ_ref/σ_src, 0.4, 2.5) + μ_ref``,
    applied as a lookup table in OpenCV's 8-bit LAB. Returns ``(H, W, 3) uint8`` RGB, equal to
    ``src`` outside ``roi``; ``src`` itself when the mask has fewer than 16 pixels.
    """
    y0, y1, x0, x1 = roi if roi is not None else (0, src.shape[0], 0, src.shape[1])
    sel = (mask[y0:y1, x0:x1] > 0).astype(np.uint8)
    if int(sel.sum()) < 16:
        return src
    s = cv2.cvtColor(np.ascontiguousarray(src[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
    r = cv2.cvtColor(np.ascontiguousarray(ref[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
    mu_s, sd_s = (v.ravel() for v in cv2.meanStdDev(s, mask=sel))
    mu_r, sd_r = (v.ravel() for v in cv2.meanStdDev(r, mask=sel))
    gain = np.clip(sd_r / (sd_s + 1e-3), 0.4, 2.5)
    x = np.arange(256, dtype=np.float64)[:, None]
    lut = np.clip((x - mu_s[None]) * gain[None] + mu_r[None] + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
    out = cv2.cvtColor(cv2.LUT(s, lut.reshape(256, 1, 3)), cv2.COLOR_LAB2RGB)
    res = src.copy()
    res[y0:y1, x0:x1] = out
    return res
