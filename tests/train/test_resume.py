"""Stopping and resuming: a run stopped at step k (by --max-steps or a real SIGKILL) and
resumed equals an uninterrupted run of the same length and seed, bit for bit.

Real tiny DFREC model, real losses (patch + classification: the network-free terms, to stay
fast), real forgeries synthesised from LFW faces.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dfrec.errors import CheckpointError, ConfigError
from dfrec.train.checkpointing import STATE_FILE, latest_checkpoint, list_checkpoints, load_trainer_state
from dfrec.train.config import config_from_dict
from dfrec.train.loop import Trainer
from helpers import assert_same_state, model_state, tiny_config, write_config

ROOT = Path(__file__).resolve().parents[2]
STEPS = 6


@pytest.fixture(scope="module")
def reference(lfw_cache, tmp_path_factory):
    """An uninterrupted run of STEPS steps: (run folder, trainer)."""
    out = tmp_path_factory.mktemp("ref")
    trainer = Trainer(config_from_dict(tiny_config(lfw_cache, out, STEPS)), device="cpu", progress=False)
    summary = trainer.fit()
    assert summary["finished"] and summary["step"] == STEPS
    return out, trainer


def _optimizer_tensors(state: dict) -> list[torch.Tensor]:
    return [v for s in state["optimizer"]["state"].values() for v in s.values() if torch.is_tensor(v)]


def test_stop_and_resume_is_bit_exact(reference, lfw_cache, tmp_path):
    ref_out, ref = reference
    cfg = config_from_dict(tiny_config(lfw_cache, tmp_path, STEPS))
    first = Trainer(cfg, device="cpu", max_steps=3, progress=False).fit()
    assert first["step"] == 3 and not first["finished"] and first["model"] is None
    # without --resume, an existing run folder is refused rather than overwritten
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(cfg, device="cpu", progress=False).fit()
    second = Trainer(cfg, device="cpu", resume=True, progress=False)
    summary = second.fit()
    assert summary["step"] == STEPS and summary["finished"]
    # same parameters, optimizer moments, scheduler, and the same logged losses
    assert_same_state(model_state(ref_out / "model"), model_state(tmp_path / "model"))
    a = load_trainer_state(latest_checkpoint(ref_out))
    b = load_trainer_state(latest_checkpoint(tmp_path))
    assert a["step"] == b["step"] == STEPS
    for x, y in zip(_optimizer_tensors(a), _optimizer_tensors(b), strict=True):
        assert torch.equal(x, y)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == STEPS
    ref_losses = {r["step"]: r["loss"] for r in ref.history if "loss" in r}
    new_losses = {r["step"]: r["loss"] for r in second.history if "loss" in r}
    assert all(new_losses[s] == ref_losses[s] for s in new_losses) and len(new_losses) == STEPS - 3


def test_trainer_state_is_weights_only_and_pruned(reference):
    out, _ = reference
    found = list_checkpoints(out / "checkpoints")
    assert [s for s, _ in found] == [4, 6]  # keep_last 2 of checkpoints at 2, 4, 6
    state = torch.load(found[-1][1] / STATE_FILE, weights_only=True)
    assert state["step"] == 6 and state["sampler"] == {"epoch": 1, "start": 4, "seed": 3}
    assert (out / "checkpoints" / "latest").read_text().strip() == "step_00000006"


def test_sigkill_then_resume(reference, lfw_cache, tmp_path):
    """Kill -9 a `python -m dfrec.train` process after its second checkpoint, resume, compare."""
    ref_out, _ = reference
    cfg = write_config(tiny_config(lfw_cache, tmp_path / "run", STEPS, checkpoint_every=1), tmp_path / "c.yaml")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "dfrec.train", "--config", str(cfg), "--device", "cpu", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckroot = tmp_path / "run" / "checkpoints"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list_checkpoints(ckroot)) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = list_checkpoints(ckroot)[-1][0]
    assert 2 <= killed_at < STEPS
    res = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"at step {killed_at}" in res.stderr
    assert_same_state(model_state(ref_out / "model"), model_state(tmp_path / "run" / "model"))


def test_resume_errors(lfw_cache, tmp_path):
    cfg = config_from_dict(tiny_config(lfw_cache, tmp_path, STEPS))
    with pytest.raises(CheckpointError, match="not found"):
        Trainer(cfg, device="cpu", resume=tmp_path / "nope", progress=False).fit()
    # a checkpoint whose trainer state is truncated is reported, not silently ignored
    bad = tmp_path / "checkpoints" / "step_00000002"
    bad.mkdir(parents=True)
    (bad / STATE_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="cannot read trainer state"):
        Trainer(cfg, device="cpu", resume=True, progress=False).fit()
