"""Piecewise-affine warp of one face onto another face's 68 landmarks.

The target's landmarks, forehead anchors above the brows and anchors on the crop border
are triangulated (Delaunay); each destination pixel takes the affine map of its triangle
(a triangle-index raster drawn with OpenCV, the maps solved in one batched numpy call),
and a single ``cv2.remap`` samples the source. Only the region of interest is computed.
Outside the landmarks the warp follows the similarity transform that best aligns the two
landmark sets, so the border anchors do not tear the image.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from dfrec.data.synth.masks import raised_brows


def anchor_points(landmarks: np.ndarray, forehead: float) -> np.ndarray:
    """``(78, 2)`` float32: the 68 landmarks plus 10 forehead points ``forehead`` × face size above the brows."""
    lm = np.asarray(landmarks, np.float32)
    return np.concatenate([lm, raised_brows(lm, forehead)]).astype(np.float32)


def _border(size: tuple[int, int], margin: float = 2.0) -> np.ndarray:
    h, w = size
    xs = np.array([-margin, (w - 1) / 2, w - 1 + margin], np.float32)
    ys = np.array([-margin, (h - 1) / 2, h - 1 + margin], np.float32)
    pts = [(x, y) for y in ys for x in xs if not (x == xs[1] and y == ys[1])]
    return np.array(pts, np.float32)


def piecewise_affine(
    src: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    out_size: tuple[int, int],
    roi: tuple[int, int, int, int] | None = None,
    fill: np.ndarray | None = None,
) -> np.ndarray:
    """Warp ``src`` so that ``src_pts`` land on ``dst_pts``.

    ``src``: ``(H, W, C)`` uint8; ``src_pts``, ``dst_pts``: ``(P, 2)`` float (x, y) in each
    image's pixels; ``out_size``: ``(h, w)``; ``roi``: ``(y0, y1, x0, x1)`` of the output to
    compute (default all); pixels outside the roi are copied from ``fill`` (default zeros).
    Returns ``(h, w, C)`` uint8.
    """
    h, w = out_size
    src_pts = np.asarray(src_pts, np.float64)
    dst_pts = np.asarray(dst_pts, np.float64)
    # Border anchors: destination corners mapped through the global similarity dst -> src.
    sim, _ = cv2.estimateAffinePartial2D(dst_pts.astype(np.float32), src_pts.astype(np.float32))
    if sim is None:
        sim = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    bd = _border((h, w)).astype(np.float64)
    bs = bd @ sim[:, :2].T + sim[:, 2]
    D = np.concatenate([dst_pts, bd])
    S = np.concatenate([src_pts, bs])
    tri = Delaunay(D).simplices  # (T, 3)

    # Affine per triangle mapping dst -> src: solve [x y 1] @ M = [u v] for each triangle.
    Dh = np.concatenate([D[tri], np.ones((len(tri), 3, 1))], axis=2)  # (T, 3, 3)
    good = np.abs(np.linalg.det(Dh)) > 1e-6
    M = np.zeros((len(tri), 3, 2))
    M[good] = np.linalg.solve(Dh[good], S[tri][good])
    M[~good] = np.concatenate([sim[:, :2].T, sim[:, 2][None]])[None]

    y0, y1, x0, x1 = roi if roi is not None else (0, h, 0, w)
    rh, rw = y1 - y0, x1 - x0
    label = np.zeros((rh, rw), np.int32)
    P = np.round((D[tri] - np.array([x0, y0], np.float64)) * 16).astype(np.int32)  # (T, 3, 2), 1/16 px
    for i in range(len(P)):
        cv2.fillConvexPoly(label, P[i], i + 1, lineType=cv2.LINE_8, shift=4)
    idx = label - 1
    idx[idx < 0] = len(tri)  # outside every triangle (cannot happen inside the border): similarity
    Mx = np.concatenate([M, np.concatenate([sim[:, :2].T, sim[:, 2][None]])[None]]).astype(np.float32)
    coef = np.ascontiguousarray(Mx.reshape(-1, 6).T)  # (6, T+1): a_xu, a_xv, a_yu, a_yv, b_u, b_v
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    c = [np.take(coef[k], idx) for k in range(6)]  # each (rh, rw)
    map_x = xs * c[0] + ys * c[2] + c[4]
    map_y = xs * c[1] + ys * c[3] + c[5]
    part = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out = np.zeros((h, w) + src.shape[2:], src.dtype) if fill is None else fill.copy()
    out[y0:y1, x0:x1] = part.reshape(rh, rw, *src.shape[2:])
    return out
