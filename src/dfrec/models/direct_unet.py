"""The direct U-Net baseline (the DFI idea): a plain U-Net mapping the forgery straight to
the target face — no segmentation, no masking, no identity fusion — so the tables show
what learning the inverse of the swap end-to-end gives with the same data and budget.

Trained by :func:`dfrec.train.baseline.train_direct_unet` (``dfrec train --baseline
direct-unet``), evaluated by ``dfrec evaluate --baseline-unet DIR``. Saved as
``model.safetensors`` + ``config.json`` (its own small format, never pickle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dfrec.errors import CheckpointError
from dfrec.io import atomic_path, write_json_atomic


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


class DirectUNet(nn.Module):
    """U-Net forgery -> target: ``forward(x (N, 3, S, S) in [0, 1])`` returns a dict in the
    DFREC output contract: ``target`` (N, 3, S, S) in [0, 1] (predicted), ``source`` = the
    input (this baseline recovers no source), ``mask`` zeros (N, 1, S, S), ``logit`` zeros
    (N,). ``S`` must be divisible by ``2 ** (len(widths) - 1)``. A residual formulation
    (output = sigmoid(logit(x) + delta)) makes the untrained network start at identity."""

    kind = "direct_unet"

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        #: the ``metadata`` of the folder the weights came from (empty for a new network)
        self.checkpoint_metadata: dict[str, Any] = {}
        self.down = nn.ModuleList()
        cin = 3
        for w in self.widths:
            self.down.append(_Block(cin, w))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w in reversed(self.widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
            self.dec.append(_Block(2 * w, w))
            cin = w
        self.head = nn.Conv2d(cin, 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            h = dec(torch.cat([up(h), skip], 1))
        base = torch.logit(x.clamp(1e-3, 1 - 1e-3))
        target = torch.sigmoid(base + self.head(h))
        return {"target": target, "source": x, "mask": x.new_zeros(n, 1, *x.shape[-2:]), "logit": x.new_zeros(n)}

    def save_pretrained(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        write_json_atomic(folder / "config.json", {"model": self.kind, "widths": list(self.widths),
                                                   "metadata": metadata or {}})
        return folder

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "DirectUNet":
        """Load a folder written by :meth:`save_pretrained`; raises :class:`CheckpointError`."""
        folder = Path(path)
        try:
            cfg = json.loads((folder / "config.json").read_text())
            if cfg.get("model") != cls.kind:
                raise CheckpointError(f"{folder}: not a direct U-Net baseline (model={cfg.get('model')!r})")
            model = cls(tuple(cfg["widths"]))
            model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{folder}: cannot load the direct U-Net baseline ({str(e).splitlines()[0]})") from None
        model.checkpoint_metadata = cfg.get("metadata", {})
        return model.to(map_location).eval()
