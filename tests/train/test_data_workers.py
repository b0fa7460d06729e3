"""The trainer's data loader workers: one OpenCV thread each, set around the fork
(dfrec.train.setup.data_loader / opencv_one_thread_in_forks)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import torch
from torch.utils.data import Dataset

from dfrec.train.config import config_from_dict
from dfrec.train.loop import Trainer
from dfrec.train.setup import data_loader, to_device
from helpers import tiny_config

# A parent whose OpenCV pool has run (4 threads) builds a loader with 2 workers; each worker
# reports its OpenCV thread count. Before 2026-12-04 the workers set the count themselves
# (``worker_init_fn``), and a forked child that calls cv2.setNumThreads after its parent's pool
# has run waits forever: this script then never ends.
_WARM_PARENT = textwrap.dedent("""
    import cv2, numpy as np, torch
    from torch.utils.data import Dataset
    from dfrec.train.setup import data_loader

    class Threads(Dataset):
        def __len__(self):
            return 4
        def __getitem__(self, i):
            cv2.GaussianBlur(np.ones((600, 600, 3), np.float32), (15, 15), 3)
            return {"threads": cv2.getNumThreads()}

    cv2.setNumThreads(4)
    for _ in range(3):
        cv2.GaussianBlur(np.ones((1500, 1500, 3), np.float32), (31, 31), 5)  # the pool's threads run
    got = [int(t) for b in data_loader(Threads(), batch_size=1, num_workers=2) for t in b["threads"]]
    print(got, cv2.getNumThreads())
""")


class _Threads(Dataset):
    """Each item: the number of threads OpenCV would use in the process that made it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        return {"threads": cv2.getNumThreads()}


def test_a_worker_runs_opencv_on_one_thread_and_the_parent_keeps_its_count():
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)  # what a parent on a 4-core machine has
    try:
        got = [int(b["threads"]) for b in data_loader(_Threads(), batch_size=1, num_workers=1)]
        assert got == [1, 1]
        assert cv2.getNumThreads() == 4
        in_process = [int(b["threads"]) for b in data_loader(_Threads(), batch_size=1, num_workers=0)]
        assert in_process == [4, 4]  # no workers: the loader leaves the process's own count alone
    finally:
        cv2.setNumThreads(before)


def test_workers_start_after_the_parents_opencv_pool_has_run(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", _WARM_PARENT], capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[0] == "[1, 1, 1, 1] 4"


def test_the_trainers_loaders_give_their_workers_one_opencv_thread(fixture_cache, tmp_path):
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    data["data"]["workers"] = 1
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    trainer._setup()
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)
    try:
        assert torch.is_tensor(next(iter(trainer._loader(0, 0)))["forgery"])
        assert trainer._loader(0, 0).num_workers > 0
        trainer.train_ds = _Threads()
        threads = next(iter(trainer._loader(0, 0)))["threads"]
        assert len(threads) > 0 and all(int(t) == 1 for t in threads)
    finally:
        cv2.setNumThreads(before)
        if trainer.writer is not None:
            trainer.writer.close()


def test_uint8_images_train_exactly_as_float32(fixture_cache, tmp_path):
    """``data.uint8_images`` (the default) changes how the pixels travel, not what the model
    sees: the loader's batches are uint8, the step's are float32, and two runs, one each way,
    log the same losses and validation to the last bit."""
    runs = {}
    for u8 in (True, False):
        data = tiny_config(fixture_cache, tmp_path / str(u8), steps=3, dataset="faces", log_every=1)
        data["data"].update(uint8_images=u8, workers=1, val_samples=4, val_batch_size=4)
        trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
        summary = trainer.fit()
        if u8:
            batch = next(iter(trainer._loader(0, 0)))
            assert batch["forgery"].dtype == torch.uint8 and batch["mask"].dtype == torch.float32
            on_device = to_device(batch, torch.device("cpu"))
            assert on_device["forgery"].dtype == torch.float32
            assert torch.equal(on_device["forgery"], batch["forgery"].float() / 255)
        runs[u8] = ([{k: v for k, v in r.items() if "per_s" not in k and k != "time"} for r in trainer.history],
                    summary["validation"])
    assert runs[True] == runs[False] and len(runs[True][0]) >= 3
