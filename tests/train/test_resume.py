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
    """Kill -9 a `python -m dfrec train` process after its second checkpoint, resume, compare."""
    ref_out, _ = reference
    cfg = write_config(tiny_config(lfw_cache, tmp_path / "run", STEPS, checkpoint_every=1), tmp_path / "c.yaml")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "dfrec", "train", "--config", str(cfg), "--device", "cpu", "--no-progress"]
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


def test_resume_is_bit_exact_with_ema_workers_and_a_time_budget(lfw_cache, tmp_path, monkeypatch):
    """The set-up of the shipped GPU config: EMA on, DataLoader worker processes, and a
    train.max_minutes budget that ends the run and drives the cosine schedule.

    Wall-clock time is the one input that differs between two runs, so the clock is
    simulated: every optimiser step costs exactly one second (``Trainer._elapsed`` returns
    the step count), and the budget (5 s) binds long before train.steps (1000). A run
    stopped at step 3 and resumed must equal the uninterrupted run bit for bit: weights,
    EMA weights, optimiser moments, learning rates and losses.
    """
    monkeypatch.setattr(Trainer, "_elapsed", lambda self: float(self.step))

    def cfg(out: Path):
        c = tiny_config(lfw_cache, out, steps=1000, max_minutes=5 / 60, ema={"enabled": True, "decay": 0.5})
        c["data"].update(workers=2, val_samples=0)
        return config_from_dict(c)

    ref = Trainer(cfg(tmp_path / "ref"), device="cpu", progress=False)
    done = ref.fit()
    assert done["timed_out"] and done["step"] == 5
    lrs = [r["lr"] for r in ref.history if "lr" in r]
    assert lrs[-1] < lrs[1] < lrs[0]  # the time budget, not the 1000 steps, moved the cosine

    first = Trainer(cfg(tmp_path / "run"), device="cpu", max_steps=3, progress=False).fit()
    assert first["step"] == 3 and not first["finished"]
    again = Trainer(cfg(tmp_path / "run"), device="cpu", resume=True, progress=False)
    done2 = again.fit()
    assert done2["timed_out"] and done2["step"] == 5

    assert_same_state(model_state(tmp_path / "ref" / "model"), model_state(tmp_path / "run" / "model"))  # EMA weights
    a = load_trainer_state(latest_checkpoint(tmp_path / "ref"))
    b = load_trainer_state(latest_checkpoint(tmp_path / "run"))
    for x, y in zip(_optimizer_tensors(a), _optimizer_tensors(b), strict=True):
        assert torch.equal(x, y)
    from dfrec.train.checkpointing import load_ema_weights

    assert_same_state(load_ema_weights(latest_checkpoint(tmp_path / "ref")), load_ema_weights(latest_checkpoint(tmp_path / "run")))
    assert_same_state(model_state(latest_checkpoint(tmp_path / "ref")), model_state(latest_checkpoint(tmp_path / "run")))
    by_step = lambda t: {r["step"]: (r["loss"], r["lr"]) for r in t.history if "loss" in r}  # noqa: E731
    assert {s: v for s, v in by_step(ref).items() if s > 3} == by_step(again)


def test_resume_takes_the_configs_learning_rate_and_says_when_it_moves(lfw_cache, tmp_path, monkeypatch, capsys):
    """A resume with another ``optim.lr`` trains at it from the next step (the scheduler's saved
    base lr no longer wins), and a larger ``train.max_minutes`` (which moves the time-driven
    cosine back, to a higher rate) is reported with the rate before and after."""
    monkeypatch.setattr(Trainer, "_elapsed", lambda self: float(self.step))
    Trainer(config_from_dict(tiny_config(lfw_cache, tmp_path, steps=8)), device="cpu", max_steps=3, progress=False).fit()
    capsys.readouterr()
    resumed = Trainer(config_from_dict(tiny_config(lfw_cache, tmp_path, steps=8) | {"optim": {"lr": 1e-4, "warmup_steps": 2}}),
                      device="cpu", max_steps=4, resume=True, progress=False)
    resumed.fit()
    assert "moves from" in capsys.readouterr().err
    lrs = {r["step"]: r["lr"] for r in resumed.history if "lr" in r}
    assert max(lrs.values()) <= 1e-4 + 1e-12  # not the saved base lr of 1e-3

    def timed(out: Path, minutes: float):
        c = tiny_config(lfw_cache, out, steps=1000, max_minutes=minutes)
        c["data"].update(val_samples=0)
        return config_from_dict(c)

    Trainer(timed(tmp_path / "t", 6 / 60), device="cpu", max_steps=4, progress=False).fit()
    capsys.readouterr()
    Trainer(timed(tmp_path / "t", 60 / 60), device="cpu", max_steps=5, resume=True, progress=False).fit()
    err = capsys.readouterr().err
    assert "resume: the learning rate at step 4 moves from" in err and "train.max_minutes" in err
