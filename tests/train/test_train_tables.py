"""scripts/train_tables.py: the paper's tables that need training (one forgery kind vs all,
loss ablation). Rows are valid runs for every shipped config; a table runs end to end, keeps
finished rows, and scores a finished run again instead of retraining it."""

from __future__ import annotations

import json

import pytest
from repo_scripts import ROOT, load_script


def _tables():
    return load_script("scripts/train_tables.py")


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_rows_are_valid_runs_of_every_config(config):
    from dfrec.data.synth import SynthConfig
    from dfrec.losses.total import LossConfig
    from dfrec.train.config import load_config

    mod, path = _tables(), ROOT / "configs" / config
    losses = mod.table_rows("losses", path, [])
    assert [n for n, _ in losses] == [n for n, _ in mod.LOSS_STEPS]
    assert losses[-1][1] == []  # the last row is the config's own objective
    for name, sets in losses:
        kw = dict(load_config(path, sets).loss)
        LossConfig(**kw)  # a valid objective (raises ConfigError otherwise)
        if name == "identity only":
            assert kw.get("lambda_id", 2.0) > 0 and not any(kw.get(k) for k in ("lambda_perc", "lambda_attr", "lambda_patch"))
    kinds = mod.table_rows("kinds", path, [])
    assert [n for n, _ in kinds][:3] == ["swaps only", "blends only", "self-swaps only"] and kinds[3][1] == []
    full = SynthConfig.from_dict(dict(load_config(path).data.synth)).kinds
    for (name, sets), kind in zip(kinds, ("swap", "blend", "self")):
        mix = SynthConfig.from_dict(dict(load_config(path, sets).data.synth)).kinds
        assert {k for k, w in mix.items() if w > 0} <= {kind, "real"}
        assert mix.get("real", 0) / sum(mix.values()) == pytest.approx(full.get("real", 0) / sum(full.values()))


def test_losses_table_end_to_end_keeps_and_reuses_rows(lfw_cache, tmp_path, tiny_checkpoint):
    mod = _tables()
    out = tmp_path / "t"
    args = ["losses", "--minutes", "5", "--out", str(out), "--config", str(ROOT / "configs" / "tiny_lfw.yaml"),
            "--init", str(tiny_checkpoint), "--cache", str(lfw_cache), "--n", "2", "--device", "cpu", "--rows", "1,4",
            "--set", "train.steps=2", "--set", "data.val_samples=0", "--set", "train.log_every=1"]
    assert mod.main(args) == 0
    doc = json.loads((out / "losses.json").read_text())
    assert [r["name"] for r in doc["rows"]] == ["start (" + str(tiny_checkpoint) + ", no training)", "identity only",
                                               "+ attribute (full)"]
    for r in doc["rows"]:
        assert set(r["scores"]) == set(mod.TEST_SETS["losses"])
        assert -1 <= r["scores"]["swap"]["idsim_target"] <= 1
    ident = doc["rows"][1]
    assert ident["steps"] == 2 and "loss.lambda_perc=0" in ident["sets"] and "--set loss.lambda_attr=0" in ident["command"]
    assert "identity only" in (out / "losses.md").read_text()
    # the two rows trained different objectives from the same start
    a = (out / "runs" / "identity_only" / "model").glob("*.safetensors")
    assert next(a).exists()
    # again: finished runs are scored, not retrained (same scores, no new checkpoint)
    mtime = (out / "runs" / "identity_only" / "model" / "config.json").stat().st_mtime
    assert mod.main(args) == 0
    again = json.loads((out / "losses.json").read_text())
    assert again["rows"][1]["scores"] == ident["scores"]
    assert (out / "runs" / "identity_only" / "model" / "config.json").stat().st_mtime == mtime
    # a deadline that leaves no time to train: finished rows are still scored, the others not
    # started, and the table says so
    assert mod.main(args + ["--rows", "1,2", "--deadline-min", "0.5"]) == 1  # the last --rows wins
    late = json.loads((out / "losses.json").read_text())
    assert late["rows"][1]["scores"] == ident["scores"] and late["rows"][2] == {
        "name": "+ patch", "sets": ["loss.lambda_perc=0", "loss.lambda_attr=0"], "skipped": "deadline"}
    assert "not run (deadline)" in (out / "losses.md").read_text()


def test_shown_commands_leave_out_the_device_calls_temporary_weights(tmp_path):
    """A row's command is shown as ``python -m dfrec ...`` from the repository root, without the
    --set pairs naming files in a temporary folder (device_env.sh's unpacked loss weights, removed
    when the call ends), so that it still runs, with the default weights, where it is read."""
    import os
    import sys
    import tempfile

    mod = _tables()
    unpacked = tempfile.mkdtemp(prefix="dfrec-device.")
    cmd = [sys.executable, "-m", "dfrec", "train", "--config", str(ROOT / "configs" / "small_lfw_gpu.yaml"),
           "--set", f"loss.identity_weights={unpacked}/identity.safetensors", "--set", "train.max_minutes=1",
           "--set", f"loss.efficientnet_lite0_weights={unpacked}/efficientnet-lite0-trunk.pth",
           "--set", f"data.cache={ROOT / '.device' / 'pack'}"]
    assert mod.shown_command(cmd) == ["python", "-m", "dfrec", "train", "--config", "configs/small_lfw_gpu.yaml",
                                      "--set", "train.max_minutes=1", "--set", "data.cache=.device/pack"]
    os.rmdir(unpacked)
