"""benchmarks/train_step_breakdown.py's rows: every loss setting it times is a valid objective
for every shipped config (a term that needs another, like identity separation, rides with it)."""

from __future__ import annotations

import pytest
from repo_scripts import ROOT, load_script


def _breakdown():
    return load_script("benchmarks/train_step_breakdown.py")


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_row_is_a_valid_objective(config):
    from dfrec.losses.total import NEEDS_IDENTITY, LossConfig
    from dfrec.train.config import load_config

    cfg = load_config(ROOT / "configs" / config)
    rows = _breakdown().loss_variants(dict(cfg.loss))
    names = [n for n, _ in rows]
    assert names[0] == "model + AdamW + classification" and names[-1] == "full loss"
    assert len(set(names)) == len(names)
    for name, kw in rows:
        LossConfig(**kw)  # raises ConfigError for an invalid combination
    full = rows[-1][1]
    assert all(full[k] == v for k, v in cfg.loss.items() if k.startswith("lambda_"))
    # one row per weighted term besides classification (separation shares the identity row)
    weighted = [k for k, v in full.items() if k.startswith("lambda_") and v and k != "lambda_cls" and k not in NEEDS_IDENTITY]
    assert len(rows) == len(weighted) + 2
    if full.get("lambda_sep"):
        assert any("separation" in n for n in names)
