"""Config system: YAML -> dataclasses, overrides, and one-line errors naming the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfrec.errors import ConfigError
from dfrec.train.config import Config, config_from_dict, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.data.image_size == 224
    # the paper's optimiser (weight decay everywhere; lr 1e-4 in the paper-setting configs,
    # while tiny/CPU configs may use a larger lr to learn within their short budgets)
    assert cfg.optim.weight_decay == pytest.approx(1e-5)
    if path.name in ("small_lfw.yaml", "paper_lfw.yaml", "official_megafs.yaml", "paper_ffpp.yaml"):
        assert cfg.optim.lr == pytest.approx(1e-4)
    preset = path.name.split("_")[0]
    assert cfg.model.preset == preset


def test_paper_settings_in_paper_configs():
    for name in ("paper_lfw.yaml", "official_megafs.yaml", "paper_ffpp.yaml"):
        cfg = load_config(CONFIGS / name)
        o = cfg.model.overrides
        assert (o["image_size"], o["patch_size"], o["mask_ratio"]) == (224, 16, 0.5)


def test_overrides_and_types(tmp_path):
    cfg = load_config(
        CONFIGS / "tiny_lfw.yaml",
        ["optim.lr=3e-4", "train.ema.enabled=true", "data.batch_size=2", "optim.betas=[0.8, 0.9]", "model.overrides.mask_ratio=0.25"],
    )
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.train.ema.enabled is True
    assert cfg.data.batch_size == 2
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.model.overrides["mask_ratio"] == 0.25
    # round trip through YAML gives the same config
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number"),
        ({"optim": {"lrr": 1e-4}}, "optim.lrr: unknown key"),
        ({"train": {"ema": {"decay": "x"}}}, "train.ema.decay: expected a number"),
        ({"train": {"ema": {"on": True}}}, "train.ema.on: unknown key"),
        ({"train": {"steps": 1.5}}, "train.steps: expected an integer"),
        ({"train": {"compile": "yes"}}, "train.compile: expected true/false"),
        ({"optim": {"schedule": "step"}}, "optim.schedule: expected one of"),
        ({"optim": {"betas": [0.9]}}, "optim.betas: expected 2 values"),
        ({"data": {"batch_size": 0}}, "data.batch_size: must be >= 2"),
        ({"data": {"batch_size": 1}}, "data.batch_size: must be >= 2 (the models' BatchNorm"),
        ({"train": {"micro_batch_size": 1}}, "train.micro_batch_size: must be >= 2"),
        ({"data": {"batch_size": 8}, "train": {"micro_batch_size": 3}}, "train.micro_batch_size: must divide data.batch_size (8)"),
        ({"bogus": {}}, "bogus: unknown key"),
        ({"data": 3}, "data: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data)
    assert str(e.value).startswith(message), str(e.value)


def test_bad_override_and_files(tmp_path):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_from_dict({}, ["optim.lr"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lr: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_loss_section_validated_against_loss_config():
    from dfrec.train.components import loss_config

    cfg = config_from_dict({"loss": {"lambda_id": 1.0, "vgg19_weights": None}})
    assert loss_config(cfg).lambda_id == 1.0
    with pytest.raises(ConfigError, match=r"^loss\.lambda_idd: unknown key"):
        loss_config(config_from_dict({"loss": {"lambda_idd": 1.0}}))
    with pytest.raises(ConfigError, match=r"^loss\.lambda_id: expected a number"):
        loss_config(config_from_dict({"loss": {"lambda_id": "big"}}))
