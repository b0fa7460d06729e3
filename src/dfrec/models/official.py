"""Conversion of the authors' released checkpoint (``splitidentity_ftm.pth``) into the ``official`` preset.

The file (a ``torch.save`` dict) holds three state dicts, read here with
``torch.load(weights_only=True)`` so no pickled code runs:

* ``state_dict`` — the ISM: segmentation_models_pytorch 0.3.3 ``DeepLabV3Plus("efficientnet-b0",
  classes=1)`` (``encoder._conv_stem.weight``, ``decoder.aspp...``, ``segmentation_head.0...``).
  smp 0.6 keeps those names, so they map onto ``ism.net.*`` one to one. The released ISM has no
  real/fake head; unless the file holds ``classification_head.*`` the converted ``logit`` comes
  from an untrained head (recorded in the metadata). The authors load it with
  ``strict=False``: tensors this network has no place for are listed, not loaded.
* ``recover1_state_dict`` — the attention U-Net ``SourceRecoverNet_Attention2`` (``Conv1..5``,
  ``Up5..2``, ``Up_conv5..2``, ``Att5..2`` with ``W``, ``W_g``, ``W_x``, ``psi``, ``Conv1x1``;
  ``Conv_1x1``; ``tConv4``) -> ``sirm.*``.
* ``recover2_state_dict`` — lightly's MAE over torchvision ``vit_l_16`` (``mask_token``,
  ``backbone.class_token``, ``backbone.conv_proj``, ``backbone.encoder.pos_embedding``,
  ``backbone.encoder.layers.encoder_layer_i.{ln_1, self_attention.in_proj_*, self_attention.out_proj,
  ln_2, mlp.0, mlp.3}``, ``backbone.encoder.ln``; ``decoder.{decoder_embed, pos_embedding,
  layers.encoder_layer_0, ln, prediction_head}``) -> ``tirm.*`` (timm blocks: ``in_proj`` = timm's
  ``qkv`` with the same q, k, v order). ``backbone.heads`` (the unused ImageNet classifier) is dropped.

The ``official`` preset reproduces the released inference code's behaviour, quirks included:
the released masking variant and the class-token index shift (``official_token_shift``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from dfrec.errors import CheckpointError, ConfigError
from dfrec.models.checkpoint import SHARD_SIZE_MB, load_state_strict
from dfrec.models.presets import create_model

REQUIRED_KEYS = ("state_dict", "recover1_state_dict", "recover2_state_dict")


def load_official_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read the released ``.pth`` with ``weights_only=True``; errors raise :class:`CheckpointError`."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such file")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused, truncated zip, not a torch file...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise CheckpointError(f"{p}: cannot read as a weights-only torch checkpoint ({msg[:300]})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        found = ", ".join(sorted(map(str, ckpt))[:8]) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{p}: not the DFREC release checkpoint (needs {', '.join(REQUIRED_KEYS)}; found {found})")
    return ckpt


def _strip_module(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a DataParallel ``module.`` prefix if every key carries it."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module.") :]: v for k, v in sd.items()}
    return dict(sd)


_UNET_LEVELS = {"5": 0, "4": 1, "3": 2, "2": 3}
_ATT_PARTS = {"W": "self_in", "W_g": "gate_g", "W_x": "gate_x", "psi": "psi", "Conv1x1": "self_out"}


def _map_unet_key(k: str) -> str | None:
    if m := re.fullmatch(r"Conv([1-9])\.conv\.(.+)", k):
        return f"sirm.enc.{int(m[1]) - 1}.{m[2]}"
    if m := re.fullmatch(r"Up([2-5])\.up\.(.+)", k):
        return f"sirm.up.{_UNET_LEVELS[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"Up_conv([2-5])\.conv\.(.+)", k):
        return f"sirm.dec.{_UNET_LEVELS[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"Att([2-5])\.(W|W_g|W_x|psi|Conv1x1)\.(.+)", k):
        return f"sirm.gates.{_UNET_LEVELS[m[1]]}.{_ATT_PARTS[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"Conv_1x1\.(.+)", k):
        return f"sirm.head.{m[1]}"
    if m := re.fullmatch(r"tConv4\.conv\.(.+)", k):
        return f"sirm.target_head.{m[1]}"
    return None


_BLOCK_PARTS = {
    "ln_1": "norm1",
    "ln_2": "norm2",
    "self_attention.in_proj_weight": "attn.qkv.weight",
    "self_attention.in_proj_bias": "attn.qkv.bias",
    "self_attention.out_proj": "attn.proj",
    "mlp.0": "mlp.fc1",
    "mlp.3": "mlp.fc2",
    "mlp.linear_1": "mlp.fc1",  # torchvision < 0.14 names
    "mlp.linear_2": "mlp.fc2",
}


def _map_block(rest: str) -> str | None:
    for old, new in _BLOCK_PARTS.items():
        if rest == old:
            return new
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return None


def _map_mae_key(k: str) -> str | None:
    fixed = {
        "mask_token": "tirm.mask_token",
        "backbone.class_token": "tirm.cls_token",
        "backbone.encoder.pos_embedding": "tirm.pos_embed",
        "decoder.pos_embedding": "tirm.dec_pos_embed",
    }
    if k in fixed:
        return fixed[k]
    for old, new in (
        ("backbone.conv_proj.", "tirm.patch_embed."),
        ("backbone.encoder.ln.", "tirm.enc_norm."),
        ("decoder.decoder_embed.", "tirm.decoder_embed."),
        ("decoder.ln.", "tirm.dec_norm."),
        ("decoder.prediction_head.", "tirm.head."),
    ):
        if k.startswith(old):
            return new + k[len(old) :]
    if m := re.fullmatch(r"(backbone\.encoder|decoder)\.layers\.encoder_layer_(\d+)\.(.+)", k):
        part = _map_block(m[3])
        if part is not None:
            stack = "encoder" if m[1].startswith("backbone") else "decoder"
            return f"tirm.{stack}.{m[2]}.{part}"
    return None


def convert_official_state(ckpt: dict[str, Any], model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Map the three released state dicts onto ``model`` (an ``official``-layout DFREC).

    Returns ``(state, report)``: a complete state dict for ``model`` (tensors the release
    lacks — only the ISM classification head may — keep the model's initial values) and
    a report ``{"ignored": [...], "initialised": [...], "mapped": n}``. Raises
    :class:`CheckpointError` when a U-Net / MAE tensor has no counterpart or a shape differs.
    """
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    ignored: list[str] = []

    def put(src_key: str, dst_key: str, value: torch.Tensor) -> None:
        if dst_key not in own:
            raise CheckpointError(f"release tensor {src_key} maps to {dst_key}, which this model lacks")
        if tuple(value.shape) != tuple(own[dst_key].shape):
            raise CheckpointError(
                f"release tensor {src_key} {tuple(value.shape)} does not fit {dst_key} {tuple(own[dst_key].shape)}; "
                "is the model config the official one?"
            )
        out[dst_key] = value.to(own[dst_key].dtype)

    for k, v in _strip_module(ckpt["state_dict"]).items():
        dst = f"ism.net.{k}"
        if dst in own and tuple(own[dst].shape) == tuple(v.shape):
            put(k, dst, v)
        else:
            ignored.append(f"state_dict/{k}")
    for k, v in _strip_module(ckpt["recover1_state_dict"]).items():
        dst = _map_unet_key(k)
        if dst is None:
            raise CheckpointError(f"recover1_state_dict: unexpected U-Net tensor {k}")
        put(k, dst, v)
    for k, v in _strip_module(ckpt["recover2_state_dict"]).items():
        if k.startswith("backbone.heads."):
            ignored.append(f"recover2_state_dict/{k}")
            continue
        dst = _map_mae_key(k)
        if dst is None:
            raise CheckpointError(f"recover2_state_dict: unexpected MAE tensor {k}")
        put(k, dst, v)

    missing = [k for k in own if k not in out]
    not_allowed = [k for k in missing if not k.startswith("ism.net.classification_head.")]
    if not_allowed:
        few = ", ".join(not_allowed[:4]) + (f" (+{len(not_allowed) - 4} more)" if len(not_allowed) > 4 else "")
        raise CheckpointError(f"the release checkpoint lacks {len(not_allowed)} tensor(s) the official model needs: {few}")
    for k in missing:
        out[k] = own[k].clone()
    return out, {"mapped": len(own) - len(missing), "initialised": missing, "ignored": ignored}


