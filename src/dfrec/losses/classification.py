"""Real/fake classification loss of the ISM head: binary cross-entropy on logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def classification_loss(logit: torch.Tensor, is_fake: torch.Tensor, reduction: str = "mean",
                        pos_weight: float | None = None) -> torch.Tensor:
    """BCE-with-logits of ``logit (N,)`` (>0 means fake) against ``is_fake (N,)`` in {0, 1}.

    ``pos_weight`` (>1 favours recall of fakes) balances unequal real/fake counts. Returns a
    scalar (``"mean"``) or ``(N,)`` (``"none"``); ln 2 ≈ 0.693 for a logit of 0.
    """
    logit = logit.reshape(-1).float()
    is_fake = is_fake.reshape(-1).to(logit)
    if logit.shape != is_fake.shape:
        raise ValueError(f"logit {tuple(logit.shape)} and is_fake {tuple(is_fake.shape)} disagree")
    pw = None if pos_weight is None else torch.tensor(float(pos_weight), device=logit.device)
    return F.binary_cross_entropy_with_logits(logit, is_fake, reduction=reduction, pos_weight=pw)
