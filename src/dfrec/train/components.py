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

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils.data import Dataset

from dfrec.errors import ConfigError
from dfrec.train.config import Config


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
    """The ``loss`` section loaded into ``dfrec.losses.total.LossConfig``."""
    from dfrec.losses.total import LossConfig

    return LossConfig.from_dict(cfg.loss)


def build_loss(cfg: Config) -> torch.nn.Module:
    """``dfrec.losses.total.DFRECLoss`` of the ``loss`` section."""
    from dfrec.losses.total import DFRECLoss

    return DFRECLoss(loss_config(cfg))


#: dataset kinds synthesised on the fly from a face set (landmark cache or pack)
SYNTHETIC_KINDS = ("lfw", "faces")
#: dataset kinds read from a folder of (forgery, source, target[, mask]) triples
#: (what ``dfrec data prepare`` writes for CelebaMegaFS, FaceForensics++, FFHQ-E4S)
TRIPLE_KINDS = ("triples", "megafs", "ffpp", "e4s")


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset | None]:
    """Training and validation datasets of ``dfrec.data`` (LFW split by identity).

    - ``lfw``: forgeries synthesised from the face set at ``data.cache`` (a landmark cache
      from ``dfrec data index`` or a pack from ``dfrec data pack``), train/val from the
      shipped LFW identity split;
    - ``faces``: the same from any face set, with ``train_split``/``val_split`` ``all``
      (every face; a smoke-test setting, not held out) or LFW split names;
    - ``triples``/``megafs``/``ffpp``/``e4s``: a triple folder at ``data.root``, split
      80/10/10 by target identity.
    """
    d = cfg.data
    if d.dataset in SYNTHETIC_KINDS:
        return _synthetic(cfg)
    if d.dataset in TRIPLE_KINDS:
        return _triples(cfg)
    raise ConfigError(
        f"data.dataset: unknown dataset {d.dataset!r} (choose from {', '.join(SYNTHETIC_KINDS + TRIPLE_KINDS)})"
    )


def _synthetic(cfg: Config) -> tuple[Dataset, Dataset | None]:
    from dfrec.data.datasets import SyntheticForgeries, lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.data.synth import SynthConfig
    from dfrec.errors import InputError

    d = cfg.data
    if not d.cache:
        raise ConfigError(
            "data.cache: a landmark cache or face pack is needed (build one with `dfrec data index` "
            "and `dfrec data pack`, then set data.cache)"
        )
    try:
        faces = open_faces(d.cache)
    except InputError as e:
        raise ConfigError(f"data.cache: {e}") from None
    synth = SynthConfig.from_dict({"size": d.image_size, **dict(d.synth)})

    def part(split: str):
        if split == "all":
            return faces
        return lfw_faces(faces, split)

    options = {"uint8_images": d.uint8_images, **dict(d.options)}
    try:
        train = SyntheticForgeries(part(d.train_split), synth, seed=cfg.train.seed, length=d.samples_per_epoch, **options)
        val = None
        if d.val_samples > 0 and d.val_split:
            val_faces = part(d.val_split)
            if len(val_faces):
                opts = {**options, "augment": False}
                val = SyntheticForgeries(val_faces, synth, seed=cfg.train.seed + 1, length=d.val_samples, **opts)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"data: {e}") from None
    return train, val


def _triples(cfg: Config) -> tuple[Dataset, Dataset | None]:
    from dfrec.data.datasets.triples import TripleFolder
    from dfrec.errors import InputError

    d = cfg.data
    root = d.root or d.cache
    if not root:
        raise ConfigError(f"data.root: required for dataset {d.dataset!r} (a folder written by `dfrec data prepare`)")
    try:
        full = TripleFolder(root, size=d.image_size, **{"uint8_images": d.uint8_images, **dict(d.options)})
    except InputError as e:
        raise ConfigError(f"data.root: {e}") from None
    train = full if d.train_split == "all" else full.split(d.train_split, seed=cfg.train.seed)
    val = None
    if d.val_samples > 0 and d.val_split:
        v = full if d.val_split == "all" else full.split(d.val_split, seed=cfg.train.seed)
        val = v.head(min(len(v), d.val_samples))
    return train, val


def default_components() -> Components:
    """The real model, loss and data of dfrec."""
    return Components(build_model=build_model, build_loss=build_loss, build_datasets=build_datasets)
