"""Single-process and ``torchrun`` multi-process training share this code.

:func:`setup` reads the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and starts the process group (NCCL on
CUDA, gloo on CPU); without those variables it is a world of one and nothing is started.

Data order is reproducible and resumable: :class:`ResumableSampler` is a
``DistributedSampler`` whose epoch permutation depends only on ``(seed, epoch)`` and that
can start mid-epoch; it yields ``(epoch, index)`` keys, and :class:`SeededDataset` seeds
python, numpy and torch from ``(seed, epoch, index)`` around each item, so a sample's
random synthesis is the same whichever worker process or rank draws it, and a resumed run
sees exactly the samples an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from dfrec.device import select_device


@dataclass
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Start the process group when launched by ``torchrun``; pick this rank's device.

    Under ``torchrun`` with CUDA each rank takes ``cuda:LOCAL_RANK`` (``device`` may force
    ``cpu``, which uses gloo).
    """
    import datetime

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = select_device(device)
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", local % max(1, torch.cuda.device_count()))
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    elif dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup() -> None:
    """Tear the process group down (no-op when none was started)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (a list of one entry when not distributed)."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor across ranks (identity when not distributed), on ``values``' device.

    The reduction runs on ``info.device``: NCCL, the backend of CUDA ranks, reduces only CUDA
    tensors (a CPU tensor raises "No backend type associated with device type cpu")."""
    if not info.distributed:
        return values
    v = values.detach().to(info.device, copy=True)
    dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return (v / info.world_size).to(values.device)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed mixed from ``(seed, epoch, index)`` (SplitMix64-style, no collisions in practice)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    x ^= x >> 27
    return x & (2**63 - 1)


class SeededDataset(Dataset):
    """Wraps a dataset so that item ``(epoch, index)`` is drawn under fixed RNG seeds.

    Datasets with ``set_epoch`` (e.g. ``SyntheticForgeries``) are switched to the key's
    epoch first. The global python/numpy/torch RNG states are saved and restored, so
    loading in the main process (``workers=0``) does not disturb the training RNG.
    Plain integer keys are treated as epoch 0.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        epoch, index = key if isinstance(key, (tuple, list)) else (0, key)
        s = sample_seed(self.seed, int(epoch), int(index))
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_epoch) and getattr(self.dataset, "epoch", None) != int(epoch):
            set_epoch(int(epoch))
        py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(s)
            np.random.seed(s % (2**32))
            torch.manual_seed(s)
            return self.dataset[int(index)]
        finally:
            random.setstate(py)
            np.random.set_state(npy)
            torch.set_rng_state(th)


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that yields ``(epoch, index)`` keys and can start mid-epoch.

    Each epoch's order is ``randperm(len)`` under ``seed + epoch``, split across ranks as
    ``DistributedSampler`` does (``drop_last=True``: every rank gets the same count).
    ``set_epoch(epoch, start)`` skips the first ``start`` of this rank's items.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:  # type: ignore[override]
        super().set_epoch(epoch)
        self.start = int(start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        for i in indices[self.start :]:
            yield (self.epoch, int(i))

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self.epoch), "start": int(self.start), "seed": int(self.seed)}
