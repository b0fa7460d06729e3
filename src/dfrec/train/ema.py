"""Exponential moving average of a model's weights, updated without a host-device sync.

torch's ``AveragedModel`` with ``get_ema_multi_avg_fn`` copies its step counter (a host
tensor) to the GPU once per group of weights of one dtype at every update; a blocking
host-to-device copy synchronises the stream, so each training step waited for the GPU that
many times (two for DFREC: float weights and the BatchNorms' integer counters). ``EMA`` keeps
``AveragedModel``'s layout and state dict (``module.*`` + ``n_averaged``), so checkpoints of
either load into the other, and updates with one foreach lerp per dtype, reading only the host counter.
"""
from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


class EMA(AveragedModel):
    """``ema = decay · ema + (1 − decay) · weights`` over parameters and floating buffers
    (BatchNorm running statistics); integer buffers (``num_batches_tracked``) follow the model.
    The first update copies the model. ``n_averaged`` (int64, on the host) counts updates.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        super().__init__(model, use_buffers=True)
        self.decay = float(decay)

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        ours = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*model.parameters(), *model.buffers())]
        if len(ours) != len(theirs):
            raise ValueError(f"EMA holds {len(ours)} tensors, the model {len(theirs)}")
        first = int(self.n_averaged) == 0  # a host tensor: reading it waits for nothing
        floats = [(o, t) for o, t in zip(ours, theirs) if o.is_floating_point()]
        exact = [(o, t) for o, t in zip(ours, theirs) if not o.is_floating_point()]
        if first:
            exact += floats
        elif floats:
            # per dtype: one kernel for all weights of that dtype (foreach needs matching dtypes)
            for dtype in {o.dtype for o, _ in floats}:
                group = [(o, t) for o, t in floats if o.dtype == dtype]
                torch._foreach_lerp_([o for o, _ in group], [t.to(o.device) for o, t in group], 1.0 - self.decay)
        for o, t in exact:
            o.copy_(t)
        self.n_averaged += 1
