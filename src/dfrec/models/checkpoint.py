"""DFREC checkpoints: a folder with ``config.json`` and safetensors weights — never pickle.

This module is the file format only: a config dict and a state dict go in
(:func:`save_checkpoint`) and come out (:func:`read_config`, :func:`read_state_dict`); it
never builds a network. :meth:`dfrec.models.DFREC.from_pretrained` builds the model from
them and :meth:`~dfrec.models.DFREC.save_pretrained` writes one.

Layout::

    OUT/config.json                         {"format": "dfrec-checkpoint", "config": {...},
                                             "metadata": {...}, "dfrec_version", "created", ...}
    OUT/model.safetensors                   when the weights fit in one shard, else
    OUT/model-00001-of-0000n.safetensors    shards of at most ``shard_size_mb`` each
    OUT/model.safetensors.index.json        {"metadata": {"total_size"}, "weight_map": {name: file}}

Every file is written atomically; stale weight files of an earlier save are removed after
the new ``config.json`` is in place. Loading checks that every tensor is present with the
right shape; a missing, truncated, corrupt or mismatched file raises
:class:`dfrec.errors.CheckpointError` with one clear line.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dfrec.errors import CheckpointError, ConfigError
from dfrec.io import atomic_path, write_json_atomic

FORMAT = "dfrec-checkpoint"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
#: Default largest weights file, in MiB: 14 MiB is 14.7 MB, under the repository's 15 MB per file
#: (15 MiB, the default until 2026-12-06, is 15.7 MB)
SHARD_SIZE_MB = 14.0
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _shard_name(k: int, n: int) -> str:
    return f"model-{k:05d}-of-{n:05d}.safetensors"


def _state_for_saving(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in state.items():
        t = t.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(dtype)
        out[name] = t.contiguous().clone()
    return out


def _split(state: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in state.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    return shards


def save_checkpoint(
    path: str | os.PathLike,
    config: dict[str, Any],
    state: dict[str, torch.Tensor],
    metadata: dict[str, Any] | None = None,
    num_parameters: int | None = None,
    shard_size_mb: float = SHARD_SIZE_MB,
    dtype: str = "float32",
) -> Path:
    """Write a model's ``config`` (its JSON-ready dict, ``preset`` included) and ``state``
    dict into folder ``path``; returns the folder.

    Weights larger than ``shard_size_mb`` are split into shards plus an index; ``dtype``
    ("float32", "float16", "bfloat16") is the storage type of floating-point tensors.
    ``metadata`` (training data, metrics, ...) and ``num_parameters`` go into ``config.json``.
    """
    from dfrec import __version__

    if dtype not in _DTYPES:
        raise ConfigError(f"checkpoint dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    if shard_size_mb <= 0:
        raise ConfigError(f"shard_size_mb must be positive, got {shard_size_mb}")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    state = _state_for_saving(state, _DTYPES[dtype])
    shards = _split(state, int(shard_size_mb * 1024 * 1024))
    st_meta = {"format": "pt", "dfrec_format": FORMAT}
    written: list[str] = []
    if len(shards) == 1:
        with atomic_path(out / WEIGHTS_NAME) as tmp:
            save_file(shards[0], str(tmp), metadata=st_meta)
        written.append(WEIGHTS_NAME)
    else:
        weight_map = {}
        for k, shard in enumerate(shards, 1):
            name = _shard_name(k, len(shards))
            with atomic_path(out / name) as tmp:
                save_file(shard, str(tmp), metadata=st_meta)
            written.append(name)
            weight_map.update({t: name for t in shard})
        total = sum(t.numel() * t.element_size() for t in state.values())
        write_json_atomic(out / INDEX_NAME, {"metadata": {"total_size": total}, "weight_map": weight_map})
        written.append(INDEX_NAME)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dfrec_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "preset": config.get("preset"),
        "storage_dtype": dtype,
        "num_parameters": num_parameters,
        "config": dict(config),
        "metadata": dict(metadata or {}),
    }
    write_json_atomic(out / CONFIG_NAME, doc)
    for old in list(out.glob("model*.safetensors")) + list(out.glob(INDEX_NAME)):
        if old.name not in written:
            old.unlink()
    return out


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of checkpoint folder ``path`` (raises :class:`CheckpointError`)."""
    folder = Path(path)
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: a checkpoint is a folder with config.json and model.safetensors")
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"{folder}: not a dfrec checkpoint folder (missing {CONFIG_NAME})")
    try:
        doc = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: corrupt JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("config"), dict):
        raise CheckpointError(f"{cfg_path}: not a dfrec checkpoint config (format {FORMAT!r} expected)")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{cfg_path}: checkpoint format {doc['format_version']} is newer than this dfrec supports ({FORMAT_VERSION})"
        )
    return doc


