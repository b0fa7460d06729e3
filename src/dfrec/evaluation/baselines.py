"""Baselines that share DFREC's tables.

* :func:`inpaint_faces` — "what a method with no identity knowledge recovers": the face
  region (convex hull of the 68 landmarks, dilated a little) of the *forgery* is filled
  by OpenCV inpainting (Telea 2004, or Navier–Stokes) from the surrounding hair, ears,
  neck and background. Recovers only a target.
* The direct U-Net (the DFI idea) is a model, :class:`dfrec.models.direct_unet.DirectUNet`,
  trained by :mod:`dfrec.train.baseline` and loaded here with ``--baseline-unet``.
* The "MAE without identity fusion" and "no ISM" rows are the DFREC model itself with its
  switches (``DFREC.forward(map_override=..., fuse=...)``, :mod:`dfrec.evaluation.variants`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from dfrec.io import to_float, to_uint8

INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


# ------------------------------------------------------------------------------------------
# classical inpainting


def face_hull_mask(landmarks: np.ndarray, size: tuple[int, int], dilate: int = 5) -> np.ndarray:
    """``(H, W) uint8`` mask (255 inside) of the convex hull of 68 landmarks, dilated by
    ``dilate`` pixels so the blend seam of a swap is covered too."""
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(landmarks, np.float32)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, k)
    return mask


def inpaint_face(image: np.ndarray, landmarks: np.ndarray, method: str = "telea", radius: int = 5,
                 dilate: int = 5) -> np.ndarray:
    """Fill the landmark hull of ``image`` ``(H, W, 3) uint8`` RGB by inpainting; same shape out."""
    if method not in INPAINT_METHODS:
        raise ValueError(f"inpainting method must be one of {sorted(INPAINT_METHODS)}, got {method!r}")
    img = np.ascontiguousarray(image, dtype=np.uint8)
    mask = face_hull_mask(landmarks, img.shape[:2], dilate)
    return cv2.inpaint(img, mask, radius, INPAINT_METHODS[method])


def inpaint_faces(images: torch.Tensor, landmarks: np.ndarray, method: str = "telea") -> torch.Tensor:
    """Batch form: ``(N, 3, H, W)`` in [0, 1] and landmarks ``(N, 68, 2)`` -> ``(N, 3, H, W)``."""
    out = []
    for img, lm in zip(images, landmarks):
        arr = to_uint8(img.permute(1, 2, 0).cpu().numpy())
        out.append(to_float(torch.from_numpy(inpaint_face(arr, lm, method)).permute(2, 0, 1)))
    return torch.stack(out).to(images.device)

