"""The steps that build a training run, one function each (:meth:`dfrec.train.loop.Trainer._setup`
calls them in order): backends, model (from ``model.init_from``), loss, optimizer and
learning-rate schedule, EMA, data and sampler, DDP / ``torch.compile`` wrapping, autocast,
and the run folder. Plus the small helpers of the loop: seeding, batch collation, device names.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from dfrec.errors import CheckpointError, ConfigError
from dfrec.io import to_float
from dfrec.train import distributed as D
from dfrec.train.components import Components
from dfrec.train.config import Config, save_config

log = logging.getLogger("dfrec.train")


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_backends(cfg: Config, device: torch.device) -> None:
    """Deterministic kernels (``train.deterministic``), else cuDNN autotuning and TF32 on a GPU."""
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def build_model(cfg: Config, components: Components, device: torch.device,
                say: Callable[[str], None] = log.info) -> torch.nn.Module:
    """The model of ``cfg.model`` on ``device``, starting from ``model.init_from``'s weights if set,
    with the modules of ``model.freeze`` frozen."""
    model = components.build_model(cfg).to(device)
    if cfg.model.init_from:
        init_weights(model, cfg, say)
    if cfg.model.freeze:
        if not hasattr(model, "freeze"):
            raise ConfigError(f"model.freeze: the {type(model).__name__} model cannot freeze modules")
        n = model.freeze(cfg.model.freeze)
        say(f"frozen: {', '.join(cfg.model.freeze)} ({n:,} parameters)")
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def init_weights(model: torch.nn.Module, cfg: Config, say: Callable[[str], None] = log.info) -> None:
    """Load ``model.init_from`` (a saved model folder) into ``model``: the same architecture, or with
    ``model.init_strict: false`` every tensor whose name and shape match (the rest stay fresh)."""
    from dfrec.models.checkpoint import load_state_partial, load_state_strict, read_state_dict

    folder = cfg.model.init_from
    state = read_state_dict(folder)  # raises CheckpointError for a missing/corrupt folder
    changed = config_changes(folder, model)
    if changed:  # settings without tensors (e.g. deblock, sirm_dilate) do not travel with the weights
        say(f"model.init_from: this run's model settings differ from {folder}'s: {changed} (this run's apply)")
    if not cfg.model.init_strict:
        loaded, fresh = load_state_partial(model, state)
        if not loaded:
            raise ConfigError(f"model.init_from: no tensor of {folder} fits preset {cfg.model.preset!r}")
        shown = ", ".join(sorted({k.rsplit(".", 2)[0] for k in fresh})[:6])
        say(f"initialised {len(loaded)} tensors from {folder}; {len(fresh)} kept fresh" + (f" ({shown})" if fresh else ""))
        fresh = start_score_branch(model, fresh, say)
        if cfg.model.init_grow:
            grown = grow_blocks(model, fresh, folder)
            say(f"model.init_grow: {len(grown)} new transformer blocks start as the identity ({', '.join(grown)})")
        return
    try:
        load_state_strict(model, state, source=folder)
    except CheckpointError as e:
        raise ConfigError(
            f"model.init_from: {folder} holds a different architecture than preset "
            f"{cfg.model.preset!r} with these overrides ({e})"
        ) from None
    say(f"initialised from {folder}")


def start_score_branch(model: torch.nn.Module, fresh: list[str], say: Callable[[str], None] = log.info) -> list[str]:
    """When a partial load left the whole score branch fresh (``model.scorer``: a saved model
    without one), start it as a copy of the loaded ISM's score, so the model scores as the saved one
    did (:meth:`dfrec.models.score_branch.ScoreBranch.copy_from_ism`). Returns ``fresh`` without
    the branch's tensors when it was started so; else ``fresh`` unchanged."""
    scorer = getattr(model, "scorer", None)
    if scorer is None:
        return fresh
    own = {f"scorer.{k}" for k in scorer.state_dict()}
    if not own <= set(fresh):
        return fresh
    n = scorer.copy_from_ism(model.ism)
    say(f"score branch: started as a copy of the ISM's encoder and head ({n} tensors)")
    return [k for k in fresh if k not in own]


