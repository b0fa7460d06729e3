"""scripts/graft_score_branch.py: a model keeps its map and recovered faces and takes another
model's fake score, bit for bit; a donor without a branch, or one that does not fit, is refused."""

from __future__ import annotations

import json

import pytest
import torch
from repo_scripts import load_script


@pytest.fixture
def donor(tiny_checkpoint, tmp_path):
    """The tiny model with a score branch trained away from its ISM (weights moved at random)."""
    from dfrec.models import DFREC

    model = DFREC.from_pretrained(tiny_checkpoint)
    model.add_score_branch()
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.scorer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "donor", dtype="float16")
    return tmp_path / "donor"


def test_graft_keeps_the_recovery_and_takes_the_score(tiny_checkpoint, donor, tmp_path):
    from dfrec.models import DFREC

    graft = load_script("scripts/graft_score_branch.py")
    assert graft.main([str(tiny_checkpoint), "--from", str(donor), "--out", str(tmp_path / "out")]) == 0
    out, cand, giver = (DFREC.from_pretrained(p).eval() for p in (tmp_path / "out", tiny_checkpoint, donor))
    x = torch.rand(2, 3, cand.config.image_size, cand.config.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(0)
        a = out(x)
        torch.manual_seed(0)
        b = cand(x)
        assert torch.equal(out.score(x), giver.score(x))  # the donor's score, bit for bit
        assert not torch.equal(out.score(x), cand.score(x))
        for k in ("mask", "source", "target"):  # the candidate's recovery, untouched
            assert torch.equal(a[k], b[k]), k
    doc = json.loads((tmp_path / "out" / "config.json").read_text())
    assert doc["storage_dtype"] == "float32"  # stored as the candidate is
    entry = doc["metadata"]["history"][-1]
    assert entry["minutes"] == 0 and "donor" in entry["run"] and "grafted" in doc["metadata"]["status"]


def test_graft_refuses_a_donor_without_a_branch_and_a_branch_that_does_not_fit(tiny_checkpoint, donor, tmp_path):
    from dfrec.models import create_model

    graft = load_script("scripts/graft_score_branch.py")
    with pytest.raises(SystemExit, match="no score branch"):
        graft.graft(donor, tiny_checkpoint, tmp_path / "a")
    other = tmp_path / "other"  # an ISM of another encoder: the branch's tensors have other names and shapes
    create_model("tiny", ism_encoder="resnet18").save_pretrained(other)
    with pytest.raises(SystemExit, match="does not fit"):
        graft.graft(other, donor, tmp_path / "a")
    with pytest.raises(SystemExit):  # --out may not overwrite what it reads
        graft.main([str(tiny_checkpoint), "--from", str(donor), "--out", str(tiny_checkpoint)])
    assert not (tmp_path / "a").exists()
