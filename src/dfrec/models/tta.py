"""Test-time views of an aligned crop, whose recovered faces are averaged (``DFRECConfig.tta``).

A :class:`View` warps the input ``(N, C, S, S)``; the model recovers faces from the warped
crop; :meth:`View.invert` maps them back, and :meth:`View.weight` ``(1, 1, S, S)`` in {0, 1}
is 0 where the view holds no prediction of the original pixel (the band a shift pushes out of
the crop). :func:`average` is the weighted mean over views. A mirror gives the MAE a second
guess at every masked patch; a shift by half a patch moves the 16-px grid, so its blocks fall
where the first view's are whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class View:
    """One test-time view: ``shift`` px down and right (the crop's top and left edge rows
    repeated), then mirrored left-right when ``flip``."""

    flip: bool = False
    shift: int = 0

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Warp ``x`` ``(N, C, S, S)`` into the view (same shape and dtype)."""
        if self.shift:
            s = self.shift
            x = F.pad(x, (s, 0, s, 0), mode="replicate")[..., : x.shape[-2], : x.shape[-1]]
        if self.flip:
            x = x.flip(-1)
        return x

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        """Map ``y`` ``(N, C, S, S)``, computed on the view, back to the original crop; where
        the view has no pixel (see :meth:`weight`) the edge is repeated."""
        if self.flip:
            y = y.flip(-1)
        if self.shift:
            s = self.shift
            y = F.pad(y[..., s:, s:], (0, s, 0, s), mode="replicate")
        return y

    def weight(self, size: int, like: torch.Tensor) -> torch.Tensor:
        """``(1, 1, size, size)`` in {0, 1}: 1 where :meth:`invert` returns a prediction of
        the original pixel; dtype and device of ``like``."""
        w = like.new_ones(1, 1, size, size)
        if self.shift:
            w[..., size - self.shift:, :] = 0
            w[..., :, size - self.shift:] = 0
        return w


def views(mode: str, patch_size: int) -> tuple[View, ...]:
    """The views of a ``tta`` mode (:data:`dfrec.models.config.TTAS`), the plain view first:
    ``none`` 1, ``flip`` 2, ``shift`` 2 (by ``patch_size // 2`` px), ``flip_shift`` 4."""
    half = patch_size // 2
    table = {
        "none": (View(),),
        "flip": (View(), View(flip=True)),
        "shift": (View(), View(shift=half)),
        "flip_shift": (View(), View(flip=True), View(shift=half), View(flip=True, shift=half)),
    }
    if mode not in table:
        raise ValueError(f"unknown tta mode {mode!r}; one of {tuple(table)}")
    return table[mode]


def average(outputs: list[torch.Tensor], used: tuple[View, ...]) -> torch.Tensor:
    """Weighted mean ``(N, C, S, S)`` of the views' ``outputs`` (each computed on its view,
    in the order of ``used``), mapped back to the original crop."""
    size = outputs[0].shape[-1]
    total = torch.zeros_like(outputs[0])
    count = outputs[0].new_zeros(1, 1, size, size)
    for y, v in zip(outputs, used, strict=True):
        w = v.weight(size, y)
        total = total + w * v.invert(y)
        count = count + w
    return total / count