def grow_blocks(model: torch.nn.Module, fresh: list[str], folder: str = "init_from") -> list[str]:
    """Make every transformer block of ``model`` whose tensors are all in ``fresh`` (names left as
    initialised by a partial load) the identity (:func:`dfrec.models.tirm.start_as_identity`), so
    the grown model computes what the saved one did. Returns the blocks' names; a fresh tensor
    outside such a block (a changed width, a new module) raises ``ConfigError``: the start would
    not be the saved model's function."""
    from timm.models.vision_transformer import Block

    from dfrec.models.tirm import start_as_identity

    left = set(fresh)
    grown = []
    for name, mod in model.named_modules():
        if not isinstance(mod, Block):
            continue
        keys = {f"{name}.{k}" for k in mod.state_dict()}
        if keys <= left:
            start_as_identity(mod)
            grown.append(name)
            left -= keys
    if left:
        shown = ", ".join(sorted(left)[:6]) + (" ..." if len(left) > 6 else "")
        raise ConfigError(f"model.init_grow: {folder} lacks tensors that are not whole new transformer blocks "
                          f"({shown}): growing keeps the saved model's function only by adding blocks")
    return grown


def config_changes(folder: str, model: torch.nn.Module) -> str:
    """``"key saved -> now, ..."`` for the model settings where ``model`` differs from the saved
    model folder's ``config.json`` (defaults filled in on both sides); empty when none or unknown."""
    import json

    from dfrec.models.checkpoint import read_config
    from dfrec.models.config import DFRECConfig

    now = getattr(model, "config", None)
    if not isinstance(now, DFRECConfig):
        return ""
    try:
        saved = json.loads(json.dumps(DFRECConfig.from_dict(read_config(folder)["config"]).to_dict()))
    except (CheckpointError, KeyError, TypeError, ValueError):
        return ""
    now_d = json.loads(json.dumps(now.to_dict()))
    keys = sorted(k for k in set(saved) | set(now_d) if k != "extra" and saved.get(k) != now_d.get(k))
    return ", ".join(f"{k} {saved.get(k)!r} -> {now_d.get(k)!r}" for k in keys)


def build_loss(cfg: Config, components: Components, device: torch.device) -> torch.nn.Module:
    """The loss of ``cfg.loss`` on ``device``: its networks frozen, in eval mode."""
    loss_fn = components.build_loss(cfg).to(device)
    for p in loss_fn.parameters():
        p.requires_grad_(False)
    return loss_fn.eval()


def lr_lambda(cfg: Config, time_fraction: Callable[[], float] | None = None) -> Callable[[int], float]:
    """Multiplier of the base lr at a step: linear warm-up, then cosine (or constant).

    ``time_fraction()`` (0..1, the share of ``train.max_minutes`` used so far) moves the cosine
    forward when the time budget runs out before ``train.steps``.
    """
    warm = cfg.optim.warmup_steps
    total = cfg.train.steps
    floor = cfg.optim.min_lr_ratio
    cosine = cfg.optim.schedule == "cosine"

    def f(step: int) -> float:
        if warm > 0 and step < warm:
            return (step + 1) / warm
        if not cosine:
            return 1.0
        t = min(1.0, (step - warm) / max(1, total - warm))
        if time_fraction is not None:
            t = max(t, min(1.0, time_fraction()))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return f


