"""Input validation shared by every metric (one helper, one message style)."""

from __future__ import annotations

import torch


def check_images(*tensors: torch.Tensor, data_range: float = 1.0, same_shape: bool = True) -> None:
    """Check that each tensor is a ``(N, C, H, W)`` float batch in ``[0, data_range]``.

    Raises ``ValueError`` (shape, dtype, range, mismatched shapes) with one clear line.
    """
    if not tensors:
        raise ValueError("no tensors given")
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"input {i} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"input {i} must be (N, C, H, W), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"input {i} must be a float tensor, got {t.dtype}")
        if t.numel() == 0:
            raise ValueError(f"input {i} is empty, shape {tuple(t.shape)}")
        lo, hi = float(t.detach().min()), float(t.detach().max())
        tol = 1e-4 * data_range
        if lo < -tol or hi > data_range + tol:
            raise ValueError(f"input {i} values must be in [0, {data_range:g}], got [{lo:.4g}, {hi:.4g}]")
    if same_shape:
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) > 1:
            raise ValueError(f"inputs must have the same shape, got {sorted(shapes)}")


def region_weights(x: torch.Tensor, region: torch.Tensor | None) -> torch.Tensor:
    """Float64 weights ``(N or 1, 1, H, W)`` for images ``x (N, C, H, W)``: ``region`` (weights in
    [0, 1], e.g. the face ellipse) checked for its shape, or ones (the whole image) when None."""
    h, w = x.shape[-2:]
    wt = torch.ones(1, 1, h, w, dtype=torch.float64, device=x.device) if region is None else region.double()
    if wt.ndim != 4 or wt.shape[1] != 1 or wt.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"region must be (N, 1, {h}, {w}), got {tuple(wt.shape)}")
    return wt


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` ('none' | 'mean' | 'sum') to a per-sample ``(N,)`` tensor."""
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
