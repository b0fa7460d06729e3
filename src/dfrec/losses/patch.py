"""Patch-recovery loss of the TIRM: L2 between predicted masked patches and the target's.

Patch layout: :func:`dfrec.models.masking.patchify` (MAE convention: ``p × p`` patches in
raster order, each flattened channel last to ``p·p·C`` values); ``mask_indices (N, M)``
index that raster order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dfrec.models.masking import gather_patches, patchify


def _patch_side(pred_patches: torch.Tensor, channels: int = 3) -> int:
    """Patch side ``p`` from the last dimension ``p·p·C`` of predicted patches."""
    p = int(math.isqrt(pred_patches.shape[-1] // channels))
    if p * p * channels != pred_patches.shape[-1]:
        raise ValueError(f"last dimension {pred_patches.shape[-1]} is not p*p*{channels}")
    return p


def patch_loss(pred_patches: torch.Tensor, mask_indices: torch.Tensor, target: torch.Tensor,
               reduction: str = "mean") -> torch.Tensor:
    """Mean squared error between the TIRM's predicted masked patches and the true target's.

    ``pred_patches (N, M, p·p·3)`` in [0, 1], ``mask_indices (N, M)`` raster indices of the
    masked patches, ``target (N, 3, H, W)`` in [0, 1]. Scalar (mean over all values) or
    ``(N,)`` with ``reduction="none"``. 0 when the predictions equal the target's patches.
    """
    if pred_patches.dim() != 3 or mask_indices.shape != pred_patches.shape[:2]:
        raise ValueError(f"pred_patches (N, M, D) and mask_indices (N, M) disagree: "
                         f"{tuple(pred_patches.shape)} vs {tuple(mask_indices.shape)}")
    p = _patch_side(pred_patches, target.shape[1])
    want = gather_patches(patchify(target, p), mask_indices)
    err = F.mse_loss(pred_patches.float(), want.float(), reduction="none").flatten(1).mean(1)
    return err.mean() if reduction == "mean" else err