def build_optimizer(cfg: Config, model: torch.nn.Module, device: torch.device,
                    time_fraction: Callable[[], float] | None = None) -> tuple[list[torch.nn.Parameter], Any, Any]:
    """``(trainable parameters, AdamW, its LambdaLR schedule)``; ``time_fraction`` as for :func:`lr_lambda`."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("model has no trainable parameters")
    optimizer = torch.optim.AdamW(
        params,
        lr=cfg.optim.lr,
        betas=tuple(cfg.optim.betas),
        eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
        fused=device.type == "cuda" or None,  # one kernel for all parameters on a GPU
    )
    return params, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, time_fraction))


def build_ema(cfg: Config, model: torch.nn.Module) -> torch.nn.Module | None:
    """The exponential moving average of the weights (``train.ema``), or None.

    ``dfrec.train.ema.EMA``: torch's ``AveragedModel`` layout (checkpoints load either way) with an
    update that waits for nothing on a GPU. Its counter stays on the host: never ``.to(device)`` it.
    """
    if not cfg.train.ema.enabled:
        return None
    from dfrec.train.ema import EMA

    return EMA(model, cfg.train.ema.decay)


def build_data(cfg: Config, components: Components,
               info: D.DistInfo) -> tuple[D.SeededDataset, D.ResumableSampler, Subset | None]:
    """The training set with its resumable per-rank sampler, and the fixed validation subset."""
    train_ds, val_ds = components.build_datasets(cfg)
    if len(train_ds) < cfg.data.batch_size * info.world_size:
        raise ConfigError(
            f"data: only {len(train_ds)} training samples for batch_size {cfg.data.batch_size} x {info.world_size} rank(s)"
        )
    seeded = D.SeededDataset(train_ds, cfg.train.seed)
    sampler = D.ResumableSampler(seeded, info.world_size, info.rank, seed=cfg.train.seed)
    val = None
    if val_ds is not None and len(val_ds) > 0 and cfg.data.val_samples > 0:
        n = min(len(val_ds), cfg.data.val_samples)
        val = Subset(D.SeededDataset(val_ds, cfg.train.seed + 1), list(range(n)))
    return seeded, sampler, val


def find_unused_parameters(cfg: Config, loss_fn: torch.nn.Module) -> bool:
    """DDP's ``find_unused_parameters``: ``train.find_unused_parameters``, or auto: True when the
    DFREC loss gives a term that alone trains part of the model (``MODEL_TERMS``) the weight 0."""
    if cfg.train.find_unused_parameters is not None:
        return cfg.train.find_unused_parameters
    from dfrec.losses.total import MODEL_TERMS, LossConfig

    config = getattr(loss_fn, "config", None)  # other losses (baselines, tests) have none
    if not isinstance(config, LossConfig):
        return False
    weights = config.weights()
    return any(weights[t] == 0.0 for t in MODEL_TERMS)


def wrap_for_training(cfg: Config, model: torch.nn.Module, loss_fn: torch.nn.Module,
                      info: D.DistInfo) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module, Any]:
    """``(model as stepped, the same before torch.compile, loss, loss as called)``: DDP under
    torchrun, then ``train.compile`` (and ``compile_loss``); the eager model is the fallback
    should compilation fail."""
    train_model = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                          find_unused_parameters=find_unused_parameters(cfg, loss_fn))
    eager = train_model
    if cfg.train.channels_last:
        loss_fn = loss_fn.to(memory_format=torch.channels_last)
    loss_call = loss_fn
    if cfg.train.compile:
        train_model = torch.compile(train_model)
        if cfg.train.compile_loss:
            loss_call = torch.compile(loss_fn)
    return train_model, eager, loss_fn, loss_call


def autocast_for(cfg: Config, device: torch.device) -> Callable[[], Any]:
    """A context factory: bf16 autocast (``train.precision`` bf16, or auto on CUDA), else a no-op."""
    p = cfg.train.precision
    if not (p == "bf16" or (p == "auto" and device.type == "cuda")):
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def open_run_folder(cfg: Config, out: Path, info: D.DistInfo) -> Any:
    """Rank 0: the run folder with the resolved ``config.yaml``; returns the TensorBoard writer
    (None on other ranks or without tensorboard)."""
    if not info.is_main:
        return None
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out / "tb"))
    except Exception as e:  # tensorboard missing: keep training, say so once
        log.warning("TensorBoard logging off (%s)", e)
        return None


_forks_hold_opencv = False


def opencv_one_thread_in_forks() -> None:
    """From now on, every process forked from this one (the data loader workers) starts with
    OpenCV on one thread; the parent keeps its own count. Idempotent.

    The workers are the parallelism; OpenCV's own pool (a thread per core, in every worker)
    oversubscribes the CPU: 2 workers given 16 OpenCV threads each on 2 cores (what a 16-core
    GPU machine gives 14 workers) delivered 150-161 training items/s, with one thread each
    202-210 (2026-12-04). The count is set in the parent around the fork (``os.register_at_fork``),
    not in the worker: a forked child that calls ``cv2.setNumThreads`` after its parent's pool
    has run waits forever for pool threads that fork did not copy (OpenCV 4.x/5.x, pthreads
    backend). PyTorch's DataLoader already holds each worker to one torch thread."""
    global _forks_hold_opencv
    if _forks_hold_opencv or not hasattr(os, "register_at_fork"):
        return
    import cv2

    parent: list[int] = []

    def before() -> None:
        parent.append(cv2.getNumThreads())
        if parent[-1] != 1:
            cv2.setNumThreads(1)  # joins the parent's pool threads: the child copies an empty pool

    def after_in_parent() -> None:
        n = parent.pop()
        if n != 1:
            cv2.setNumThreads(n)

    os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=parent.clear)
    _forks_hold_opencv = True


