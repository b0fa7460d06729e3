"""Training for real: the tiny preset learns on synthesised LFW forgeries (the loss falls),
the run folder holds a loadable model with its metadata, and `dfrec train` works end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dfrec.train.config import config_from_dict
from dfrec.train.loop import Trainer
from helpers import tiny_config, write_config

ROOT = Path(__file__).resolve().parents[2]


def _losses(trainer: Trainer) -> list[float]:
    return [r["loss"] for r in trainer.history if "loss" in r]


def _loss_falls(cache: Path, out: Path, size: int, steps: int, batch: int) -> None:
    """Train the tiny preset with the full objective (identity, perceptual, attribute, patch,
    classification) on synthesised LFW forgeries of ``size`` px; the loss must fall clearly."""
    data = tiny_config(cache, out, steps=steps, loss={"image_size": size}, checkpoint_every=steps,
                       val_every=steps, log_every=1)
    data["model"]["overrides"] = {"image_size": size}
    data["data"].update(image_size=size, batch_size=batch, samples_per_epoch=batch, val_samples=4, val_batch_size=4)
    data["optim"] = {"lr": 3e-3, "warmup_steps": 0, "schedule": "constant"}
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    summary = trainer.fit()
    losses = _losses(trainer)
    assert len(losses) == steps and all(map(torch.isfinite, torch.tensor(losses)))
    # every step draws new forgeries, so compare means over several steps
    first, last = sum(losses[:4]) / 4, sum(losses[-6:]) / 6
    assert last < 0.9 * first, f"loss did not fall: {first:.4f} -> {last:.4f}"
    # each term was computed and logged
    for part in ("id", "perc", "attr", "patch", "cls"):
        assert f"loss_{part}" in trainer.history[0]
    val = summary["validation"]
    for key in ("psnr_source", "psnr_target", "ssim_target", "accuracy", "loss_id"):
        assert key in val, sorted(val)
    assert 0.0 <= val["accuracy"] <= 1.0 and val["samples"] == 4


def test_tiny_loss_falls_on_lfw(lfw_cache, tmp_path):
    """24 steps at 112 px, batch 2 (the same network, a quarter of the pixels, to stay fast)."""
    _loss_falls(lfw_cache, tmp_path, size=112, steps=24, batch=2)


@pytest.mark.slow
def test_tiny_loss_falls_on_lfw_224(lfw_cache, tmp_path):
    """The same at the paper's 224 px, 30 steps of batch 4 (several minutes on 2 cores)."""
    _loss_falls(lfw_cache, tmp_path, size=224, steps=30, batch=4)


def test_micro_batches_accumulate_to_the_whole_batch(lfw_cache, tmp_path):
    """Batch 4 as two accumulated micro-batches of 2 == batch 4 in one pass (BatchNorm-free
    stand-in network, real data and trainer), and the real tiny model trains with them."""
    from standins import plain_components

    def run(name: str, micro: int | None, components=None) -> Trainer:
        c = tiny_config(lfw_cache, tmp_path / name, steps=3, checkpoint_every=3, micro_batch_size=micro)
        c["data"].update(batch_size=4, val_samples=0)
        t = Trainer(config_from_dict(c), device="cpu", components=components, progress=False)
        assert t.fit()["step"] == 3
        return t

    whole, split = run("whole", None, plain_components()), run("split", 2, plain_components())
    a, b = whole.model.state_dict(), split.model.state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    # the logged loss is the batch's, not one micro-batch's
    assert abs(_losses(whole)[0] - _losses(split)[0]) < 1e-5
    real = run("real", 2)
    losses = _losses(real)
    assert len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))
    assert json.loads((tmp_path / "real" / "model" / "config.json").read_text())["metadata"]["train"]["micro_batch_size"] == 2


