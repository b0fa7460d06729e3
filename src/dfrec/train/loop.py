"""The training loop: AdamW, bf16 autocast, clipping, EMA, checkpoints, resume, validation.

``Trainer(cfg).fit()`` trains until ``cfg.train.steps`` optimizer steps (or ``max_steps``,
which stops early without changing the learning-rate schedule, so a stopped run can be
continued with ``resume=True``). One step = one batch of ``data.batch_size`` samples per
rank. Run folder (``cfg.output.dir``)::

    config.yaml          the resolved config of the run
    metrics.jsonl        one JSON line per log / validation
    tb/                  TensorBoard scalars and image grids
    checkpoints/         step checkpoints (see dfrec.train.checkpointing)
    model/               the final model (``DFREC.from_pretrained``-loadable), with metadata

Resuming restores model, optimizer, scheduler, EMA, step, data position and every RNG
(python, numpy, torch, CUDA, per rank), so a run stopped at step k and resumed to n equals
an uninterrupted run of n steps with the same seed (bit-exact on CPU; on CUDA with
``train.deterministic``). Under ``torchrun`` the model is wrapped in
DistributedDataParallel and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Subset

from dfrec.errors import CheckpointError, ConfigError
from dfrec.train import checkpointing as ckpt
from dfrec.train import distributed as D
from dfrec.train.components import Components, default_components
from dfrec.train.config import Config, save_config

log = logging.getLogger("dfrec.train")


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


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors/numbers; keep other fields (strings, names) as lists."""
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
    return out


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def _device_name(device: torch.device) -> str:
    """``NVIDIA H200`` or ``cpu (2 threads)``: what trained the model, for its card."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({torch.get_num_threads()} threads)"


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class Trainer:
    """One training run (see the module docstring).

    Args:
        cfg: the run's :class:`Config`.
        device: ``auto``/``cpu``/``cuda[:i]`` (under torchrun each rank takes its local GPU).
        resume: ``True`` = continue from the run folder's newest checkpoint (start fresh when
            there is none), a path = continue from that checkpoint folder.
        max_steps: stop after this step (the schedule still spans ``cfg.train.steps``).
        components: model/loss/data factories (default: the real dfrec parts).
        progress: show a tqdm progress bar on rank 0.
        command: the command line recorded in the final model's metadata.
    """

    def __init__(
        self,
        cfg: Config,
        device: str | None = "auto",
        resume: bool | str | Path = False,
        max_steps: int | None = None,
        components: Components | None = None,
        progress: bool = True,
        command: str | None = None,
    ):
        self.cfg = cfg
        self.device_name = device
        self.resume = resume
        self.max_steps = max_steps
        self.components = components or default_components()
        self.progress = progress
        self.command = command or " ".join(sys.argv)
        self.out = Path(cfg.output.dir)
        self.history: list[dict[str, Any]] = []
        self.last_val: dict[str, float] = {}
        # built by _setup(), step by step (fit() calls it):
        self.info: D.DistInfo | None = None  # rank, world size, device
        self.model: torch.nn.Module | None = None  # the model being trained (unwrapped)
        self.loss_fn: torch.nn.Module | None = None  # frozen loss networks, eval mode
        self.params: list[torch.nn.Parameter] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.ema: torch.nn.Module | None = None  # AveragedModel when train.ema.enabled
        self.train_ds: D.SeededDataset | None = None
        self.sampler: D.ResumableSampler | None = None
        self.batches_per_epoch = 0
        self.val_ds: Subset | None = None
        self.train_model: torch.nn.Module | None = None  # model as stepped: DDP-wrapped and/or compiled
        self._eager_model: torch.nn.Module | None = None  # the same before torch.compile (the fallback)
        self.loss_call: Callable[..., Any] | None = None  # loss as called: compiled or not
        self.autocast: Callable[[], Any] = contextlib.nullcontext
        self.writer: Any = None  # TensorBoard SummaryWriter on rank 0, if tensorboard is installed
        self._identity: Any = None  # the validation identity scorer, built at the first validation
        self._identity_built = False
        # progress and time budget
        self.step = 0
        self.skipped = 0  # updates skipped for a non-finite gradient norm
        self.train_seconds = 0.0  # training time so far, summed over resumes (for train.max_minutes)
        self._clock: float | None = None
        self._time_frac = 0.0  # share of train.max_minutes used, agreed across ranks at the last check
        self._compile_checked = False

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        """Build everything a run needs, in order; each step is one method below."""
        self.info = D.setup(self.device_name)
        self._set_backends()
        seed_all(self.cfg.train.seed)  # the same initial weights on every rank
        self.model = self._build_model()
        self.loss_fn = self._build_loss()
        self.params, self.optimizer, self.scheduler = self._build_optimizer()
        self.ema = self._build_ema()
        self.train_ds, self.sampler, self.val_ds = self._build_data()
        self.batches_per_epoch = self.sampler.num_samples // self.cfg.data.batch_size
        # then a per-rank stream for the model's own randomness (resume restores it)
        seed_all(D.sample_seed(self.cfg.train.seed, 1_000_003, self.info.rank))
        self._maybe_resume()
        self._wrap_for_training()
        self.writer = self._open_run_folder()

    def _set_backends(self) -> None:
        """Deterministic kernels (``train.deterministic``), else cuDNN autotuning and TF32 on a GPU."""
        if self.cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.info.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def _build_model(self) -> torch.nn.Module:
        """The model of ``cfg.model`` on the device, from ``model.init_from``'s weights if set."""
        cfg = self.cfg
        model = self.components.build_model(cfg).to(self.info.device)
        if cfg.model.init_from:
            self._init_weights(model, cfg.model.init_from)
        if cfg.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def _build_loss(self) -> torch.nn.Module:
        """The loss of ``cfg.loss`` on the device: its networks frozen, in eval mode."""
        loss_fn = self.components.build_loss(self.cfg).to(self.info.device)
        for p in loss_fn.parameters():
            p.requires_grad_(False)
        return loss_fn.eval()

    def _build_optimizer(self) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer, Any]:
        """AdamW over the trainable parameters and its learning-rate schedule (:func:`lr_lambda`)."""
        cfg = self.cfg
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("model has no trainable parameters")
        optimizer = torch.optim.AdamW(
            params,
            lr=cfg.optim.lr,
            betas=tuple(cfg.optim.betas),
            eps=cfg.optim.eps,
            weight_decay=cfg.optim.weight_decay,
            fused=self.info.device.type == "cuda" or None,  # one kernel for all parameters on a GPU
        )
        timed = self._time_fraction if cfg.train.max_minutes else None
        return params, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, timed))

    def _build_ema(self) -> torch.nn.Module | None:
        """The exponential moving average of the weights (``train.ema``), or None."""
        if not self.cfg.train.ema.enabled:
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        return AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.cfg.train.ema.decay), use_buffers=True)

    def _build_data(self) -> tuple[D.SeededDataset, D.ResumableSampler, Subset | None]:
        """Training set with its resumable per-rank sampler, and the fixed validation subset."""
        cfg, info = self.cfg, self.info
        train_ds, val_ds = self.components.build_datasets(cfg)
        if len(train_ds) < cfg.data.batch_size * info.world_size:
            raise ConfigError(
                f"data: only {len(train_ds)} training samples for batch_size {cfg.data.batch_size} "
                f"x {info.world_size} rank(s)"
            )
        seeded = D.SeededDataset(train_ds, cfg.train.seed)
        sampler = D.ResumableSampler(seeded, info.world_size, info.rank, seed=cfg.train.seed)
        val = None
        if val_ds is not None and len(val_ds) > 0 and cfg.data.val_samples > 0:
            n = min(len(val_ds), cfg.data.val_samples)
            val = Subset(D.SeededDataset(val_ds, cfg.train.seed + 1), list(range(n)))
        return seeded, sampler, val

    def _wrap_for_training(self) -> None:
        """DDP under torchrun, ``torch.compile`` (kept eager beside it as the fallback), autocast."""
        cfg, info = self.cfg, self.info
        self.train_model = self.model
        if info.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.train_model = DDP(
                self.model,
                device_ids=[info.device.index] if info.device.type == "cuda" else None,
                find_unused_parameters=self._find_unused(),
            )
        self._eager_model = self.train_model
        if cfg.train.channels_last:
            self.loss_fn = self.loss_fn.to(memory_format=torch.channels_last)
        self.loss_call = self.loss_fn
        if cfg.train.compile:
            self.train_model = torch.compile(self.train_model)
            if cfg.train.compile_loss:
                self.loss_call = torch.compile(self.loss_fn)
        self.autocast = self._autocast()

    def _open_run_folder(self) -> Any:
        """Rank 0: the run folder with the resolved ``config.yaml``; returns the TensorBoard
        writer (None on other ranks or without tensorboard)."""
        if not self.info.is_main:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.out / "config.yaml")
        try:
            from torch.utils.tensorboard import SummaryWriter

            return SummaryWriter(str(self.out / "tb"))
        except Exception as e:  # tensorboard missing: keep training, say so once
            log.warning("TensorBoard logging off (%s)", e)
            return None

    def _autocast(self) -> Callable[[], Any]:
        p = self.cfg.train.precision
        dev = self.info.device
        use_bf16 = p == "bf16" or (p == "auto" and dev.type == "cuda")
        if not use_bf16:
            return contextlib.nullcontext
        return lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16)

    def _init_weights(self, model: torch.nn.Module, folder: str) -> None:
        """Start from a saved model's weights (``model.init_from``); same architecture required."""
        from dfrec.models.checkpoint import load_state_strict, read_state_dict

        state = read_state_dict(folder)  # raises CheckpointError for a missing/corrupt folder
        if not self.cfg.model.init_strict:
            from dfrec.models.checkpoint import load_state_partial

            loaded, fresh = load_state_partial(model, state)
            if not loaded:
                raise ConfigError(f"model.init_from: no tensor of {folder} fits preset {self.cfg.model.preset!r}")
            shown = ", ".join(sorted({k.rsplit(".", 2)[0] for k in fresh})[:6])
            self._log(f"initialised {len(loaded)} tensors from {folder}; {len(fresh)} kept fresh"
                      + (f" ({shown})" if fresh else ""))
            return
        try:
            load_state_strict(model, state, source=folder)
        except CheckpointError as e:
            raise ConfigError(
                f"model.init_from: {folder} holds a different architecture than preset "
                f"{self.cfg.model.preset!r} with these overrides ({e})"
            ) from None
        self._log(f"initialised from {folder}")

    def _find_unused(self) -> bool:
        """``train.find_unused_parameters``, or auto: True when the DFREC loss gives a term that
        alone trains part of the model (``MODEL_TERMS``) the weight 0."""
        if self.cfg.train.find_unused_parameters is not None:
            return self.cfg.train.find_unused_parameters
        from dfrec.losses.total import MODEL_TERMS, LossConfig

        config = getattr(self.loss_fn, "config", None)  # other losses (baselines, tests) have none
        if not isinstance(config, LossConfig):
            return False
        weights = config.weights()
        return any(weights[t] == 0.0 for t in MODEL_TERMS)

    def _maybe_resume(self) -> None:
        cfg = self.cfg
        existing = ckpt.latest_checkpoint(self.out)
        if not self.resume:
            if existing is not None:
                raise ConfigError(
                    f"{self.out} already holds checkpoints ({existing.name}); pass --resume to continue it "
                    "or choose another --out"
                )
            return
        folder = Path(self.resume) if isinstance(self.resume, (str, Path)) and self.resume is not True else existing
        if folder is None:
            self._log(f"resume: no checkpoint in {self.out / 'checkpoints'}, starting at step 0")
            return
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: checkpoint folder not found")
        state = ckpt.load_trainer_state(folder)
        ckpt.load_model_weights(self.model, folder)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{folder}: optimizer state does not match this model/config ({e})") from None
        if self.ema is not None:
            if "ema" in state or (folder / ckpt.EMA_FILE).is_file():
                ckpt.load_state_strict(self.ema, ckpt.load_ema_weights(folder), str(folder / ckpt.EMA_FILE))
            else:
                self._log("resume: checkpoint has no EMA weights; EMA restarts from the current weights")
                self.ema.module.load_state_dict(self.model.state_dict())
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        # the schedule's share of train.max_minutes as of the step saved (else the first step
        # after a resume would see 0 and run at a higher learning rate than the original run)
        self._time_frac = float(state.get("time_fraction", 0.0))
        if int(state.get("batch_size", cfg.data.batch_size)) != cfg.data.batch_size:
            self._log("resume: data.batch_size changed; the data order will differ from an uninterrupted run")
        rngs = state.get("rng", [])
        if int(state.get("world_size", 1)) == self.info.world_size and self.info.rank < len(rngs):
            ckpt.restore_rng_state(rngs[self.info.rank])
        else:
            self._log("resume: world size changed; RNG streams are re-seeded (not bit-exact)")
            seed_all(D.sample_seed(cfg.train.seed + self.step, 1_000_003, self.info.rank))
        self.last_val = dict(state.get("last_val", {}))
        self._log(f"resumed from {folder} at step {self.step}")

    # ------------------------------------------------------------------ helpers
    def _elapsed(self) -> float:
        """Training seconds so far (this process's time plus what earlier runs recorded)."""
        extra = time.perf_counter() - self._clock if self._clock is not None else 0.0
        return self.train_seconds + extra

    def _time_fraction(self) -> float:
        """Share of ``train.max_minutes`` used, as of the last :meth:`_out_of_time` check."""
        return self._time_frac

    def _out_of_time(self) -> bool:
        """Update the share of ``train.max_minutes`` used (rank 0's clock, broadcast) and say
        whether it is spent; only called when a time limit is set."""
        frac = self._elapsed() / (60.0 * self.cfg.train.max_minutes)
        self._time_frac = float(D.broadcast_object(frac, self.info))
        return self._time_frac >= 1.0

    def _log(self, msg: str) -> None:
        if self.info is None or self.info.is_main:
            try:
                from tqdm import tqdm

                tqdm.write(f"dfrec train: {msg}", file=sys.stderr)
            except Exception:
                print(f"dfrec train: {msg}", file=sys.stderr)

    def _record(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if not self.info.is_main:
            return
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def _loader(self, epoch: int, start_batch: int) -> DataLoader:
        cfg = self.cfg
        self.sampler.set_epoch(epoch, start_batch * cfg.data.batch_size)
        g = torch.Generator()
        g.manual_seed(D.sample_seed(cfg.train.seed, epoch, 7))
        return DataLoader(
            self.train_ds,
            batch_size=cfg.data.batch_size,
            sampler=self.sampler,
            num_workers=cfg.data.workers,
            collate_fn=collate,
            drop_last=True,
            pin_memory=self.info.device.type == "cuda",
            generator=g,
            persistent_workers=False,
        )

    def trainer_state(self) -> dict[str, Any]:
        """Everything but the weights needed to continue (weights-only loadable)."""
        rngs = D.all_gather_objects(ckpt.capture_rng_state(), self.info)
        epoch, b = divmod(self.step, self.batches_per_epoch)
        return {
            "step": self.step,
            "epoch": epoch,
            "sampler": {"epoch": epoch, "start": b * self.cfg.data.batch_size, "seed": self.cfg.train.seed},
            "batch_size": self.cfg.data.batch_size,
            "world_size": self.info.world_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rngs,
            "last_val": dict(self.last_val),
            "ema": self.ema is not None,
            "train_seconds": self._elapsed(),
            "time_fraction": self._time_frac,  # what the schedule saw at the last time check
        }

    def metadata(self) -> dict[str, Any]:
        """What the saved model folders record about the run."""
        describe = getattr(self.loss_fn, "describe", None)
        import dfrec

        return {
            "preset": self.cfg.model.preset,
            "model_overrides": dict(self.cfg.model.overrides),
            "data": self.cfg.to_dict()["data"],
            "losses": describe() if callable(describe) else {},
            "optim": self.cfg.to_dict()["optim"],
            "train": self.cfg.to_dict()["train"],
            "step": self.step,
            "images_seen": self.step * self.cfg.data.batch_size * self.info.world_size,
            "world_size": self.info.world_size,
            "command": self.command,
            "validation": dict(self.last_val),
            "weights": "ema" if self.ema is not None else "raw",
            "device": _device_name(self.info.device),
            "train_minutes": round(self._elapsed() / 60.0, 3),
            "init_from": self.cfg.model.init_from,
            "dfrec_version": dfrec.__version__,
            "torch_version": torch.__version__,
        }

    def save_checkpoint(self) -> Path | None:
        """Collective: every rank gathers RNG state; rank 0 writes."""
        state = self.trainer_state()
        if not self.info.is_main:
            D.barrier(self.info)
            return None
        ema_sd = dict(self.ema.state_dict()) if self.ema is not None else None
        path = ckpt.save_checkpoint(
            self.out,
            self.step,
            self.model,
            state,
            ema_state=ema_sd,
            metadata=self.metadata(),
            keep_last=self.cfg.train.keep_last,
        )
        D.barrier(self.info)
        return path

    def save_final(self) -> Path | None:
        """Write ``<out>/model`` (EMA weights when EMA is on) with the run's metadata."""
        if not self.info.is_main:
            return None
        import shutil

        dst = self.out / "model"
        tmp = self.out / ".model.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        src = self.ema.module if self.ema is not None else self.model
        ckpt.save_model_folder(src, tmp, self.metadata())
        save_config(self.cfg, tmp / "train_config.yaml")
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
        return dst

    def run_validation(self) -> dict[str, float]:
        """Validate on rank 0 (others wait); logs scalars and an image grid."""
        metrics: dict[str, float] = {}
        if self.info.is_main and self.val_ds is not None:
            from dfrec.train.validation import identity_metric, image_grid, validate

            if not self._identity_built:
                self._identity = identity_metric(self.info.device, self.cfg.loss.get("identity_weights"))
                self._identity_built = True
            loader = DataLoader(
                self.val_ds,
                batch_size=self.cfg.data.val_batch_size,
                shuffle=False,
                num_workers=min(self.cfg.data.workers, 2),
                collate_fn=collate,
                generator=torch.Generator().manual_seed(0),
            )
            model = self.ema.module if self.ema is not None else self.model
            metrics, images = validate(
                model, self.loss_fn, loader, self.info.device, self.autocast, self._identity, self.cfg.train.val_images
            )
            self.last_val = metrics
            self._record({"step": self.step, **{f"val/{k}": v for k, v in metrics.items()}})
            if self.writer is not None:
                for k, v in metrics.items():
                    self.writer.add_scalar(f"val/{k}", v, self.step)
                if images:
                    self.writer.add_image("val/forgery|mask|source|true|target|true", image_grid(images), self.step)
                self.writer.flush()
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith("loss_"))
            self._log(f"step {self.step} validation: {shown}")
        D.barrier(self.info)
        return metrics

    # ------------------------------------------------------------------ training
    def _forward_backward(self, b: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with self.autocast():
            out = self.train_model(b["forgery"])
            total, parts = self.loss_call(out, b)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        return total, parts

    def train_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """One optimizer step; returns (loss, parts, grad norm) as detached tensors.

        With ``train.compile`` the first step compiles; if that fails the run continues eager
        (one warning), since an hour of GPU time is worth more than the speed-up.
        """
        cfg = self.cfg
        b = _to_device(batch, self.info.device, cfg.train.channels_last)
        if cfg.train.compile and not self._compile_checked:
            self._compile_checked = True
            try:
                total, parts = self._forward_backward(b)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - any compiler failure: fall back, say why
                self._log(f"torch.compile failed ({e.__class__.__name__}: {str(e).splitlines()[0][:200]}); "
                          "continuing eager")
                self.train_model, self.loss_call = self._eager_model, self.loss_fn
                total, parts = self._forward_backward(b)
        else:
            total, parts = self._forward_backward(b)
        clip = cfg.train.grad_clip if cfg.train.grad_clip else float("inf")
        gnorm = torch.nn.utils.clip_grad_norm_(self.params, clip)
        if torch.isfinite(gnorm):
            self.optimizer.step()
        else:  # gradients are all-reduced, so every rank skips the same step
            self.skipped += 1
            self._log(f"step {self.step + 1}: non-finite gradient norm, update skipped")
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return total.detach().float(), {k: torch.as_tensor(v).detach().float() for k, v in parts.items()}, gnorm.detach()

    def fit(self) -> dict[str, Any]:
        """Train; returns a summary (steps, last losses, validation metrics, paths)."""
        self._setup()
        try:
            return self._fit()
        finally:
            if self.writer is not None:
                self.writer.close()
            D.cleanup()

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        info = self.info
        total_steps = cfg.train.steps
        stop = min(total_steps, self.max_steps) if self.max_steps is not None else total_steps
        self.skipped = 0
        timed_out = False
        self._clock = time.perf_counter()
        self.model.train()
        bar = None
        if info.is_main and self.progress:
            from tqdm import tqdm

            bar = tqdm(total=stop, initial=self.step, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr)
        imgs_per_step = cfg.data.batch_size * info.world_size
        win: dict[str, float] = {}
        win_n = 0
        t0 = time.perf_counter()
        last_loss = float("nan")
        checkpoint_path = None
        self._log(
            f"training {cfg.model.preset} on {info.device} x{info.world_size}: steps {self.step}->{stop} "
            f"of {total_steps}, batch {cfg.data.batch_size}/rank, {self.batches_per_epoch} batches/epoch"
            + (f", time limit {cfg.train.max_minutes:g} min ({self.train_seconds / 60:.1f} used)" if cfg.train.max_minutes else "")
        )
        while self.step < stop:
            epoch, b0 = divmod(self.step, self.batches_per_epoch)
            for batch in self._loader(epoch, b0):
                loss, parts, gnorm = self.train_step(batch)
                self.step += 1
                vals = {"loss": loss, "grad_norm": gnorm}
                vals.update({f"loss_{k}": v.reshape(-1).mean() for k, v in parts.items() if k != "total"})
                for k, v in vals.items():
                    win[k] = win.get(k, 0.0) + float(v)
                win_n += 1
                if bar is not None:
                    bar.update(1)
                if cfg.train.max_minutes and self._out_of_time():
                    timed_out = True
                    stop = self.step
                    self._log(f"time limit of {cfg.train.max_minutes:g} min reached at step {self.step}")
                if self.step % cfg.train.log_every == 0 or self.step == stop:
                    dt = time.perf_counter() - t0
                    names = sorted(win)
                    mean = D.reduce_mean(torch.tensor([win[k] / win_n for k in names], dtype=torch.float64), info)
                    row = {"step": self.step, **{k: float(v) for k, v in zip(names, mean)}}
                    row["lr"] = float(self.scheduler.get_last_lr()[0])
                    row["images_per_s"] = win_n * imgs_per_step / max(dt, 1e-9)
                    row["epoch"] = epoch
                    last_loss = row["loss"]
                    self._record(row)
                    if self.writer is not None:
                        for k, v in row.items():
                            if k not in ("step", "epoch"):
                                self.writer.add_scalar(f"train/{k}", v, self.step)
                    if bar is not None:
                        bar.set_postfix(loss=f"{row['loss']:.4f}", img_s=f"{row['images_per_s']:.1f}", lr=f"{row['lr']:.2e}")
                    win, win_n, t0 = {}, 0, time.perf_counter()
                if self.step % cfg.train.val_every == 0 or self.step == total_steps or timed_out:
                    self.run_validation()
                    t0 = time.perf_counter()
                if self.step % cfg.train.checkpoint_every == 0 or self.step == stop:
                    checkpoint_path = self.save_checkpoint()
                    t0 = time.perf_counter()
                if self.step >= stop:
                    break
        if bar is not None:
            bar.close()
        model_dir = None
        if self.step >= total_steps or timed_out:
            model_dir = self.save_final()
            if model_dir is not None:
                self._log(f"final model written to {model_dir}")
        D.barrier(info)
        return {
            "step": self.step,
            "steps_total": total_steps,
            "finished": self.step >= total_steps or timed_out,
            "timed_out": timed_out,
            "train_minutes": self._elapsed() / 60.0,
            "loss": last_loss,
            "skipped_steps": self.skipped,
            "validation": dict(self.last_val),
            "run_dir": str(self.out),
            "checkpoint": str(checkpoint_path) if checkpoint_path else None,
            "model": str(model_dir) if model_dir else None,
        }


def train(cfg: Config, **kwargs: Any) -> dict[str, Any]:
    """``Trainer(cfg, **kwargs).fit()``."""
    return Trainer(cfg, **kwargs).fit()
