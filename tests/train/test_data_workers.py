"""The trainer's data loader workers: one OpenCV thread each (dfrec.train.setup.worker_init)."""
from __future__ import annotations

import cv2
import torch
from torch.utils.data import DataLoader, Dataset

from dfrec.train.config import config_from_dict
from dfrec.train.loop import Trainer
from dfrec.train.setup import worker_init
from helpers import tiny_config


class _Threads(Dataset):
    """Each item: the number of threads OpenCV would use in the process that made it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        return cv2.getNumThreads()


def test_a_worker_runs_opencv_on_one_thread():
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)  # what a parent on a 4-core machine hands its forked workers
    try:
        plain = [int(x) for x in DataLoader(_Threads(), batch_size=1, num_workers=1)]
        held = [int(x) for x in DataLoader(_Threads(), batch_size=1, num_workers=1, worker_init_fn=worker_init)]
    finally:
        cv2.setNumThreads(before)
    assert plain == [4, 4] and held == [1, 1]


def test_the_trainers_loaders_use_it(fixture_cache, tmp_path):
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    trainer._setup()
    try:
        assert trainer._loader(0, 0).worker_init_fn is worker_init
        assert torch.is_tensor(next(iter(trainer._loader(0, 0)))["forgery"])
    finally:
        if trainer.writer is not None:
            trainer.writer.close()
