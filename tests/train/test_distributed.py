"""Two-process DistributedDataParallel on CPU (gloo), launched with torchrun like a real job."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dfrec.train.distributed import DistInfo, ResumableSampler, SeededDataset, reduce_mean
from helpers import assert_same_state, model_state, tiny_config, write_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_hold_identical_parameters(lfw_cache, tmp_path):
    out = tmp_path / "run"
    cfg = write_config(tiny_config(lfw_cache, out, steps=4, checkpoint_every=4), tmp_path / "c.yaml")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        f"--master_port={_free_port()}", str(HERE / "ddp_worker.py"), str(cfg), str(out), "real",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    from dfrec.models import create_model

    torch.manual_seed(3)
    init_model = create_model("tiny")
    names = [n for n, _ in init_model.named_parameters()]
    init = init_model.state_dict()
    r0 = load_file(str(out / "rank0.safetensors"))
    r1 = load_file(str(out / "rank1.safetensors"))
    # parameters are identical on both ranks (BatchNorm running statistics are not: each
    # rank updates them from its own last batch, as plain DDP does; rank 0's are saved)
    assert_same_state({n: r0[n] for n in names}, {n: r1[n] for n in names})
    assert (out / "rank0.step").read_text() == (out / "rank1.step").read_text() == "4"
    # rank 0 alone wrote the run folder; its final model holds rank 0's weights
    assert_same_state(r0, model_state(out / "model"))
    # and training moved the weights away from the (seeded, identical) initialisation
    moved = [n for n in names if not torch.equal(r0[n], init[n])]
    assert len(moved) > len(names) // 2


def _ddp(cfg_path: Path, out: Path, kind: str) -> dict[str, torch.Tensor]:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        f"--master_port={_free_port()}", str(HERE / "ddp_worker.py"), str(cfg_path), str(out), kind,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    return load_file(str(out / "rank0.safetensors"))


def test_two_ranks_equal_one_process_at_the_combined_batch(lfw_cache, tmp_path):
    """2 ranks x batch 4 (each as two accumulated micro-batches of 2) == 1 process x batch 8:
    the ranks see disjoint halves of the same batches, accumulate without all-reducing until
    their last micro-batch, and average their gradients. Compared on the BatchNorm-free
    stand-in network (standins.py: the real model's per-rank BatchNorm statistics and masking
    noise differ between the two set-ups by design); real synthesised data, real trainer."""
    from standins import plain_components

    from dfrec.train.config import config_from_dict
    from dfrec.train.loop import Trainer

    def cfg(out: Path, batch: int, micro: int | None = None) -> dict:
        c = tiny_config(lfw_cache, out, steps=4, checkpoint_every=4, micro_batch_size=micro)
        c["data"].update(batch_size=batch, val_samples=0, samples_per_epoch=16)
        return c

    ddp = _ddp(write_config(cfg(tmp_path / "ddp", 4, micro=2), tmp_path / "ddp.yaml"), tmp_path / "ddp", "plain")
    torch.set_num_threads(1)

    def single(batch: int) -> dict[str, torch.Tensor]:
        t = Trainer(config_from_dict(cfg(tmp_path / f"single{batch}", batch)), device="cpu",
                    components=plain_components(), progress=False)
        assert t.fit()["step"] == 4
        return {k: v.detach().clone() for k, v in t.model.state_dict().items()}

    try:
        combined, half = single(8), single(4)
    finally:
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    assert ddp.keys() == combined.keys()
    gap = max(float((ddp[k] - combined[k]).abs().max()) for k in ddp)
    # equal up to float rounding (all-reduce sums per rank, one process sums over the batch)
    assert gap < 1e-5, gap
    # while training on half the data per step (one rank's batch size alone) ends far away
    assert max(float((ddp[k] - half[k]).abs().max()) for k in ddp) > 100 * max(gap, 1e-7)


class _Echo(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return (i, float(torch.rand(())))


def test_sampler_shards_resumes_and_seeds_samples():
    ds = SeededDataset(_Echo(), seed=5)
    s0, s1 = ResumableSampler(ds, 2, 0, seed=1), ResumableSampler(ds, 2, 1, seed=1)
    s0.set_epoch(3)
    s1.set_epoch(3)
    a, b = list(s0), list(s1)
    assert len(a) == len(b) == 5 and not {i for _, i in a} & {i for _, i in b}
    s0.set_epoch(3, start=2)
    assert list(s0) == a[2:] and len(s0) == 3
    # the same key gives the same random draw, whatever the RNG state around it
    torch.manual_seed(123)
    x = ds[a[0]]
    torch.rand(5)
    assert ds[a[0]] == x and ds[(4, a[0][1])] != x
    before = torch.get_rng_state()
    ds[a[1]]
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("backend", ["gloo", pytest.param("nccl", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="NCCL needs a CUDA device"))])
def test_reduce_mean_reduces_on_the_ranks_device(backend):
    """The all-reduce of the training log rows runs on the rank's device and answers on the
    values' own: NCCL (CUDA ranks) reduces only CUDA tensors, and a CPU tensor there raised
    "No backend type associated with device type cpu" at the first log row of a torchrun job.
    One real process stands for rank 0 of two whose other rank contributes nothing."""
    import torch.distributed as dist

    device = torch.device("cuda", 0) if backend == "nccl" else torch.device("cpu")
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        info = DistInfo(rank=0, world_size=2, device=device)
        for values in (torch.tensor([2.0, 5.0], dtype=torch.float64), torch.tensor([1.0, 3.0], device=device)):
            out = reduce_mean(values, info)
            assert out.device == values.device and out.dtype == values.dtype
            assert torch.equal(out, values / 2)
        assert torch.equal(values, torch.tensor([1.0, 3.0], device=device))  # the input is left as it was
    finally:
        dist.destroy_process_group()
