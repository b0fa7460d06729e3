"""scripts/average_models.py: the weights of two models of one architecture averaged, the score branch
kept from the first; models that do not average are refused with the reason."""

from __future__ import annotations

import json

import pytest
import torch
from repo_scripts import load_script


@pytest.fixture
def other(tiny_checkpoint, tmp_path):
    """The tiny model with every weight moved at random (another state of the same lineage)."""
    from dfrec.models import DFREC

    model = DFREC.from_pretrained(tiny_checkpoint)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "other")
    return tmp_path / "other"


def test_average_is_the_mean_of_the_two(tiny_checkpoint, other, tmp_path):
    from dfrec.models import DFREC

    avg = load_script("scripts/average_models.py")
    assert avg.main([str(tiny_checkpoint), str(other), "--weight", "0.25", "--out", str(tmp_path / "soup")]) == 0
    a, b, soup = (DFREC.from_pretrained(p).state_dict() for p in (tiny_checkpoint, other, tmp_path / "soup"))
    for k, v in soup.items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.75 * a[k] + 0.25 * b[k], atol=1e-6), k
        else:
            assert torch.equal(v, a[k]), k
    doc = json.loads((tmp_path / "soup" / "config.json").read_text())
    entry = doc["metadata"]["history"][-1]
    assert entry["minutes"] == 0 and "0.75 x" in entry["run"] and "averaged" in doc["metadata"]["status"]


def test_the_score_branch_is_kept_from_the_first(tiny_checkpoint, other, tmp_path):
    from dfrec.models import DFREC

    first = DFREC.from_pretrained(tiny_checkpoint)
    first.add_score_branch()
    first.save_pretrained(tmp_path / "first")
    avg = load_script("scripts/average_models.py")
    avg.average(tmp_path / "first", other, tmp_path / "soup")
    soup, a = (DFREC.from_pretrained(p).state_dict() for p in (tmp_path / "soup", tmp_path / "first"))
    branch = [k for k in soup if k.startswith("scorer.")]
    assert branch and all(torch.equal(soup[k], a[k]) for k in branch)
    assert any(not torch.equal(soup[k], a[k]) for k in soup if k.startswith("tirm.") and soup[k].is_floating_point())


def test_settings_without_tensors_may_differ_and_are_recorded(tiny_checkpoint, other, tmp_path):
    from dfrec.models import DFREC

    b = DFREC.from_pretrained(other, overrides={"antialias": True})
    b.save_pretrained(tmp_path / "b")
    avg = load_script("scripts/average_models.py")
    avg.average(tiny_checkpoint, tmp_path / "b", tmp_path / "soup")
    soup = DFREC.from_pretrained(tmp_path / "soup")
    assert soup.config.antialias == DFREC.from_pretrained(tiny_checkpoint).config.antialias  # A's
    assert "A's settings kept: antialias False (B: True)" in soup.checkpoint_metadata["history"][-1]["run"]


def test_models_that_do_not_average_are_refused(tiny_checkpoint, other, tmp_path):
    from dfrec.models import create_model

    avg = load_script("scripts/average_models.py")
    create_model("tiny", ism_encoder="resnet18").save_pretrained(tmp_path / "resnet")
    with pytest.raises(SystemExit, match="ism, sirm, tirm.*differ in [0-9]+ tensors"):
        avg.average(tiny_checkpoint, tmp_path / "resnet", tmp_path / "x")
    with pytest.raises(SystemExit, match="must lie in"):
        avg.average(tiny_checkpoint, other, tmp_path / "x", weight=1.0)
    with pytest.raises(SystemExit, match="choose from"):
        avg.average(tiny_checkpoint, other, tmp_path / "x", parts=("scorer",))
    with pytest.raises(SystemExit):  # --out may not overwrite what it reads
        avg.main([str(tiny_checkpoint), str(other), "--out", str(other)])
