"""DFRECLoss: config validation, zero for a perfect recovery, larger for a bad one, gradients
reach every model output, describe() records the networks, and it trains the real model."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision.transforms.functional as TF

from dfrec.errors import ConfigError
from dfrec.losses import DFRECLoss, LossConfig
from dfrec.models.masking import gather_patches, patchify


def _batch(fixture_faces):
    """Two samples: a 'fake' (source obama, target biden) and a real biden (source = target)."""
    o, b = fixture_faces["obama"], fixture_faces["biden"]
    return {"source": torch.cat([o, b]), "target": torch.cat([b, b]), "is_fake": torch.tensor([1.0, 0.0])}


def _outputs(source, target, batch_target, logit, noise=0.0):
    g = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(196, generator=g)[:98] for _ in range(source.shape[0])])
    pred = gather_patches(patchify(batch_target, 16), idx)
    pred = (pred + noise * torch.randn(pred.shape, generator=g)).clamp(0, 1)
    return {"source": source.clone().requires_grad_(True), "target": target.clone().requires_grad_(True),
            "logit": logit.clone().requires_grad_(True), "pred_patches": pred.requires_grad_(True),
            "mask_indices": idx}


def test_config_validation():
    cfg = LossConfig.from_dict({"lambda_perc": 1.0, "perceptual": "efficientnet_lite0"})
    assert cfg.lambda_perc == 1.0 and cfg.lambda_id == 2.0
    assert LossConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="lambda_typo"):
        LossConfig.from_dict({"lambda_typo": 1})
    with pytest.raises(ConfigError):
        LossConfig.from_dict({"lambda_id": -1})
    with pytest.raises(ConfigError):
        LossConfig.from_dict({"perceptual": "vgg19"})  # no weights file given
    with pytest.raises(ConfigError):
        LossConfig.from_dict({"attribute_beta": 0})
    with pytest.raises(ConfigError, match="not found"):  # a missing weights copy is named
        DFRECLoss({"lambda_id": 0, "efficientnet_lite0_weights": "/nonexistent/efficientnet-lite0.pth"})


def test_zero_weights_skip_networks():
    loss_fn = DFRECLoss({"lambda_id": 0, "lambda_perc": 0, "lambda_attr": 0})
    assert loss_fn.identity is None and loss_fn.perceptual is None and loss_fn.attribute is None
    x = torch.rand(2, 3, 224, 224)
    total, parts = loss_fn(_outputs(x, x, x, torch.tensor([3.0, -3.0])), {"target": x, "is_fake": torch.tensor([1.0, 0.0])})
    assert set(parts) == {"patch", "cls", "total"}
    assert total.item() == pytest.approx(0.5 * parts["cls"].item(), rel=1e-6)
    with pytest.raises(ConfigError):
        DFRECLoss({"lambda_id": 0, "lambda_perc": 0, "lambda_attr": 0, "lambda_patch": 0, "lambda_cls": 0})


def test_perfect_recovery_costs_nothing_and_bad_recovery_costs_more(loss_fn, fixture_faces):
    batch = _batch(fixture_faces)
    good = _outputs(batch["source"], batch["target"], batch["target"], torch.tensor([8.0, -8.0]))
    with torch.no_grad():
        total, parts = loss_fn(good, batch)
    for k in ("id", "perc", "attr", "patch"):
        assert parts[k].item() == pytest.approx(0.0, abs=1e-4), k
    assert parts["cls"].item() < 1e-3
    # bad: the recovered faces are blurred and swapped, patches noisy, the head undecided
    bad = _outputs(TF.gaussian_blur(batch["target"], 9, 3.0), TF.gaussian_blur(batch["source"], 9, 3.0),
                   batch["target"], torch.zeros(2), noise=0.2)
    total_bad, parts_bad = loss_fn(bad, batch)
    for k in ("id", "perc", "attr", "patch", "cls"):
        assert parts_bad[k] > parts[k] + 1e-3, k
    c = loss_fn.config
    want = sum(getattr(c, f"lambda_{k}") * parts_bad[k] for k in ("id", "perc", "attr", "patch", "cls"))
    assert total_bad.item() == pytest.approx(want.item(), rel=1e-5)
    total_bad.backward()
    for k in ("source", "target", "logit", "pred_patches"):
        assert bad[k].grad is not None and bad[k].grad.abs().sum() > 0, k


def test_describe_records_the_networks(loss_fn):
    d = loss_fn.describe()
    json.dumps(d)  # goes into configs and checkpoints
    assert d["perceptual"]["backbone"] == "efficientnet_lite0"
    assert d["attribute"]["name"] == "appearance" and d["config"]["lambda_patch"] == 2.0
    assert "dlib" in d["identity"]["network"]


def test_trains_the_real_model(loss_fn, fixture_faces):
    """One optimiser step of the tiny DFREC preset: gradients reach ISM, SIRM and TIRM."""
    from dfrec.models import create_model

    torch.manual_seed(0)
    model = create_model("tiny", pretrained_init=False)
    batch = _batch(fixture_faces)  # batch 2: the ISM's batch norm needs more than one sample
    batch["forgery"] = batch["target"]
    out = model(batch["forgery"])
    total, parts = loss_fn(out, batch)
    assert torch.isfinite(total) and set(parts) >= {"id", "perc", "attr", "patch", "cls"}
    total.backward()
    for part in ("ism", "sirm", "tirm"):
        mod = getattr(model, part)  # an AttributeError here means the model was renamed: fail, not pass
        grads = [p.grad.abs().sum() for p in mod.parameters() if p.grad is not None]
        assert grads and sum(grads) > 0, part
