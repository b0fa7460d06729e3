"""What the evaluation measures on recovered faces: embeddings, FID features and landmarks
(:class:`Meter`), and the per-sample numbers the tables average (identity scores,
PSNR/SSIM, blockiness, map IoU, pose and attributes). The metrics themselves are
:mod:`dfrec.metrics`; these helpers apply them to uint8 crops ``(N, 3, S, S)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dfrec.io import to_float
from dfrec.metrics.attributes import attribute_consistency
from dfrec.metrics.blockiness import blockiness
from dfrec.metrics.checkerboard import checkerboard
from dfrec.metrics.idsim import IDSim, identity_scores
from dfrec.metrics.pose import pose_error
from dfrec.metrics.psnr_ssim import psnr, ssim
from dfrec.metrics.segmentation import false_positive_area, map_iou
from dfrec.models.dfrec import face_prior_mask


def mean(v: Any) -> float:
    """Mean of the finite values of ``v`` (NaN marks "not measured for this sample"); NaN if none."""
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


class Meter:
    """Identity embeddings, FID features (``fid=False``: none) and dlib landmarks of uint8 crops."""

    def __init__(self, device: torch.device, fid: bool = True, fid_weights: str | None = None) -> None:
        self.ids = IDSim(device, batch_size=32)
        self.fid_ex = None
        if fid:
            from dfrec.metrics.fid import FIDFeatureExtractor

            if fid_weights:
                self.fid_ex = FIDFeatureExtractor("pt_inception", fid_weights).to(device)
            else:
                self.fid_ex = FIDFeatureExtractor().to(device)
        self.device = device

    def embed(self, u8: torch.Tensor) -> torch.Tensor:
        """``(N, 128)`` identity embeddings (CPU float32)."""
        out = [self.ids.embed(to_float(u8[i:i + 32])) for i in range(0, len(u8), 32)]
        return torch.cat(out)

    @torch.no_grad()
    def fid_features(self, u8: torch.Tensor) -> torch.Tensor | None:
        """``(N, 2048)`` FID-Inception features, or ``None`` without FID."""
        if self.fid_ex is None:
            return None
        return torch.cat([self.fid_ex(to_float(u8[i:i + 16]).to(self.device)).cpu() for i in range(0, len(u8), 16)])

    @staticmethod
    def landmarks(u8: torch.Tensor) -> np.ndarray:
        """dlib-68 landmarks (HOG detector) of the largest face per crop ``(N, 68, 2)``, NaN where none."""
        out = np.full((len(u8), 68, 2), np.nan, np.float32)
        try:
            import dlib  # noqa: F401  (the landmark detector; absent on some GPU machines)

            from dfrec.faces import detect_faces
        except ImportError:
            return out  # pose/attribute columns become n/a; the table note says why
        for i, img in enumerate(u8):
            faces = detect_faces(np.ascontiguousarray(img.permute(1, 2, 0).numpy()), fallback=False,
                                 verify_below=float("-inf"))  # HOG only: fast, no CNN
            if faces:
                out[i] = faces[0].landmarks
        return out


def _in_face(metric, u8: torch.Tensor, **kwargs) -> np.ndarray:
    """Per-crop ``metric(images, region, reduction="none", **kwargs)`` of uint8 crops inside the
    face ellipse, 64 crops at a time."""
    region = face_prior_mask(u8.shape[-1])
    return torch.cat([metric(to_float(u8[i:i + 64]), region, reduction="none", **kwargs)
                      for i in range(0, len(u8), 64)]).numpy()


def face_blockiness(u8: torch.Tensor, patch_size: int = 16, reference: str = "off_border") -> np.ndarray:
    """Per-crop :func:`~dfrec.metrics.blockiness.blockiness` of uint8 crops inside the face ellipse
    (``reference``: ``"off_border"``, or ``"midline"``, which JPEG blocking does not raise)."""
    return _in_face(blockiness, u8, patch_size=patch_size, reference=reference)


def face_checkerboard(u8: torch.Tensor) -> np.ndarray:
    """Per-crop :func:`~dfrec.metrics.checkerboard.checkerboard` of uint8 crops inside the face ellipse."""
    return _in_face(checkerboard, u8)


def map_rows(mask: torch.Tensor, true_u8: torch.Tensor, logit: torch.Tensor | None, is_fake: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample map IoU (fakes; NaN for reals), false-positive area (reals; NaN for fakes)
    and ISM head correctness, from maps ``(N, 1, S, S)`` in [0, 1] and true masks (uint8)."""
    true = to_float(true_u8)
    m = mask.float().clamp(0, 1)
    fake = torch.from_numpy(np.asarray(is_fake, bool))
    nan = torch.full((len(m),), float("nan"))
    iou = torch.where(fake, map_iou(m, true), nan)
    fp = torch.where(fake, nan, false_positive_area(m, true))
    right = np.full(len(m), np.nan) if logit is None else ((logit.numpy() > 0) == np.asarray(is_fake, bool)).astype(float)
    return {"iou": iou.numpy(), "fp": fp.numpy(), "cls": right}


def pose_attr(lm_a: np.ndarray, lm_b: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair pose angle (deg), attr L1 and expression NME; NaN where a face was not found."""
    n = len(lm_a)
    pose, attr, nme = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        if np.isfinite(lm_a[i]).all() and np.isfinite(lm_b[i]).all():
            try:
                pose[i] = pose_error(lm_a[i], lm_b[i], (size, size))["angle"]
            except ValueError:
                pass
            c = attribute_consistency(lm_a[i], lm_b[i])
            attr[i], nme[i] = c["attr_l1"], c["expression_nme"]
    return pose, attr, nme


def pair_metrics(rec: torch.Tensor, true: torch.Tensor, e_rec: torch.Tensor, e_true: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-pair IDSim, cosine, L2, verification, PSNR, SSIM of uint8 crops and their embeddings."""
    ids = identity_scores(e_rec, e_true)
    ps, ss = [], []
    for i in range(0, len(rec), 32):
        a, b = to_float(rec[i:i + 32]), to_float(true[i:i + 32])
        ps.append(psnr(a, b, reduction="none"))
        ss.append(ssim(a, b, reduction="none"))
    out = {k: v.numpy() for k, v in ids.items()}
    out["psnr"] = torch.cat(ps).numpy()
    out["ssim"] = torch.cat(ss).numpy()
    return out
