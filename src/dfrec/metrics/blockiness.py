"""Blockiness: how visible a patch grid is in an image.

An MAE that predicts 16-px patches one by one leaves steps at the patch borders. The
measure is the mean absolute difference between horizontally or vertically adjacent
pixels that straddle a patch border, divided by the same mean for pairs that do not,
inside a region (the face): a natural photo gives about 1.0, a visible grid clearly more
(a grid of flat 16-px blocks: very large). Pairs are weighted by the smaller region
weight of their two pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from dfrec.metrics._validate import check_images, reduce


def _ratio(diff: torch.Tensor, weight: torch.Tensor, border: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-image (weighted mean of ``diff`` on ``border``) / (on the rest); inputs broadcast to (N, ...)."""
    w_on = weight * border
    w_off = weight * (1.0 - border)
    on = (diff * w_on).flatten(1).sum(1) / (w_on.expand_as(diff).flatten(1).sum(1) + eps)
    off = (diff * w_off).flatten(1).sum(1) / (w_off.expand_as(diff).flatten(1).sum(1) + eps)
    return on, off


def blockiness(x: torch.Tensor, region: torch.Tensor | None = None, patch_size: int = 16,
               reduction: str = "mean", eps: float = 1e-8) -> torch.Tensor:
    """Border / off-border mean absolute gradient of ``x (N, C, H, W)`` in [0, 1] on a ``patch_size`` grid.

    ``region``: ``(N or 1, 1, H, W)`` weights in [0, 1] (e.g. the face or source mask);
    None = the whole image. Returns ``(N,)`` (``reduction="none"``) or the mean; ≈ 1 for
    natural images, > 1 where the grid shows. NaN for an image whose region holds no
    border (or no off-border) pair.
    """
    check_images(x)
    n, _, h, w = x.shape
    if h <= patch_size and w <= patch_size:
        raise ValueError(f"image {h}x{w} holds no {patch_size}-px patch border")
    xf = x.double()
    wt = torch.ones(1, 1, h, w, dtype=torch.float64, device=x.device) if region is None else region.double()
    if wt.ndim != 4 or wt.shape[1] != 1 or wt.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"region must be (N, 1, {h}, {w}), got {tuple(wt.shape)}")
    dx = (xf[..., :, 1:] - xf[..., :, :-1]).abs().mean(1, keepdim=True)  # pair (j, j+1)
    dy = (xf[..., 1:, :] - xf[..., :-1, :]).abs().mean(1, keepdim=True)
    wx = torch.minimum(wt[..., :, 1:], wt[..., :, :-1])
    wy = torch.minimum(wt[..., 1:, :], wt[..., :-1, :])
    bx = ((torch.arange(w - 1, device=x.device) + 1) % patch_size == 0).double().view(1, 1, 1, -1)
    by = ((torch.arange(h - 1, device=x.device) + 1) % patch_size == 0).double().view(1, 1, -1, 1)
    wx, wy = wx.expand(n, -1, -1, -1), wy.expand(n, -1, -1, -1)
    on_x, off_x = _ratio(dx, wx, bx, eps)
    on_y, off_y = _ratio(dy, wy, by, eps)
    n_on = (wx * bx).flatten(1).sum(1) + (wy * by).flatten(1).sum(1)
    n_off = (wx * (1 - bx)).flatten(1).sum(1) + (wy * (1 - by)).flatten(1).sum(1)
    # pool x and y pairs by their weights
    on = (on_x * (wx * bx).flatten(1).sum(1) + on_y * (wy * by).flatten(1).sum(1)) / (n_on + eps)
    off = (off_x * (wx * (1 - bx)).flatten(1).sum(1) + off_y * (wy * (1 - by)).flatten(1).sum(1)) / (n_off + eps)
    values = on / (off + eps)
    values = torch.where((n_on > eps) & (n_off > eps), values, torch.full_like(values, float("nan")))
    return reduce(values.float(), reduction)


class Blockiness(nn.Module):
    """Module form of :func:`blockiness`."""

    def __init__(self, patch_size: int = 16, reduction: str = "mean") -> None:
        super().__init__()
        self.patch_size = patch_size
        self.reduction = reduction

    def forward(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        return blockiness(x, region, self.patch_size, self.reduction)
