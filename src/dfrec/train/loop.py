"""The training loop: AdamW, bf16 autocast, clipping, EMA, checkpoints, resume, validation.

``Trainer(cfg).fit()`` trains until ``cfg.train.steps`` optimizer steps (or ``max_steps``,
which stops early without changing the learning-rate schedule, so a stopped run can be
continued with ``resume=True``). One step = one batch of ``data.batch_size`` samples per
rank (run as micro-batches of ``train.micro_batch_size`` with accumulated gradients when set).
Run folder (``cfg.output.dir``)::

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
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Subset

from dfrec.errors import CheckpointError, ConfigError
from dfrec.train import checkpointing as ckpt
from dfrec.train import distributed as D
from dfrec.train import host_syncs as HS
from dfrec.train import setup as S
from dfrec.train.components import Components, default_components
from dfrec.train.config import Config, save_config
from dfrec.train.setup import data_loader, seed_all

log = logging.getLogger("dfrec.train")


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
        self.ema: torch.nn.Module | None = None  # dfrec.train.ema.EMA when train.ema.enabled
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
        """Build everything a run needs, one named step each (see :mod:`dfrec.train.setup`)."""
        cfg, comps = self.cfg, self.components
        self.info = info = D.setup(self.device_name)
        S.set_backends(cfg, info.device)
        seed_all(cfg.train.seed)  # the same initial weights on every rank
        self.model = S.build_model(cfg, comps, info.device, self._log)
        self.loss_fn = S.build_loss(cfg, comps, info.device)
        timed = self._time_fraction if cfg.train.max_minutes else None
        self.params, self.optimizer, self.scheduler = S.build_optimizer(cfg, self.model, info.device, timed)
        self.ema = S.build_ema(cfg, self.model)
        self.train_ds, self.sampler, self.val_ds = S.build_data(cfg, comps, info)
        self.batches_per_epoch = self.sampler.num_samples // cfg.data.batch_size
        # then a per-rank stream for the model's own randomness (a resume restores it)
        seed_all(D.sample_seed(cfg.train.seed, 1_000_003, info.rank))
        self._maybe_resume()
        self.train_model, self._eager_model, self.loss_fn, self.loss_call = S.wrap_for_training(
            cfg, self.model, self.loss_fn, info)
        self.autocast = S.autocast_for(cfg, info.device)
        self.writer = S.open_run_folder(cfg, self.out, info)

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
        state = ckpt.restore(folder, self.model, self.optimizer, self.scheduler, self.ema, self._log)
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        # the schedule's share of train.max_minutes as of the step saved (else the first step
        # after a resume would see 0 and run at a higher learning rate than the original run)
        self._time_frac = float(state.get("time_fraction", 0.0))
        self._resume_schedule(state.get("max_minutes"))
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

    def _resume_schedule(self, saved_max_minutes: float | None) -> None:
        """After a restore: take ``optim.lr`` from this run's config (the scheduler restores the
        saved base lr), and say when the config moves the learning rate away from the one saved
        (another ``optim.lr``, ``optim.schedule``, ``train.steps`` or ``train.max_minutes``: a larger
        time budget moves the time-driven cosine back, to a higher rate)."""
        cfg = self.cfg
        saved_lr = float(self.optimizer.param_groups[0]["lr"])
        saved_base = list(self.scheduler.base_lrs)
        new_base = any(abs(b - cfg.optim.lr) > 1e-9 * b for b in saved_base)
        if new_base:
            self.scheduler.base_lrs = [cfg.optim.lr for _ in saved_base]
        if cfg.train.max_minutes and saved_max_minutes and float(saved_max_minutes) != cfg.train.max_minutes:
            # what the next time check computes from the training seconds so far
            self._time_frac = min(1.0, self._time_frac * float(saved_max_minutes) / cfg.train.max_minutes)
        timed = (lambda: self._time_frac) if cfg.train.max_minutes else None
        now = cfg.optim.lr * S.lr_lambda(cfg, timed)(self.step)
        if new_base:
            for group in self.optimizer.param_groups:
                group["lr"] = now
        if abs(now - saved_lr) > 0.05 * saved_lr:
            self._log(f"resume: the learning rate at step {self.step} moves from {saved_lr:.3g} (saved) to {now:.3g}, "
                      "as optim.lr, optim.schedule, train.steps or train.max_minutes differ from the run that saved it")

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
        return data_loader(
            self.train_ds,
            batch_size=cfg.data.batch_size,
            sampler=self.sampler,
            num_workers=cfg.data.workers,
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
            "max_minutes": self.cfg.train.max_minutes,  # the budget that fraction is of
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
            "device": S.device_name(self.info.device),
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
            loader = data_loader(
                self.val_ds,
                batch_size=self.cfg.data.val_batch_size,
                shuffle=False,
                num_workers=min(self.cfg.data.workers, 2),
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
        """Gradients of the step's batch in ``self.params``' ``.grad``; returns (loss, parts)
        as the means over its micro-batches (``train.micro_batch_size``)."""
        self.optimizer.zero_grad(set_to_none=True)
        chunks = S.split_batch(b, self.cfg.train.micro_batch_size)
        total_sum: torch.Tensor | None = None
        parts_sum: dict[str, torch.Tensor] = {}
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            # under DDP only the last micro-batch all-reduces the accumulated gradients
            sync = contextlib.nullcontext() if last or not hasattr(self._eager_model, "no_sync") \
                else self._eager_model.no_sync()
            with sync:
                with self.autocast():
                    out = self.train_model(chunk["forgery"])
                    total, parts = self.loss_call(out, chunk)
                (total / len(chunks)).backward()
            total_sum = total.detach() if total_sum is None else total_sum + total.detach()
            for k, v in parts.items():
                v = torch.as_tensor(v).detach().float().reshape(-1).mean()
                parts_sum[k] = v if k not in parts_sum else parts_sum[k] + v
        assert total_sum is not None
        return total_sum / len(chunks), {k: v / len(chunks) for k, v in parts_sum.items()}

    def train_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One optimizer step; returns (loss, parts, grad norm, skipped) as detached tensors,
        ``skipped`` 1.0 where a non-finite gradient norm left the weights as they were, else 0.0.

        With ``train.compile`` the first step compiles; if that fails the run continues eager
        (one warning), since an hour of GPU time is worth more than the speed-up.
        """
        cfg = self.cfg
        b = S.to_device(batch, self.info.device, cfg.train.channels_last)
        if cfg.train.compile and not self._compile_checked:
            self._compile_checked = True
            t0 = time.perf_counter()
            try:
                total, parts = self._forward_backward(b)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - any compiler failure: fall back, say why
                self._log(f"torch.compile failed ({e.__class__.__name__}: {str(e).splitlines()[0][:200]}); "
                          "continuing eager")
                self.train_model, self.loss_call = self._eager_model, self.loss_fn
                total, parts = self._forward_backward(b)
            else:  # what compiling costs a timed GPU run (validation runs the EMA model eager)
                self._log(f"first step compiled and ran in {time.perf_counter() - t0:.1f} s")
        else:
            total, parts = self._forward_backward(b)
        clip = cfg.train.grad_clip if cfg.train.grad_clip else float("inf")
        gnorm = torch.nn.utils.clip_grad_norm_(self.params, clip)
        skipped = (~torch.isfinite(gnorm)).float()  # gradients are all-reduced: every rank skips alike
        if self.optimizer.defaults.get("fused"):
            # fused AdamW (on GPUs) skips a flagged step inside its kernel (weights, moments and step
            # count stay), GradScaler's hook: the host does not wait for the GPU to decide
            self.optimizer.found_inf = skipped
            self.optimizer.step()
        elif not skipped:  # a host read: free on a CPU
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        # _forward_backward returns them detached, as batch means; the loop counts skipped steps per log row
        return total.float(), parts, gnorm.detach(), skipped

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
        win: dict[str, torch.Tensor] = {}  # per-metric sums since the last log row, on the device
        win_n = 0
        steps_here = 0  # steps this process has run (the sync probe's clock)
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
                steps_here += 1
                probe = steps_here == HS.PROBE_STEP and info.device.type == "cuda"
                with HS.counting_host_syncs(info.device) if probe else contextlib.nullcontext([]) as syncs:
                    loss, parts, gnorm, skipped = self.train_step(batch)
                self.step += 1
                if probe:  # what a timed GPU run needs to know: does the host wait inside a step?
                    self._log(f"step {self.step}: host syncs in the training step: {HS.describe(syncs)}")
                vals = {"loss": loss, "grad_norm": gnorm, "skipped_steps": skipped}
                vals.update({f"loss_{k}": v for k, v in parts.items() if k != "total"})
                for k, v in vals.items():  # summed where they are: no host sync per step
                    v = v.detach().reshape(-1).mean().double()
                    win[k] = v if k not in win else win[k] + v
                win_n += 1
                if bar is not None:
                    bar.update(1)
                if cfg.train.max_minutes and self._out_of_time():
                    timed_out = True
                    stop = self.step
                    self._log(f"time limit of {cfg.train.max_minutes:g} min reached at step {self.step}")
                if self.step % cfg.train.log_every == 0 or self.step == stop:
                    names = sorted(win)
                    mean = torch.stack([win[k].to(info.device) for k in names]) / win_n
                    mean = D.reduce_mean(mean, info).cpu().tolist()  # one host sync per log row
                    dt = time.perf_counter() - t0  # after the sync: the window's steps have run
                    row = {"step": self.step, **dict(zip(names, mean))}
                    row["skipped_steps"] = n_skipped = round(row["skipped_steps"] * win_n)  # a count, not a mean
                    if n_skipped:
                        self.skipped += n_skipped
                        self._log(f"step {self.step}: non-finite gradient norm, update skipped" if win_n == 1 else
                                  f"steps {self.step - win_n + 1}-{self.step}: {n_skipped} non-finite gradient "
                                  f"norm{'s' if n_skipped > 1 else ''}, update{'s' if n_skipped > 1 else ''} skipped")
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
