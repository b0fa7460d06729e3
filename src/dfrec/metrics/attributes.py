"""Attribute consistency: does a recovered face keep the true face's expression and shape?

No face-attribute classifier (e.g. CelebA-40) exists offline, so dfrec measures the
attributes that a face swap must preserve on the *target* and that 68 landmarks (dlib's
shape predictor) expose directly. Each attribute is a ratio normalised by the
inter-ocular distance (IOD, outer eye corners 36–45), so it is invariant to scale and
translation:

=================  ==============================================================
``mouth_open``     inner-lip gap (62–66) / mouth width (48–54)
``mouth_width``    mouth width / IOD (smiles widen the mouth)
``smile``          (lip-centre height − mouth-corner height) / IOD (corners raised > 0)
``eye_open_l/r``   eye aspect ratio (Soukupová & Čech 2016) of each eye
``brow_raise_l/r`` (eye centre y − brow centre y) / IOD for each side
``jaw_drop``       nose tip (33) to chin (8) / IOD
=================  ==============================================================

:func:`attribute_consistency` reports the mean absolute difference of these attributes
(``attr_l1``, lower is better, 0 = identical) and the expression NME: the mean
point-to-point distance of all 68 landmarks after a similarity (Procrustes) alignment,
divided by the IOD (lower is better; it also absorbs face-shape differences).
"""

from __future__ import annotations

import numpy as np

ATTRIBUTE_NAMES = ("mouth_open", "mouth_width", "smile", "eye_open_l", "eye_open_r",
                   "brow_raise_l", "brow_raise_r", "jaw_drop")


def _check(lm: np.ndarray) -> np.ndarray:
    lm = np.asarray(lm, dtype=np.float64)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2), got shape {lm.shape}")
    return lm


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _ear(eye: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of 6 eye points (..., 6, 2)."""
    v = _dist(eye[..., 1, :], eye[..., 5, :]) + _dist(eye[..., 2, :], eye[..., 4, :])
    return v / (2.0 * _dist(eye[..., 0, :], eye[..., 3, :]) + 1e-9)


def attribute_vector(landmarks: np.ndarray) -> np.ndarray:
    """Landmark attributes ``(..., 8)`` (order :data:`ATTRIBUTE_NAMES`) from ``(..., 68, 2)``."""
    lm = _check(landmarks)
    iod = _dist(lm[..., 36, :], lm[..., 45, :]) + 1e-9
    mouth_w = _dist(lm[..., 48, :], lm[..., 54, :]) + 1e-9
    lip_centre_y = (lm[..., 51, 1] + lm[..., 57, 1]) / 2.0
    corner_y = (lm[..., 48, 1] + lm[..., 54, 1]) / 2.0
    eye_l, eye_r = lm[..., 36:42, :], lm[..., 42:48, :]
    out = [
        _dist(lm[..., 62, :], lm[..., 66, :]) / mouth_w,
        mouth_w / iod,
        (lip_centre_y - corner_y) / iod,
        _ear(eye_l),
        _ear(eye_r),
        (eye_l[..., 1].mean(-1) - lm[..., 17:22, 1].mean(-1)) / iod,
        (eye_r[..., 1].mean(-1) - lm[..., 22:27, 1].mean(-1)) / iod,
        _dist(lm[..., 33, :], lm[..., 8, :]) / iod,
    ]
    return np.stack(out, axis=-1)


def procrustes_nme(landmarks_a: np.ndarray, landmarks_b: np.ndarray) -> float:
    """Mean distance between two ``(68, 2)`` landmark sets after similarity-aligning a onto b,
    divided by b's inter-ocular distance."""
    a, b = _check(landmarks_a), _check(landmarks_b)
    if a.shape != (68, 2) or b.shape != (68, 2):
        raise ValueError("procrustes_nme takes one (68, 2) pair")
    ca, cb = a - a.mean(0), b - b.mean(0)
    # Optimal similarity (Umeyama): rotation from the SVD of the cross-covariance.
    u, s, vt = np.linalg.svd(cb.T @ ca)
    d = np.sign(np.linalg.det(u @ vt))
    D = np.diag([1.0, d])
    R = u @ D @ vt
    scale = np.trace(np.diag(s) @ D) / (ca**2).sum()
    aligned = scale * ca @ R.T
    iod = np.linalg.norm(b[36] - b[45]) + 1e-9
    return float(np.linalg.norm(aligned - cb, axis=1).mean() / iod)


def attribute_consistency(landmarks_a: np.ndarray, landmarks_b: np.ndarray) -> dict[str, float]:
    """Agreement of landmark attributes between face a (e.g. recovered) and b (true target).

    Both ``(68, 2)`` in pixels of their own images. Returns ``attr_l1`` (mean |Δ| over the
    8 attributes), ``expression_nme`` (see :func:`procrustes_nme`) and ``d_<name>`` per
    attribute. Lower is better; identical landmarks give 0.
    """
    va, vb = attribute_vector(landmarks_a), attribute_vector(landmarks_b)
    diff = np.abs(va - vb)
    out = {"attr_l1": float(diff.mean()), "expression_nme": procrustes_nme(landmarks_a, landmarks_b)}
    out.update({f"d_{n}": float(v) for n, v in zip(ATTRIBUTE_NAMES, diff)})
    return out
