"""How well the ISM map finds the source region: IoU with the true source mask.

Both maps are binarised at ``threshold`` (0.5). For a forgery the IoU is in [0, 1]; for a
real face (no true source region) the IoU is undefined (NaN) and :func:`false_positive_area`
says how much of the crop the map wrongly marks instead.
"""

from __future__ import annotations

import torch

from dfrec.metrics._validate import check_images, reduce


def map_iou(pred: torch.Tensor, true: torch.Tensor, threshold: float = 0.5, reduction: str = "none") -> torch.Tensor:
    """IoU of ``pred > threshold`` and ``true > threshold``, maps ``(N, 1, H, W)`` in [0, 1] → ``(N,)``.

    NaN where both are empty (a real face); ``reduction="mean"`` averages the others.
    """
    check_images(pred, true)
    p, t = pred > threshold, true > threshold
    inter = (p & t).flatten(1).sum(1).double()
    union = (p | t).flatten(1).sum(1).double()
    values = torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, float("nan"))).float()
    if reduction == "mean":
        ok = ~torch.isnan(values)
        return values[ok].mean() if ok.any() else values.new_tensor(float("nan"))
    return reduce(values, reduction)


def false_positive_area(pred: torch.Tensor, true: torch.Tensor, threshold: float = 0.5,
                        reduction: str = "none") -> torch.Tensor:
    """Share of the crop where ``pred > threshold`` but ``true <= threshold`` → ``(N,)`` in [0, 1]."""
    check_images(pred, true)
    fp = (pred > threshold) & ~(true > threshold)
    return reduce(fp.flatten(1).float().mean(1), reduction)
