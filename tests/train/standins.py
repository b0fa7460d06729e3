"""A stand-in model and loss for the one comparison the real model cannot make exactly:
DistributedDataParallel on K ranks against one process at K times the batch.

The real DFREC cannot be compared that way, by design: its BatchNorm layers normalise each
rank's own batch, and its TIRM draws its masking noise from each rank's own random stream,
so a 2-rank run and a 1-process run legitimately differ. This network has neither
(no BatchNorm, no randomness), keeps the DFREC output contract the trainer relies on, and
trains on the real synthesised data; what is compared is the trainer's distributed part:
data sharding, gradient averaging, identical initialisation, the optimiser and the schedule.
"""

from __future__ import annotations

import torch
from torch import nn

from dfrec.train.components import Components, build_datasets


class PlainNet(nn.Module):
    """Two convolutions -> recovered source, recovered target, map and a real/fake logit."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 7, 3, padding=1))
        self.head = nn.Linear(7, 1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        y = self.body(x)
        return {
            "source": torch.sigmoid(y[:, 0:3]),
            "target": torch.sigmoid(y[:, 3:6]),
            "mask": torch.sigmoid(y[:, 6:7]),
            "logit": self.head(y.mean((2, 3)))[:, 0],
        }


class PlainLoss(nn.Module):
    """L1 to the true source and target plus the real/fake BCE (each a mean over the batch)."""

    def forward(self, out: dict[str, torch.Tensor], batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {
            "source": (out["source"] - batch["source"]).abs().mean(),
            "target": (out["target"] - batch["target"]).abs().mean(),
            "cls": nn.functional.binary_cross_entropy_with_logits(out["logit"], batch["is_fake"].float()),
        }
        return sum(parts.values()), parts

    def describe(self) -> dict:
        return {"kind": "stand-in: L1 source + L1 target + BCE"}


def plain_components() -> Components:
    """The stand-in model and loss with dfrec's real datasets."""
    return Components(build_model=lambda cfg: PlainNet(), build_loss=lambda cfg: PlainLoss(), build_datasets=build_datasets)