def test_final_model_loads_with_metadata(fixture_cache, tmp_path):
    """Fixture faces only (no LFW needed): train, then DFREC.from_pretrained the result."""
    from dfrec.models.dfrec import DFREC

    data = tiny_config(fixture_cache, tmp_path, steps=4, dataset="faces", val_every=4, checkpoint_every=4,
                       ema={"enabled": True, "decay": 0.5})
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False, command="pytest")
    summary = trainer.fit()
    assert summary["finished"] and Path(summary["model"]) == tmp_path / "model"
    model = DFREC.from_pretrained(tmp_path / "model")
    # the exported weights are the EMA weights
    ema = trainer.ema.module.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, ema[k]), k
    cfg = json.loads((tmp_path / "model" / "config.json").read_text())
    meta = json.dumps(cfg)
    for needle in ('"preset": "tiny"', '"command": "pytest"', '"weights": "ema"', "patch", "psnr_target"):
        assert needle in meta, needle
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        out = model.eval()(x)
    assert out["source"].shape == x.shape and 0 <= float(out["target"].min()) <= float(out["target"].max()) <= 1
    # TensorBoard event file and metrics log
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    assert any("val/psnr_target" in r for r in rows)


def test_log_rows_are_the_means_of_their_steps(fixture_cache, tmp_path):
    """A log row holds the mean over its window of each step's loss, parts and gradient norm
    (summed on the device without a host sync per step, read once per row)."""
    data = tiny_config(fixture_cache, tmp_path, steps=5, dataset="faces", val_every=100, checkpoint_every=100,
                       log_every=2)
    data["data"]["val_samples"] = 0
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    steps: list[dict[str, float]] = []
    step = trainer.train_step

    def recorded(batch):
        loss, parts, gnorm, skipped = step(batch)
        steps.append({"loss": float(loss), "grad_norm": float(gnorm),
                      **{f"loss_{k}": float(v.mean()) for k, v in parts.items() if k != "total"}})
        return loss, parts, gnorm, skipped

    trainer.train_step = recorded
    trainer.fit()
    rows = [r for r in trainer.history if "loss" in r]
    assert [r["step"] for r in rows] == [2, 4, 5] and len(steps) == 5
    for row, window in zip(rows, (steps[0:2], steps[2:4], steps[4:5])):
        assert set(window[0]) <= set(row) and len(window[0]) > 3
        for k in window[0]:
            assert row[k] == pytest.approx(sum(w[k] for w in window) / len(window), rel=1e-6, abs=1e-9), k
        assert row["images_per_s"] > 0 and row["skipped_steps"] == 0  # a count per window


