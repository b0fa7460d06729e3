"""The score branch (``score_branch: true``): a real/fake classifier with its own copy of the ISM's
encoder and head, so the score can learn without moving the map or the recovered faces."""

from __future__ import annotations

import pytest
import torch

from dfrec.errors import ConfigError
from dfrec.models import DFREC, create_model
from dfrec.models.config import DFRECConfig


def _tiny(**kw) -> DFREC:
    torch.manual_seed(0)
    return create_model("tiny", pretrained_init=False, **kw).eval()


def _x(n: int = 2, size: int = 224) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def _run(model: DFREC, x: torch.Tensor) -> dict:
    with torch.no_grad():
        return model(x, generator=torch.Generator().manual_seed(1))


def test_added_branch_scores_and_recovers_as_the_model_did():
    model = _tiny()
    x = _x(size=model.config.image_size)
    before = _run(model, x)
    assert "ism_logit" not in before
    n = model.add_score_branch()
    assert n == len(model.ism.net.encoder.state_dict()) + len(model.ism.net.classification_head.state_dict())
    assert model.config.score_branch and model.add_score_branch() == 0  # once only
    after = _run(model, x)
    torch.testing.assert_close(after["logit"], before["logit"], rtol=0, atol=1e-6)
    torch.testing.assert_close(after["ism_logit"], before["logit"], rtol=0, atol=0)
    for k in ("target", "source", "mask"):
        assert torch.equal(after[k], before[k]), k
    assert torch.equal(model.score(x), after["logit"])


def test_the_branch_has_weights_of_its_own():
    """Moving the branch moves the logit and nothing else: the ISM head's logit, map and faces stay."""
    model = _tiny()
    model.add_score_branch()
    x = _x(size=model.config.image_size)
    before = _run(model, x)
    with torch.no_grad():
        model.scorer.head[3].bias += 2.0
    after = _run(model, x)
    torch.testing.assert_close(after["logit"], before["logit"] + 2.0)
    for k in ("ism_logit", "target", "source", "mask"):
        assert torch.equal(after[k], before[k]), k


def test_branch_round_trips_through_a_checkpoint(tmp_path):
    model = _tiny()
    model.add_score_branch()
    with torch.no_grad():
        model.scorer.head[3].bias -= 1.0
    model.save_pretrained(tmp_path / "m")
    again = DFREC.from_pretrained(tmp_path / "m")
    assert again.config.score_branch and again.scorer is not None
    x = _x(size=model.config.image_size)
    assert torch.equal(_run(again, x)["logit"], _run(model, x)["logit"])


def test_old_configs_have_no_branch_and_a_branch_needs_the_ism():
    old = DFRECConfig().to_dict()
    old.pop("score_branch")
    assert DFRECConfig.from_dict(old).score_branch is False
    assert _tiny().scorer is None
    with pytest.raises(ConfigError, match="score_branch needs use_ism"):
        DFRECConfig(use_ism=False, score_branch=True)
    with pytest.raises(ConfigError, match="score_branch needs use_ism"):
        _tiny(use_ism=False).add_score_branch()


def test_a_new_model_with_a_branch_starts_it_as_the_isms_score():
    torch.manual_seed(0)
    model = create_model("tiny", score_branch=True).eval()
    out = _run(model, _x(size=model.config.image_size))
    torch.testing.assert_close(out["logit"], out["ism_logit"], rtol=0, atol=1e-6)


def test_the_loss_trains_both_heads():
    """``cls`` is the branch's BCE, ``cls_ism`` the ISM head's (as before the branch): gradients
    reach the branch and the ISM's head alike."""
    from dfrec.losses import DFRECLoss

    model = _tiny()
    model.add_score_branch()
    model.train()
    s = model.config.image_size
    x = _x(size=s)
    batch = {"source": torch.rand(2, 3, s, s), "target": torch.rand(2, 3, s, s), "is_fake": torch.tensor([1.0, 0.0]),
             "mask": torch.zeros(2, 1, s, s)}
    loss = DFRECLoss({"lambda_id": 0, "lambda_perc": 0, "lambda_attr": 0, "lambda_patch": 1, "lambda_cls": 1})
    total, parts = loss(model(x, generator=torch.Generator().manual_seed(1)), batch)
    assert {"cls", "cls_ism"} <= set(parts)
    total.backward()
    assert model.scorer.head[3].weight.grad.abs().sum() > 0
    assert model.ism.net.classification_head[3].weight.grad.abs().sum() > 0
