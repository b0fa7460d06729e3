"""Named model presets (timm-style registry): ``create_model("small")``.

Each preset is a small function returning a :class:`DFRECConfig`, registered with
:func:`register_preset`. Tests are parametrised over :func:`list_presets`, so a new preset
is tested the moment it is registered.

=========  ==========================================================================
official   the authors' released network: smp DeepLabV3+/EfficientNet-B0, U-Net 32..1024,
           MAE with a ViT-L/16 encoder and one 512-d decoder block (16 heads, MLP 2048),
           K = 98, released masking and class-token quirk (for converted weights)
paper      the paper's text: same ISM and U-Net, ViT-B/16 encoder, MAE decoder 8 x 512
small      the shipped CPU default: Lite0 DeepLabV3+ (ImageNet-initialised, 128-ch decoder),
           U-Net 16..256, ViT 192-d x 4 encoder, 128-d x 2 decoder
tiny       for tests and smoke runs: the same structure at minimal widths
=========  ==========================================================================
"""

from __future__ import annotations

from typing import Any, Callable

from dfrec.errors import ConfigError
from dfrec.models.config import DFRECConfig

_PRESETS: dict[str, Callable[[], DFRECConfig]] = {}

#: The preset a freshly trained / shipped model uses unless told otherwise.
DEFAULT_PRESET = "small"


def register_preset(fn: Callable[[], DFRECConfig]) -> Callable[[], DFRECConfig]:
    """Decorator: register ``fn`` (returning a config) under its function name."""
    _PRESETS[fn.__name__] = fn
    return fn


def list_presets() -> list[str]:
    """Names of the registered presets, in registration order."""
    return list(_PRESETS)


def get_config(preset: str, **overrides: Any) -> DFRECConfig:
    """Config of ``preset`` with ``overrides`` applied; unknown names raise :class:`ConfigError`."""
    if preset not in _PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; choose one of: {', '.join(_PRESETS)}")
    return _PRESETS[preset]().replace(**overrides)


def create_model(preset: str = DEFAULT_PRESET, pretrained_init: bool = True, **overrides: Any):
    """Build a randomly initialised (ImageNet-initialised ISM encoder where the preset says so) DFREC."""
    from dfrec.models.dfrec import DFREC

    return DFREC(get_config(preset, **overrides), pretrained_init=pretrained_init)


@register_preset
def official() -> DFRECConfig:
    return DFRECConfig(
        preset="official",
        ism_encoder="efficientnet-b0",
        ism_encoder_weights="none",
        ism_input_norm="none",
        sirm_widths=(32, 64, 128, 256, 1024),
        masking="released",
        official_token_shift=True,
        enc_dim=1024,
        enc_depth=24,
        enc_heads=16,
        dec_dim=512,
        dec_depth=1,
        dec_heads=16,
    )


@register_preset
def paper() -> DFRECConfig:
    return DFRECConfig(
        preset="paper",
        ism_encoder="efficientnet-b0",
        ism_encoder_weights="none",
        ism_input_norm="none",
        sirm_widths=(32, 64, 128, 256, 1024),
        masking="paper",
        enc_dim=768,
        enc_depth=12,
        enc_heads=12,
        dec_dim=512,
        dec_depth=8,
        dec_heads=16,
    )


@register_preset
def small() -> DFRECConfig:
    return DFRECConfig(
        preset="small",
        ism_encoder="tu-tf_efficientnet_lite0",
        ism_encoder_weights="efficientnet_lite0_imagenet",
        ism_input_norm="inception",
        ism_decoder_channels=128,
        sirm_widths=(16, 32, 64, 128, 256),
        masking="paper",
        enc_dim=192,
        enc_depth=4,
        enc_heads=3,
        dec_dim=128,
        dec_depth=2,
        dec_heads=4,
    )


@register_preset
def tiny() -> DFRECConfig:
    return DFRECConfig(
        preset="tiny",
        ism_encoder="tu-tf_efficientnet_lite0",
        ism_encoder_weights="none",
        ism_input_norm="inception",
        ism_decoder_channels=16,
        sirm_widths=(4, 8, 8, 16, 32),
        masking="paper",
        enc_dim=32,
        enc_depth=1,
        enc_heads=2,
        dec_dim=32,
        dec_depth=1,
        dec_heads=2,
    )
