"""Step checkpoints of a training run: written atomically, loadable without pickle.

Layout under ``<run>/checkpoints/``::

    step_00001000/
        model.safetensors, config.json   the model's own ``save_pretrained`` folder
        ema.safetensors                  EMA weights (when EMA is on)
        trainer_state.pt                 optimizer, scheduler, RNG, step, sampler state
    latest                               text file naming the newest complete folder

A checkpoint folder is built under a temporary name and renamed into place, so a crash
mid-write never leaves a half checkpoint that ``--resume`` would pick. The trainer state
holds only tensors, dicts, lists, strings and numbers, so it loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from dfrec.errors import CheckpointError
from dfrec.io import atomic_path, write_text_atomic
from dfrec.models.checkpoint import load_state_strict

STATE_FILE = "trainer_state.pt"
EMA_FILE = "ema.safetensors"
MODEL_FILE = "model.safetensors"
_STEP_RE = re.compile(r"^step_(\d+)$")


def step_dir_name(step: int) -> str:
    """Folder name of the checkpoint taken after ``step`` optimizer steps."""
    return f"step_{step:08d}"


# ----------------------------------------------------------------------------- RNG state


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch CPU and every CUDA device, as weights-only data."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((int(py[0]), tuple(int(x) for x in py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]), float(n["cached_gauss"]))
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# ----------------------------------------------------------------------------- resuming


def restore(folder: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, ema: torch.nn.Module | None,
            say: Any = print) -> dict[str, Any]:
    """Load checkpoint ``folder`` into a run's model, optimizer, scheduler and EMA; returns the
    trainer state (step, RNG, sampler position, ...) for the loop to take the rest from.
    A checkpoint without EMA weights restarts the EMA from the model's (``say`` tells)."""
    state = load_trainer_state(folder)
    load_model_weights(model, folder)
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{folder}: optimizer state does not match this model/config ({e})") from None
    if ema is not None:
        if "ema" in state or (folder / EMA_FILE).is_file():
            load_state_strict(ema, load_ema_weights(folder), str(folder / EMA_FILE))
        else:
            say("resume: checkpoint has no EMA weights; EMA restarts from the current weights")
            ema.module.load_state_dict(model.state_dict())
    return state


# ----------------------------------------------------------------------------- saving


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    trainer_state: dict[str, Any],
    ema_state: dict[str, torch.Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
    keep_last: int = 3,
) -> Path:
    """Write checkpoint ``step`` under ``run_dir/checkpoints`` atomically and prune old ones.

    ``model`` must offer ``save_pretrained(dir, metadata)`` (the DFREC model does); other
    modules fall back to a plain ``model.safetensors``. Returns the checkpoint folder.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_dir_name(step)
    tmp = root / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        save_model_folder(model, tmp, metadata or {})
        if ema_state is not None:
            with atomic_path(tmp / EMA_FILE) as p:
                save_file(_contiguous(ema_state), str(p))
        with atomic_path(tmp / STATE_FILE) as p:
            torch.save(trainer_state, p)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    write_text_atomic(root / "latest", final.name + "\n")
    prune_checkpoints(root, keep_last)
    return final


def save_model_folder(model: torch.nn.Module, folder: str | Path, metadata: dict[str, Any]) -> Path:
    """The model's own ``save_pretrained`` (safetensors + config.json), else plain safetensors."""
    folder = Path(folder)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder, metadata=metadata)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / MODEL_FILE) as p:
            save_file(_contiguous(model.state_dict()), str(p))
    return folder


def _contiguous(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies; tensors that share memory are cloned apart."""
    out = {}
    seen: set[int] = set()
    for k, v in sd.items():
        t = v.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[k] = t
    return out


def prune_checkpoints(root: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` step folders; returns the removed ones."""
    steps = list_checkpoints(root)
    removed = []
    for _, p in steps[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def list_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """Complete step folders under ``root`` as (step, path), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """Newest complete checkpoint folder of a run (``None`` when there is none)."""
    root = Path(run_dir) / "checkpoints"
    found = list_checkpoints(root)
    return found[-1][1] if found else None


# ----------------------------------------------------------------------------- loading


def load_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    """Read ``trainer_state.pt`` with ``weights_only=True``; CheckpointError when unreadable."""
    p = Path(ckpt) / STATE_FILE
    if not p.is_file():
        raise CheckpointError(f"{ckpt}: no {STATE_FILE} (not a training checkpoint)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated / corrupt file
        raise CheckpointError(f"{p}: cannot read trainer state ({e.__class__.__name__}: {e})") from None


def load_model_weights(model: torch.nn.Module, ckpt: str | Path) -> None:
    """Load ``model.safetensors`` (or its shards) of a checkpoint folder into ``model`` (strict)."""
    folder = Path(ckpt)
    files = sorted(folder.glob("model-*-of-*.safetensors")) or [folder / MODEL_FILE]
    sd: dict[str, torch.Tensor] = {}
    for f in files:
        if not f.is_file():
            raise CheckpointError(f"{folder}: no {MODEL_FILE}")
        try:
            sd.update(load_file(str(f)))
        except Exception as e:
            raise CheckpointError(f"{f}: cannot read weights ({e.__class__.__name__}: {e})") from None
    load_state_strict(model, sd, str(folder))


def load_ema_weights(ckpt: str | Path) -> dict[str, torch.Tensor]:
    """EMA tensors of a checkpoint folder."""
    f = Path(ckpt) / EMA_FILE
    if not f.is_file():
        raise CheckpointError(f"{ckpt}: EMA is on but {EMA_FILE} is missing")
    try:
        return load_file(str(f))
    except Exception as e:
        raise CheckpointError(f"{f}: cannot read EMA weights ({e.__class__.__name__}: {e})") from None