def data_loader(dataset: Any, **options: Any) -> DataLoader:
    """``DataLoader(dataset, collate_fn=collate, **options)``, the one way dfrec's training,
    validation and benchmarks build theirs; with ``num_workers`` > 0 the workers run OpenCV on one
    thread (:func:`opencv_one_thread_in_forks`)."""
    if options.get("num_workers", 0) > 0:
        opencv_one_thread_in_forks()
    return DataLoader(dataset, collate_fn=collate, **options)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors/numbers; keep other fields (strings, names) as lists. Samples that name their
    people (``source_id``, ``target_id``) also get ``two_people`` ``(N,)`` bool
    (:func:`dfrec.losses.total.two_people`), so the loss never compares names inside a step."""
    from dfrec.losses.total import two_people

    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        v0 = vals[0]
        if torch.is_tensor(v0):
            out[k] = torch.stack(vals)
        elif isinstance(v0, (bool, int, float)) and not isinstance(v0, str):
            out[k] = torch.tensor(vals, dtype=torch.float32)
        else:
            out[k] = vals
    if "source_id" in out and "target_id" in out and "two_people" not in out:
        out["two_people"] = two_people(out, len(items), torch.device("cpu"))
    return out


def split_batch(batch: dict[str, Any], size: int | None) -> list[dict[str, Any]]:
    """A collated batch of n samples as consecutive micro-batches of ``size`` (tensors sliced
    on dim 0, lists sliced); ``[batch]`` when ``size`` is None or covers the batch."""
    n = next((len(v) for v in batch.values() if torch.is_tensor(v) or isinstance(v, list)), 0)
    if size is None or size >= n:
        return [batch]
    return [{k: (v[i:i + size] if torch.is_tensor(v) or isinstance(v, list) else v) for k, v in batch.items()}
            for i in range(0, n, size)]


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """A collated batch with its tensors on ``device``: uint8 images (a dataset's
    ``uint8_images``) become float32 in [0, 1] there, after the copy; 4-D tensors channels-last
    if asked."""
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if v.dtype == torch.uint8:
                v = to_float(v)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def device_name(device: torch.device) -> str:
    """``NVIDIA H200`` or ``cpu (2 threads)``: what trained the model, for its card."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"{device.type} ({n} thread{'s' if n != 1 else ''})"