def _weight_files(folder: Path) -> list[Path]:
    index = folder / INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index}: corrupt shard index ({e})") from None
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{index}: corrupt shard index (weight_map is not a tensor -> file name mapping)")
        files = [folder / n for n in sorted(set(weight_map.values()))]
    else:
        files = [folder / WEIGHTS_NAME]
    for f in files:
        if not f.is_file():
            raise CheckpointError(f"{folder}: missing weights file {f.name}")
    return files


def read_state_dict(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of checkpoint folder ``path`` (single file or shards), read with safetensors."""
    folder = Path(path)
    state: dict[str, torch.Tensor] = {}
    for f in _weight_files(folder):
        try:
            with safe_open(str(f), framework="pt", device=str(device)) as sf:
                for k in sf.keys():
                    if k in state:
                        raise CheckpointError(f"{f}: tensor {k} appears in two weight files")
                    state[k] = sf.get_tensor(k)
        except CheckpointError:
            raise
        except (SafetensorError, OSError, RuntimeError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise CheckpointError(f"{f}: truncated or corrupt safetensors file ({msg})") from None
    return state


def read_torch_state_dict(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """Read a plain tensor state dict from a ``.pth`` file another project wrote (ImageNet or VGG19
    weights): ``torch.load(weights_only=True)``, so no pickled code runs; ``{"state_dict": ...}``
    is unwrapped. A missing file raises :class:`ConfigError`, anything else unreadable one
    :class:`CheckpointError` line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{what} weights file not found: {p}")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise CheckpointError(f"{p}: cannot read {what} weights ({type(e).__name__}: {e})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{p}: not a state dict of tensors ({what})")
    return sd


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``model``, casting to the model's dtypes; any missing, unexpected or
    mis-shaped tensor raises :class:`CheckpointError` naming the first few."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]

    def few(items: list[str]) -> str:
        return ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")

    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensor(s): {few(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s): {few(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {few(shapes)}")
    if problems:
        raise CheckpointError(f"{source}: weights do not match the model config; " + "; ".join(problems))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def load_state_partial(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load every tensor of ``state`` whose name and shape match ``model``; keep the rest as initialised.

    For starting a changed architecture from older weights (``model.init_strict: false``).
    Returns ``(loaded names, names of the model's tensors left as initialised)``.
    """
    own = model.state_dict()
    take = {k: v.to(own[k].dtype) for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(take, strict=False)
    return sorted(take), sorted(k for k in own if k not in take)


def average_states(
    states: list[dict[str, torch.Tensor]],
    weights: list[float] | None = None,
    only: set[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted mean of state dicts of one architecture (a weight average or "model soup").

    ``weights``: one per state, summing to 1 (default uniform). ``only``: the names to average
    (default all); every other tensor, and every non-floating one (counters), comes from
    ``states[0]``. Floating tensors are averaged in float32 and returned in ``states[0]``'s dtype.
    Raises :class:`ConfigError` naming the tensors that differ in name or shape among those averaged.
    """
    if not states:
        raise ConfigError("nothing to average: no states given")
    weights = [1.0 / len(states)] * len(states) if weights is None else [float(w) for w in weights]
    if len(weights) != len(states) or abs(sum(weights) - 1.0) > 1e-6 or min(weights) < 0:
        raise ConfigError(f"average weights {weights}: need one non-negative weight per state, summing to 1")
    first = states[0]
    want = set(first) if only is None else set(only) & set(first)
    for st in states[1:]:
        theirs = set(st) if only is None else set(only) & set(st)
        misfit = sorted(want ^ theirs) + sorted(k for k in want & theirs if st[k].shape != first[k].shape)
        if misfit:
            raise ConfigError(f"the states to average differ in {len(misfit)} tensors, e.g. {misfit[:3]}")
    out = {}
    for k, v in first.items():
        if k in want and v.is_floating_point():
            mean = sum(w * st[k].float() for w, st in zip(weights, states))
            out[k] = mean.to(v.dtype)
        else:
            out[k] = v.clone()
    return out
