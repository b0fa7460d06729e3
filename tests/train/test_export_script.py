"""scripts/export_default_model.py on a real tiny run: one checkpoint's EMA weights, or the mean
of several checkpoints' (a longer horizon than the EMA's), with the run's metadata."""

from __future__ import annotations

import json

import pytest
import torch

from dfrec.train.config import config_from_dict
from dfrec.train.loop import Trainer
from helpers import model_state, tiny_config
from repo_scripts import load_script


@pytest.fixture(scope="module")
def tiny_run(fixture_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    data = tiny_config(fixture_cache, out, steps=4, dataset="faces", val_every=4, checkpoint_every=2, keep_last=2,
                       ema={"enabled": True, "decay": 0.5})
    Trainer(config_from_dict(data), device="cpu", progress=False, command="pytest").fit()
    return out


def test_export_one_checkpoint_and_the_mean_of_two(tiny_run, tmp_path):
    export = load_script("scripts/export_default_model.py")
    emas = {n: export.checkpoint_weights(tiny_run / "checkpoints" / f"step_{n:08d}", ema=True) for n in (2, 4)}
    assert not torch.equal(emas[2]["tirm.mask_token"], emas[4]["tirm.mask_token"])  # the weights moved

    assert export.main([str(tiny_run), "--ema", "--step", "2", "--dtype", "float32", "--out", str(tmp_path / "one")]) == 0
    one = model_state(tmp_path / "one")
    assert all(torch.equal(one[k], emas[2][k]) for k in one)

    out = tmp_path / "mean"
    out.mkdir()
    (out / "README.md").write_text("kept")  # anything beside the model files survives a re-export
    assert export.main([str(tiny_run), "--ema", "--average", "2", "4", "--dtype", "float32", "--out", str(out)]) == 0
    mean = model_state(out)
    for k, v in mean.items():
        if v.is_floating_point():
            assert torch.allclose(v, (emas[2][k] + emas[4][k]) / 2, atol=1e-6), k
    assert (out / "README.md").read_text() == "kept" and not (tmp_path / "mean.tmp").exists()
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["checkpoint_step"] == 4 and "mean of steps [2, 4]" in meta["weights"]


def test_export_names_missing_checkpoints(tiny_run, tmp_path, capsys):
    export = load_script("scripts/export_default_model.py")
    assert export.main([str(tiny_run), "--average", "2", "6", "--out", str(tmp_path / "x")]) == 1
    assert "not all of [2, 6]" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_history_of_a_resumed_run_counts_only_the_new_steps(tiny_run, tmp_path):
    """A run that resumed the checkpoint an earlier export came from: ``--since-step`` makes the
    new history entry hold only the steps after it (else the earlier entry's are counted twice)."""
    export = load_script("scripts/export_default_model.py")
    early, late = tmp_path / "early", tmp_path / "late"
    assert export.main([str(tiny_run), "--ema", "--step", "2", "--out", str(early)]) == 0
    assert export.main([str(tiny_run), "--ema", "--step", "4", "--history-from", str(early), "--since-step", "2",
                        "--out", str(late)]) == 0
    m_early = json.loads((early / "config.json").read_text())["metadata"]
    m_late = json.loads((late / "config.json").read_text())["metadata"]
    *prev, last = m_late["history"]
    assert prev == m_early["history"]
    assert last["steps"] == 2 and last["images"] == 2 * 2 and last["resumed_at_step"] == 2  # batch 2
    assert last["minutes"] == pytest.approx(m_late["train_minutes"] - m_early["train_minutes"], abs=2e-3)
    # an earlier model exported at another step cannot be the start
    assert export.main([str(tiny_run), "--step", "4", "--history-from", str(early), "--since-step", "3",
                        "--out", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad").exists()


def test_history_entry_of_a_run_without_validation_says_none():
    """A run that never validated (``data.val_samples: 0``) records ``None``, not an empty list;
    one that did records its last validation."""
    export = load_script("scripts/export_default_model.py")
    meta = {"status": "run", "train_minutes": 1.0, "images_seen": 8, "checkpoint_step": 4}
    assert export.training_history(meta | {"validation": []}, None)[-1]["validation"] is None
    rows = [{"step": 2, "val/loss": 2.0}, {"step": 4, "val/loss": 1.0}]
    assert export.training_history(meta | {"validation": rows}, None)[-1]["validation"] == rows[-1]
