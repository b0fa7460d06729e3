"""Paired comparison of two models on the same samples (dfrec.metrics.paired)."""

from __future__ import annotations

import math

import pytest
import torch

from dfrec.metrics import paired_difference


def test_paired_difference_sees_a_small_shift_that_the_means_hide():
    g = torch.Generator().manual_seed(0)
    hardness = torch.rand(96, generator=g) * 0.6            # per-sample spread shared by both models
    old = hardness + 0.01 * torch.randn(96, generator=g)
    new = hardness + 0.01 + 0.01 * torch.randn(96, generator=g)
    p = paired_difference(old, new)
    assert p["n"] == 96 and p["mean"] == pytest.approx(float((new - old).mean()))
    assert p["se"] == pytest.approx(float((new - old).std() / math.sqrt(96)), rel=1e-6)
    assert p["z"] > 4                                       # 0.01 against a spread of ~0.17: still clear
    assert p["higher"] + p["lower"] == pytest.approx(1.0) and p["higher"] > 0.7


def test_paired_difference_drops_undefined_samples_and_checks_shapes():
    old = torch.tensor([0.1, float("nan"), 0.3, 0.5])
    new = torch.tensor([0.2, 0.9, float("nan"), 0.5])
    p = paired_difference(old, new)
    assert p["n"] == 2 and p["mean"] == pytest.approx(0.05)
    assert paired_difference(torch.tensor([0.2, 0.4]), torch.tensor([0.2, 0.4]))["z"] == 0.0
    assert paired_difference(torch.tensor([0.25, 0.5]), torch.tensor([0.5, 0.75]))["z"] == math.inf  # exact in binary
    assert math.isnan(paired_difference(torch.tensor([0.2]), torch.tensor([0.3]))["se"])
    assert paired_difference(torch.tensor([float("nan")]), torch.tensor([0.3]))["n"] == 0
    with pytest.raises(ValueError, match="same samples"):
        paired_difference(torch.zeros(3), torch.zeros(4))
