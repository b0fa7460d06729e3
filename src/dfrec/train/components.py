"""What a training run is made of: the model, the loss and the datasets, built from a config.

:class:`Components` bundles three factories; :func:`default_components` wires the real
``dfrec.models``, ``dfrec.losses`` and ``dfrec.data``. Tests and experiments may pass their
own factories to :class:`dfrec.train.loop.Trainer` (same signatures).

- ``build_model(cfg) -> nn.Module``: forward ``(N, 3, H, W) [0, 1] -> dict`` (DFREC contract).
- ``build_loss(cfg) -> nn.Module``: ``loss(outputs, batch) -> (total, parts)`` and
  ``describe() -> dict``.
- ``build_datasets(cfg) -> (train, val)``: map-style datasets of sample dicts
  (``forgery, source, target (3, H, W) [0, 1]``, ``mask (1, H, W)``, ``is_fake``...);
  ``val`` may be ``None``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import Dataset

from dfrec.errors import ConfigError
from dfrec.train.config import Config, from_dict


@dataclass
class Components:
    """Factories for the parts of a run (see the module docstring for their contracts)."""

    build_model: Callable[[Config], torch.nn.Module]
    build_loss: Callable[[Config], torch.nn.Module]
    build_datasets: Callable[[Config], tuple[Dataset, Dataset | None]]


def build_model(cfg: Config) -> torch.nn.Module:
    """``dfrec.models.create_model(preset, **overrides)``."""
    from dfrec.models import create_model

    return create_model(cfg.model.preset, **dict(cfg.model.overrides))


def loss_config(cfg: Config) -> Any:
    """The ``loss`` section validated into ``dfrec.losses.total.LossConfig``."""
    from dfrec.losses.total import LossConfig

    if dataclasses.is_dataclass(LossConfig):
        lc = from_dict(LossConfig, dict(cfg.loss), "loss")
        return lc.validate() if hasattr(lc, "validate") else lc
    try:
        return LossConfig(**cfg.loss)
    except TypeError as e:
        raise ConfigError(f"loss: {e}") from None


def build_loss(cfg: Config) -> torch.nn.Module:
    """``dfrec.losses.total.DFRECLoss(LossConfig(**cfg.loss))``."""
    from dfrec.losses.total import DFRECLoss

    return DFRECLoss(loss_config(cfg))


def default_lfw_root() -> Path:
    """``$DFREC_LFW`` or ``../shared/data/lfw`` beside the project (where CI keeps LFW)."""
    env = os.environ.get("DFREC_LFW")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up.parent / "shared" / "data" / "lfw"
        if (cand / "images_deepfunneled").is_dir():
            return cand
    return Path.cwd().parent / "shared" / "data" / "lfw"


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset | None]:
    """Training and validation datasets of ``dfrec.data`` (split by identity)."""
    from dfrec.data import build_dataset  # type: ignore[attr-defined]

    d = cfg.data
    root = d.root or (str(default_lfw_root()) if d.dataset == "lfw" else None)
    if root is None:
        raise ConfigError(f"data.root: required for dataset {d.dataset!r}")
    common = dict(
        root=root,
        cache=d.cache,
        image_size=d.image_size,
        synth=dict(d.synth),
        **dict(d.options),
    )
    train = build_dataset(d.dataset, split=d.train_split, length=d.samples_per_epoch, **common)
    val = None
    if d.val_samples > 0 and d.val_split:
        val = build_dataset(d.dataset, split=d.val_split, length=d.val_samples, **common)
    return train, val


def default_components() -> Components:
    """The real model, loss and data of dfrec."""
    return Components(build_model=build_model, build_loss=build_loss, build_datasets=build_datasets)
