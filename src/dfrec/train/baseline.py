"""Training the direct U-Net baseline (:class:`dfrec.models.direct_unet.DirectUNet`) with
dfrec's own training loop: same config, data, schedule, EMA and checkpoints as a DFREC run;
only the model and the loss (:class:`DirectLoss`: L1 + (1 − SSIM) on the target) differ.
``dfrec train --config C --baseline direct-unet`` runs it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dfrec.errors import ConfigError
from dfrec.metrics.psnr_ssim import ssim
from dfrec.models.direct_unet import DirectUNet
from dfrec.train.components import Components
from dfrec.train.components import build_datasets as default_datasets
from dfrec.train.config import Config


class DirectLoss(nn.Module):
    """Loss of :class:`DirectUNet`: L1 + (1 − SSIM) between predicted and true target.

    ``loss(outputs, batch) -> (total, parts)`` as the training loop expects."""

    def __init__(self, ssim_weight: float = 1.0) -> None:
        super().__init__()
        self.ssim_weight = ssim_weight

    def forward(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pred, true = out["target"].float(), batch["target"].float()
        l1 = (pred - true).abs().mean()
        s = ssim(pred.clamp(0, 1), true.clamp(0, 1)).float()
        total = l1 + self.ssim_weight * (1 - s)
        return total, {"l1": l1.detach(), "ssim": s.detach()}

    def describe(self) -> dict[str, Any]:
        return {"loss": "L1 + (1 - SSIM) on the target", "ssim_weight": self.ssim_weight}


def direct_unet_components(widths: tuple[int, ...] = (32, 64, 128, 256), build_datasets=None) -> Components:
    """The parts of a direct U-Net run: :class:`DirectUNet` ``(widths)``, :class:`DirectLoss`
    and the data factory ``build_datasets`` (default: dfrec's)."""
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise ConfigError(f"direct U-Net widths: at least two positive widths, got {list(widths)}")
    return Components(build_model=lambda _cfg: DirectUNet(widths), build_loss=lambda _cfg: DirectLoss(),
                      build_datasets=build_datasets or default_datasets)


def train_direct_unet(cfg: Config, widths: tuple[int, ...] = (32, 64, 128, 256), build_datasets=None,
                      **trainer_kwargs: Any) -> dict[str, Any]:
    """Train :class:`DirectUNet` with dfrec's training loop (:class:`dfrec.train.loop.Trainer`):
    same config (data, steps, optimiser, schedule, EMA, checkpoints), only the model and loss
    differ (``cfg.model`` is ignored). The final model lands in ``<cfg.output.dir>/model``
    (load it with :meth:`DirectUNet.from_pretrained`, pass it to ``dfrec evaluate
    --baseline-unet``). ``build_datasets``: the data factory (default: dfrec's)."""
    from dfrec.train.loop import Trainer

    return Trainer(cfg, components=direct_unet_components(widths, build_datasets), **trainer_kwargs).fit()
