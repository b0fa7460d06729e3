"""Training configuration: YAML files turned into nested, validated dataclasses.

A run is described by one YAML file (see ``configs/``) with the sections ``model``,
``data``, ``loss``, ``optim``, ``train`` and ``output``. :func:`load_config` reads it,
applies ``--set section.key=value`` overrides and returns a :class:`Config`; any unknown
key or value of the wrong type raises :class:`dfrec.errors.ConfigError` naming the key
path (``optim.lr: expected a number, got 'fast'``) — the rules of :mod:`dfrec.config`,
which every dfrec config shares.

The ``loss`` section and ``data.synth`` are kept as plain mappings here and loaded by the
trainer into the loss and synthesiser configs of ``dfrec.losses`` / ``dfrec.data`` (with
the same rules), so those packages own their options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from dfrec.config import from_dict, to_dict
from dfrec.errors import ConfigError

__all__ = ["Config", "config_from_dict", "from_dict", "load_config", "save_config"]


@dataclass
class ModelSection:
    """Which model to build: a registered preset plus keyword overrides for ``create_model``."""

    preset: str = "small"
    overrides: dict[str, Any] = field(default_factory=dict)
    #: a saved model folder (``DFREC.save_pretrained`` layout, e.g. the bundled default or a
    #: run's ``model/``) whose weights start the run: fine-tuning. Its architecture must equal
    #: the preset's. Ignored when resuming (the checkpoint's weights win).
    init_from: str | None = None
    #: False: tensors of ``init_from`` whose name and shape match are loaded and the rest (e.g.
    #: a module the recipe added) keep their fresh initialisation; the run log lists them.
    init_strict: bool = True
    #: with ``init_strict: false``: transformer blocks that ``init_from`` lacks (a deeper TIRM
    #: encoder or decoder than the saved one, e.g. ``--set model.overrides.dec_depth=4``) start as
    #: the identity (their attention and MLP output projections zeroed), so the grown model computes
    #: exactly what the saved one did and training adds capacity without a from-scratch restart.
    #: Any other tensor left fresh is an error.
    init_grow: bool = False
    #: modules whose weights stay as loaded (``ism``, ``sirm``, ``tirm`` or dotted paths such as
    #: ``tirm.refiner``): no gradient, not in the optimizer, BatchNorm statistics fixed
    freeze: list[str] = field(default_factory=list)


@dataclass
class DataSection:
    """Where training samples come from and how they are batched."""

    #: dataset kind understood by ``dfrec.data`` (``lfw``, ``folder``, ``megafs``, ``ffpp``, ...)
    dataset: str = "lfw"
    #: dataset root folder (relative paths are resolved against the config file's folder)
    root: str | None = None
    #: optional landmark cache / pack of aligned crops built by ``dfrec data``
    cache: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    #: image side in pixels fed to the model
    image_size: int = 224
    batch_size: int = 8
    #: DataLoader worker processes per rank (0 = load in the main process)
    workers: int = 2
    #: samples per epoch for on-the-fly synthesis (None = the dataset's natural length)
    samples_per_epoch: int | None = None
    #: held-out validation samples scored at each validation
    val_samples: int = 64
    val_batch_size: int = 16
    #: the loader carries images as uint8 and the trainer makes them float on the device (the
    #: same values, a third of the bytes through the workers and pinned memory); false = float32
    uint8_images: bool = True
    #: synthesiser options passed to ``dfrec.data`` (kinds, probabilities, blending...)
    synth: dict[str, Any] = field(default_factory=dict)
    #: extra keyword arguments for the dataset constructor
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimSection:
    """AdamW and its learning-rate schedule (paper: lr 1e-4, weight decay 1e-5)."""

    lr: float = 1e-4
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    #: linear warm-up from 0 over this many steps
    warmup_steps: int = 0
    schedule: Literal["cosine", "constant"] = "cosine"
    #: the cosine schedule ends at ``lr * min_lr_ratio``
    min_lr_ratio: float = 0.0


@dataclass
class EMASection:
    """Exponential moving average of the weights (the exported model uses it when enabled)."""

    enabled: bool = False
    decay: float = 0.999


@dataclass
class TrainSection:
    """Length of the run, precision, and how often to log, validate and checkpoint."""

    steps: int = 10000
    #: wall-clock budget of the run in minutes (None = no limit). When set, the run ends at
    #: ``steps`` or when this much training time (summed over resumes) has passed, whichever
    #: comes first, and the cosine schedule decays over whichever is nearer, so a run sized
    #: in minutes still ends at the low learning rate. Where a timed run stops depends on the
    #: machine's speed, so it is not bit-exact reproducible; leave it unset for that.
    max_minutes: float | None = None
    seed: int = 0
    #: ``auto`` = bf16 autocast on CUDA, fp32 elsewhere
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    #: clip the global gradient norm to this value (0 or None = off)
    grad_clip: float | None = 1.0
    #: split each step's batch (``data.batch_size`` per rank) into micro-batches of this
    #: size and accumulate their gradients before the one optimizer step (None = no split).
    #: The update equals the whole batch's up to BatchNorm statistics (per micro-batch) and
    #: terms averaged over part of a batch (identity separation); memory is the micro-batch's.
    micro_batch_size: int | None = None
    ema: EMASection = field(default_factory=EMASection)
    checkpoint_every: int = 1000
    #: how many step checkpoints to keep (older ones are deleted)
    keep_last: int = 3
    val_every: int = 1000
    log_every: int = 20
    #: write image grids to TensorBoard at each validation
    val_images: int = 4
    #: wrap the model in ``torch.compile`` (and, with ``compile_loss``, the frozen loss
    #: networks); a compilation failure at the first step falls back to eager with a warning
    compile: bool = False
    compile_loss: bool = False
    channels_last: bool = False
    #: ask torch for deterministic kernels (needed for bit-exact resume on CUDA)
    deterministic: bool = False
    #: DistributedDataParallel's ``find_unused_parameters``; None = auto: on when a loss
    #: weight is 0 (its term then leaves part of the model without gradient)
    find_unused_parameters: bool | None = None


@dataclass
class OutputSection:
    """Run folder: checkpoints, TensorBoard logs, metrics and the final model."""

    dir: str = "runs/default"


@dataclass
class Config:
    """A whole training run."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    #: options of ``dfrec.losses`` ``LossConfig`` (λs, perceptual/attribute networks, weights paths)
    loss: dict[str, Any] = field(default_factory=dict)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    output: OutputSection = field(default_factory=OutputSection)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), suitable for YAML/JSON."""
        return to_dict(self)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"optim.lr=3e-4"`` into ``(["optim", "lr"], 3e-4)`` (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. optim.lr=3e-4")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"--set {text!r}: bad key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides (dotted keys) to a nested dict, in place; returns it."""
    for text in overrides or []:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text!r}: {'.'.join(keys[: i + 1])} is not a section")
            node = nxt
        node[keys[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; ConfigError for a missing file or bad syntax."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{p}: invalid YAML{where}: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    return data


def validate(cfg: Config) -> Config:
    """Range checks that types alone cannot express (run by ``Config.__post_init__``)."""
    checks = [
        (cfg.data.batch_size >= 2, "data.batch_size: must be >= 2 (the models' BatchNorm layers need "
                                   "at least two samples per batch and per GPU in training)"),
        (cfg.data.workers >= 0, "data.workers: must be >= 0"),
        (cfg.data.image_size >= 16, "data.image_size: must be >= 16"),
        (cfg.data.val_samples >= 0, "data.val_samples: must be >= 0"),
        (cfg.data.val_batch_size >= 1, "data.val_batch_size: must be >= 1"),
        (cfg.optim.lr > 0, "optim.lr: must be > 0"),
        (cfg.optim.weight_decay >= 0, "optim.weight_decay: must be >= 0"),
        (all(0 <= b < 1 for b in cfg.optim.betas), "optim.betas: each must be in [0, 1)"),
        (cfg.optim.warmup_steps >= 0, "optim.warmup_steps: must be >= 0"),
        (0 <= cfg.optim.min_lr_ratio <= 1, "optim.min_lr_ratio: must be in [0, 1]"),
        (cfg.train.steps >= 1, "train.steps: must be >= 1"),
        (cfg.train.max_minutes is None or cfg.train.max_minutes > 0, "train.max_minutes: must be > 0"),
        (cfg.train.grad_clip is None or cfg.train.grad_clip >= 0, "train.grad_clip: must be >= 0"),
        (cfg.train.micro_batch_size is None or cfg.train.micro_batch_size >= 2,
         "train.micro_batch_size: must be >= 2 (BatchNorm needs two samples per micro-batch)"),
        (cfg.train.micro_batch_size is None or cfg.data.batch_size % cfg.train.micro_batch_size == 0,
         f"train.micro_batch_size: must divide data.batch_size ({cfg.data.batch_size}), got {cfg.train.micro_batch_size}"),
        (0 < cfg.train.ema.decay < 1, "train.ema.decay: must be in (0, 1)"),
        (cfg.train.checkpoint_every >= 1, "train.checkpoint_every: must be >= 1"),
        (cfg.train.keep_last >= 1, "train.keep_last: must be >= 1"),
        (cfg.train.val_every >= 1, "train.val_every: must be >= 1"),
        (cfg.train.log_every >= 1, "train.log_every: must be >= 1"),
        (cfg.train.val_images >= 0, "train.val_images: must be >= 0"),
        (not cfg.model.init_grow or (cfg.model.init_from and not cfg.model.init_strict),
         "model.init_grow: needs model.init_from and model.init_strict: false (it grows a saved model)"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    return cfg


def config_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Validated :class:`Config` from a nested dict plus ``KEY=VALUE`` overrides."""
    import copy

    data = apply_overrides(copy.deepcopy(data or {}), overrides)
    return from_dict(Config, data)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply overrides, validate.

    Relative ``data.root``/``data.cache``/``model.init_from`` paths and relative paths among the loss options
    ending in ``_path``/``_weights`` are resolved against the config file's folder, then
    against the working directory, whichever exists (the config folder wins for new paths).
    """
    p = Path(path)
    cfg = config_from_dict(read_yaml(p), overrides)
    base = p.resolve().parent
    cfg.data.root = _resolve(cfg.data.root, base)
    cfg.data.cache = _resolve(cfg.data.cache, base)
    cfg.model.init_from = _resolve(cfg.model.init_from, base)
    for k, v in list(cfg.loss.items()):
        if isinstance(v, str) and (k.endswith("_path") or k.endswith("_weights") or k.endswith("weights_path")):
            cfg.loss[k] = _resolve(v, base)
    return cfg


def _resolve(value: str | None, base: Path) -> str | None:
    if not value:
        return value
    v = Path(value).expanduser()
    if v.is_absolute():
        return str(v)
    for cand in (base / v, Path.cwd() / v):
        if cand.exists():
            return str(cand.resolve())
    return str((base / v).resolve())


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically."""
    from dfrec.io import write_text_atomic

    return write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for convenience."""
    return dataclasses.replace(cfg, **changes)
