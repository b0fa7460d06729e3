"""Patch-recovery loss of the TIRM: L2 between predicted masked patches and the target's.

Patch layout (MAE convention, the one ``dfrec.models`` uses): an image ``(N, C, H, W)`` is
cut into ``p × p`` patches in raster order (row by row), each flattened as
``(p, p, C)`` → ``p·p·C`` values (channel last). ``mask_indices (N, M)`` index that raster
order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def patchify(img: torch.Tensor, patch: int) -> torch.Tensor:
    """``img (N, C, H, W)`` → ``(N, (H/p)·(W/p), p·p·C)`` patches in raster order (channel last)."""
    n, c, h, w = img.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not divisible by the patch size {patch}")
    x = img.reshape(n, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(patches: torch.Tensor, patch: int, channels: int = 3, height: int | None = None) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(N, L, p·p·C)`` → ``(N, C, H, W)`` (square unless ``height``)."""
    n, L, _ = patches.shape
    gh = (height // patch) if height else int(math.isqrt(L))
    gw = L // gh
    x = patches.reshape(n, gh, gw, patch, patch, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, channels, gh * patch, gw * patch)


def patch_size_of(pred_patches: torch.Tensor, channels: int = 3) -> int:
    """Patch side ``p`` from the last dimension ``p·p·C`` of predicted patches."""
    p = int(math.isqrt(pred_patches.shape[-1] // channels))
    if p * p * channels != pred_patches.shape[-1]:
        raise ValueError(f"last dimension {pred_patches.shape[-1]} is not p*p*{channels}")
    return p


def gather_patches(patches: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``patches (N, L, D)``, ``indices (N, M)`` long → ``(N, M, D)``."""
    return torch.gather(patches, 1, indices.long().unsqueeze(-1).expand(-1, -1, patches.shape[-1]))


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
    p = patch_size_of(pred_patches, target.shape[1])
    want = gather_patches(patchify(target, p), mask_indices)
    err = F.mse_loss(pred_patches.float(), want.float(), reduction="none").flatten(1).mean(1)
    return err.mean() if reduction == "mean" else err