def convert_official(
    src: str | os.PathLike,
    out: str | os.PathLike,
    dtype: str = "float32",
    shard_size_mb: float = SHARD_SIZE_MB,
    seed: int = 0,
    **overrides: Any,
) -> tuple[Path, dict[str, Any]]:
    """Convert the released checkpoint ``src`` into a dfrec checkpoint folder ``out``.

    ``overrides`` change the ``official`` preset (only for tests or re-trained variants of
    the release). Returns ``(out, report)``; the report is also stored in the metadata.
    """
    from dfrec.io import sha256_file

    ckpt = load_official_file(src)
    torch.manual_seed(seed)  # the untrained classification head, if any, is reproducible
    try:
        model = create_model("official", pretrained_init=False, **overrides)
    except ConfigError as e:
        raise ConfigError(f"convert-official: {e}") from None
    state, report = convert_official_state(ckpt, model)
    load_state_strict(model, state, source=str(src))
    head_trained = not any(k.startswith("ism.net.classification_head.") for k in report["initialised"])
    metadata = {
        "source": "DFREC authors' release (botianzhe/DFREC), converted by dfrec convert-official",
        "source_file": Path(src).name,
        "source_sha256": sha256_file(src),
        "training_data": "CelebaMegaFS-FTM (per the authors)",
        "classification_head": "from checkpoint" if head_trained else f"untrained (absent from the release; seed {seed})",
        "ignored_tensors": report["ignored"],
        "epoch": ckpt.get("epoch") if isinstance(ckpt.get("epoch"), (int, float)) else None,
    }
    model.save_pretrained(out, metadata=metadata, shard_size_mb=shard_size_mb, dtype=dtype)
    report = {**report, "classification_head_trained": head_trained, "num_parameters": sum(p.numel() for p in model.parameters())}
    return Path(out), report