def test_cli_end_to_end_and_errors(fixture_cache, tmp_path):
    cfg = write_config(tiny_config(fixture_cache, tmp_path / "run", steps=2, dataset="faces"), tmp_path / "c.yaml")
    cmd = [sys.executable, "-m", "dfrec", "train", "--config", str(cfg), "--device", "cpu", "--json", "--no-progress"]
    res = subprocess.run(cmd + ["--set", "train.log_every=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout)
    assert summary["step"] == 2 and summary["finished"] and Path(summary["model"]).is_dir()
    # user errors: one line, the ConfigError exit code (5)
    bad = subprocess.run(cmd + ["--set", "optim.lr=fast"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 5 and bad.stderr.strip() == "dfrec: error: optim.lr: expected a number, got 'fast'"
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 5 and "--resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_time_limit_stops_run_and_decays_schedule(fixture_cache, tmp_path):
    """train.max_minutes ends the run early with a final model and moves the cosine to its floor."""
    from dfrec.train.setup import lr_lambda

    data = tiny_config(fixture_cache, tmp_path, steps=1000, dataset="faces", val_every=1000, checkpoint_every=1000,
                       max_minutes=1e-4)  # 6 ms: spent after the first step
    cfg = config_from_dict(data)
    summary = Trainer(cfg, device="cpu", progress=False).fit()
    assert summary["timed_out"] and summary["finished"] and summary["step"] < 1000
    assert (tmp_path / "model" / "config.json").is_file()
    ckpts = sorted((tmp_path / "checkpoints").glob("step_*"))
    assert ckpts and ckpts[-1].name == f"step_{summary['step']:08d}"
    # the schedule follows whichever budget is nearer: half the time used = half-way down the cosine
    cfg.optim.min_lr_ratio = 0.0
    f = lr_lambda(cfg, lambda: 0.5)
    assert abs(f(10) - 0.5) < 1e-6 and abs(lr_lambda(cfg, lambda: 1.0)(10)) < 1e-9
    assert lr_lambda(cfg)(10) > 0.99  # steps alone: barely started
    with pytest.raises(Exception, match="max_minutes"):
        config_from_dict({**data, "train": {**data["train"], "max_minutes": 0}})


def test_init_from_starts_from_saved_weights(fixture_cache, tmp_path, tiny_checkpoint):
    """model.init_from loads a saved model's weights before step 0; a wrong architecture is a ConfigError."""
    from dfrec.errors import ConfigError
    from dfrec.models.dfrec import DFREC

    src = DFREC.from_pretrained(tiny_checkpoint).state_dict()
    data = tiny_config(fixture_cache, tmp_path / "a", steps=1, dataset="faces")
    data["model"]["init_from"] = str(tiny_checkpoint)
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    trainer._setup()
    got = trainer.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in src.items())
    bad = tiny_config(fixture_cache, tmp_path / "b", steps=1, dataset="faces")
    bad["model"] = {"preset": "small", "init_from": str(tiny_checkpoint)}
    with pytest.raises(ConfigError, match="init_from"):
        Trainer(config_from_dict(bad), device="cpu", progress=False)._setup()


def test_init_from_partial_keeps_new_modules_fresh(fixture_cache, tmp_path, tiny_checkpoint):
    """model.init_strict: false starts a changed architecture (a refinement added) from older weights."""
    from dfrec.models.dfrec import DFREC

    src = DFREC.from_pretrained(tiny_checkpoint).state_dict()
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    data["model"].update(init_from=str(tiny_checkpoint), init_strict=False,
                         overrides={"refine_depth": 3, "compose": True, "sirm_dilate": 8})
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    said: list[str] = []
    trainer._log = said.append
    trainer._setup()
    # the settings that are not tensors (sirm_dilate) are named: they do not travel with the weights
    changed = [m for m in said if "settings differ" in m]
    assert changed and all(f"{k} " in changed[0] for k in ("refine_depth", "compose", "sirm_dilate"))
    assert "compose False -> True" in changed[0] and "sirm_dilate 0 -> 8" in changed[0]
    got = trainer.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in src.items())
    fresh = [k for k in got if k not in src]
    assert fresh and all(k.startswith("tirm.refiner.") for k in fresh)


def test_init_from_a_model_without_a_score_branch_starts_it_as_the_isms_score(fixture_cache, tmp_path,
                                                                             tiny_checkpoint):
    """``score_branch: true`` over a saved model without one: the branch starts as a copy of the
    loaded ISM's encoder and head, so the run starts from the saved model's scores."""
    from dfrec.models.dfrec import DFREC

    saved = DFREC.from_pretrained(tiny_checkpoint)
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    data["model"].update(init_from=str(tiny_checkpoint), init_strict=False, overrides={"score_branch": True})
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    said: list[str] = []
    trainer._log = said.append
    trainer._setup()
    assert any(m.startswith("score branch: started as a copy") for m in said)
    x = torch.rand(2, 3, saved.config.image_size, saved.config.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = saved(x, generator=torch.Generator().manual_seed(1))
        b = trainer.model.eval()(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(b["logit"], a["logit"], rtol=0, atol=1e-6)
    assert torch.equal(b["target"], a["target"])


def test_init_grow_deepens_the_tirm_without_changing_what_it_computes(fixture_cache, tmp_path, tiny_checkpoint):
    """model.init_grow: encoder and decoder blocks the saved model lacks start as the identity, so
    the grown model recovers exactly what the saved one did; training then moves them."""
    from dfrec.models.dfrec import DFREC

    saved = DFREC.from_pretrained(tiny_checkpoint)
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    data["model"].update(init_from=str(tiny_checkpoint), init_strict=False, init_grow=True,
                         overrides={"enc_depth": saved.config.enc_depth + 1, "dec_depth": saved.config.dec_depth + 2})
    data["optim"] = {"lr": 1e-3, "warmup_steps": 0, "schedule": "constant"}
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    said: list[str] = []
    trainer._log = said.append
    trainer._setup()
    grown = [m for m in said if m.startswith("model.init_grow")]
    assert grown and "3 new transformer blocks" in grown[0] and "tirm.decoder.2" in grown[0]
    model = trainer.model.eval()
    x = torch.rand(2, 3, saved.config.image_size, saved.config.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = saved(x, generator=torch.Generator().manual_seed(1))
        b = model(x, generator=torch.Generator().manual_seed(1))
    for k in ("target", "source", "mask", "pred_patches"):
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6)
    assert not torch.equal(b["target"], x)  # the recovery itself is not trivially the input
    trainer.fit()
    fc2 = trainer.model.tirm.decoder[2].mlp.fc2.weight
    assert fc2.abs().sum() > 0  # the new block learns from its zero start


def test_init_grow_refuses_what_is_not_a_new_block(fixture_cache, tmp_path, tiny_checkpoint):
    from dfrec.errors import ConfigError

    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces")
    data["model"].update(init_from=str(tiny_checkpoint), init_grow=True)
    with pytest.raises(ConfigError, match="init_strict: false"):
        config_from_dict(data)
    data["model"].update(init_strict=False, overrides={"refine_depth": 3})  # a new module, not a block
    with pytest.raises(ConfigError, match="tirm.refiner"):
        Trainer(config_from_dict(data), device="cpu", progress=False)._setup()


def test_compile_failure_falls_back_to_eager(fixture_cache, tmp_path, monkeypatch):
    """A torch.compile that breaks at the first step costs a warning, not the run."""

    class Broken(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *a, **k):
            raise RuntimeError("inductor: simulated compiler failure")

    monkeypatch.setattr(torch, "compile", lambda m, **k: Broken(m))
    data = tiny_config(fixture_cache, tmp_path, steps=2, dataset="faces", compile=True, compile_loss=True)
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    summary = trainer.fit()
    assert summary["step"] == 2 and summary["finished"]
    assert not isinstance(trainer.train_model, Broken) and trainer.loss_call is trainer.loss_fn
    meta = json.loads((tmp_path / "model" / "config.json").read_text())["metadata"]
    assert meta["device"].startswith("cpu") and meta["train_minutes"] > 0


def _poisoned(trainer: Trainer, steps: set[int]) -> Trainer:
    """``trainer`` whose loss is NaN at the given steps (1-based), so are their gradients."""
    setup, calls = trainer._setup, []

    def poisoned_setup():
        setup()
        call = trainer.loss_call

        def poisoned(out, batch):
            total, parts = call(out, batch)
            calls.append(1)
            return (total * float("nan") if len(calls) in steps else total), parts

        trainer.loss_call = poisoned

    trainer._setup = poisoned_setup
    return trainer


@pytest.mark.parametrize("fused", [False, True], ids=["host-decides", "fused-adamw"])
def test_a_non_finite_step_is_skipped_and_the_run_goes_on(fixture_cache, tmp_path, capsys, monkeypatch, fused):
    """A step whose loss is NaN (so are its gradients) leaves the weights and AdamW's state as they
    were, is counted and said, and the run trains on. Both ways: the host reads the gradient norm
    (CPU), or fused AdamW skips the step in its kernel, flagged by a device tensor (the GPU path:
    no host sync; PyTorch's CPU build has the fused kernel too, so it runs here)."""
    if fused:
        adamw = torch.optim.AdamW
        monkeypatch.setattr(torch.optim, "AdamW", lambda *a, **k: adamw(*a, **{**k, "fused": True}))
    data = tiny_config(fixture_cache, tmp_path, steps=3, dataset="faces", log_every=1)
    data["data"]["val_samples"] = 0
    trainer = _poisoned(Trainer(config_from_dict(data), device="cpu", progress=False), {2})
    snapshots, step = [], trainer.train_step

    def recorded(batch):
        snapshots.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
        return step(batch)

    trainer.train_step = recorded
    summary = trainer.fit()
    assert summary["finished"] and summary["step"] == 3 and summary["skipped_steps"] == 1
    after_step2 = snapshots[2]  # the weights before step 3 = after step 2
    for n, p in snapshots[1].items():
        assert torch.equal(p, after_step2[n]), n
    state = trainer.optimizer.state_dict()["state"][0]
    assert int(state["step"]) == 2  # AdamW counted the two real updates only
    moved = [n for n, p in trainer.model.named_parameters() if not torch.equal(p.detach(), after_step2[n])]
    assert moved  # step 3 trained again
    losses = _losses(trainer)
    assert len(losses) == 3 and not math.isfinite(losses[1]) and math.isfinite(losses[2])
    assert "step 2: non-finite gradient norm, update skipped" in capsys.readouterr().err
    assert bool(trainer.optimizer.defaults.get("fused")) == fused
    assert [r["skipped_steps"] for r in trainer.history if "skipped_steps" in r] == [0, 1, 0]


def test_skipped_steps_are_counted_per_log_row(fixture_cache, tmp_path, capsys):
    """With several steps per log row, the row counts the window's skipped steps and says which steps."""
    data = tiny_config(fixture_cache, tmp_path, steps=4, dataset="faces", log_every=4)
    data["data"]["val_samples"] = 0
    trainer = _poisoned(Trainer(config_from_dict(data), device="cpu", progress=False), {2, 3})
    assert trainer.fit()["skipped_steps"] == 2
    assert [r["skipped_steps"] for r in trainer.history if "skipped_steps" in r] == [2]
    assert "steps 1-4: 2 non-finite gradient norms, updates skipped" in capsys.readouterr().err


def test_compiled_first_step_says_what_it_cost(fixture_cache, tmp_path, monkeypatch, capsys):
    """The first step of a compiled run logs its time: a timed GPU run spends it compiling."""
    monkeypatch.setattr(torch, "compile", lambda m, **k: m)  # the loop's path, without the compiler's minutes
    data = tiny_config(fixture_cache, tmp_path, steps=2, dataset="faces", compile=True, compile_loss=True)
    assert Trainer(config_from_dict(data), device="cpu", progress=False).fit()["finished"]
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "first step compiled" in ln]
    assert len(lines) == 1 and float(lines[0].split(" in ")[1].split(" s")[0]) > 0


def test_freeze_leaves_the_named_modules_as_loaded(fixture_cache, tmp_path, tiny_checkpoint):
    """model.freeze: a fine-tuning run changes the other modules and leaves the frozen ones (weights and
    BatchNorm statistics) exactly as init_from had them; they are not in the optimizer."""
    from dfrec.errors import ConfigError
    from dfrec.models.dfrec import DFREC

    src = DFREC.from_pretrained(tiny_checkpoint).state_dict()
    data = tiny_config(fixture_cache, tmp_path / "a", steps=2, dataset="faces")
    data["model"].update(init_from=str(tiny_checkpoint), freeze=["sirm"])
    trainer = Trainer(config_from_dict(data), device="cpu", progress=False)
    trainer.fit()
    got = DFREC.from_pretrained(tmp_path / "a" / "model").state_dict()
    sirm = [k for k in src if k.startswith("sirm.")]
    assert sirm and all(torch.equal(got[k], src[k]) for k in sirm)
    assert any(not torch.equal(got[k], src[k]) for k in src if k.startswith("tirm."))
    in_optim = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_optim for p in trainer.model.sirm.parameters())
    bad = tiny_config(fixture_cache, tmp_path / "b", steps=1, dataset="faces")
    bad["model"]["freeze"] = ["sirn"]
    with pytest.raises(ConfigError, match="sirn"):
        Trainer(config_from_dict(bad), device="cpu", progress=False)._setup()
