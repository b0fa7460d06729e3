"""FLOP counting shared by the benchmarks: ``torch.utils.flop_counter`` with a corrected
convolution-backward formula (torch's transposes the weight shape and so overcounts
grouped/depthwise convolutions by the group count: 33x for a 32-channel depthwise conv on
torch 2.14)."""

from __future__ import annotations

from math import prod

import torch
from torch.utils.flop_counter import FlopCounterMode


def conv_backward_flop(grad_out_shape, x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    """Backward of a (possibly grouped) convolution: one forward's FLOPs per gradient computed."""
    output_mask = args[7] if len(args) > 7 else kwargs.get("output_mask", (True, True, False))
    n, _, *spatial = grad_out_shape
    fwd = 2 * n * prod(spatial) * prod(w_shape)
    return fwd * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flop_counter(display: bool = False) -> FlopCounterMode:
    """A ``FlopCounterMode`` with the corrected convolution backward."""
    return FlopCounterMode(display=display, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flop})
