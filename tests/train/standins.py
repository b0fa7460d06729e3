"""Small stand-ins for the model, loss and data (used where the real parts are not needed)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from dfrec.train.components import Components


class TinyNet(nn.Module):
    """Conv net with the DFREC output contract; draws random numbers in forward like the TIRM."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 7, 3, padding=1))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        y = self.body(x + 0.01 * torch.rand_like(x))
        pooled = torch.cat([y.mean((2, 3)), x.mean((1, 2, 3))[:, None]], 1)
        return {
            "source": torch.sigmoid(y[:, 0:3]),
            "target": torch.sigmoid(y[:, 3:6]),
            "mask": torch.sigmoid(y[:, 6:7]),
            "logit": self.head(pooled)[:, 0],
        }


class TinyLoss(nn.Module):
    def forward(self, out, batch):
        parts = {
            "source": (out["source"] - batch["source"]).abs().mean(),
            "target": (out["target"] - batch["target"]).abs().mean(),
            "cls": nn.functional.binary_cross_entropy_with_logits(out["logit"].float(), batch["is_fake"].float()),
        }
        return sum(parts.values()), parts

    def describe(self):
        return {"kind": "standin"}


class RandomPairs(Dataset):
    """Samples drawn from the global torch RNG (so seeding per sample matters)."""

    def __init__(self, n: int, size: int = 32):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        s = torch.rand(3, self.size, self.size)
        t = torch.rand(3, self.size, self.size)
        m = (torch.rand(1, self.size, self.size) > 0.5).float()
        fake = float(i % 2)
        x = m * s + (1 - m) * t if fake else t
        return {"forgery": x, "source": s if fake else t, "target": t, "mask": m, "is_fake": fake, "kind": "x"}


def standin_components(n_train: int = 64, n_val: int = 8) -> Components:
    return Components(
        build_model=lambda cfg: TinyNet(),
        build_loss=lambda cfg: TinyLoss(),
        build_datasets=lambda cfg: (RandomPairs(n_train), RandomPairs(n_val)),
    )
