"""Luma of RGB images (ITU-R BT.601), the one definition the metrics that read brightness share."""

from __future__ import annotations

import torch

#: ITU-R BT.601 luma weights for RGB
LUMA = (0.299, 0.587, 0.114)


def luma(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB -> ``(N, 1, H, W)`` luma in the input's dtype and range."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got {tuple(x.shape)}")
    return sum(w * x[:, i:i + 1] for i, w in enumerate(LUMA))
