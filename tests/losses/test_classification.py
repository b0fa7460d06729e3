"""ISM classification loss: BCE-with-logits against is_fake."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dfrec.losses.classification import classification_loss


def test_matches_bce_and_orders_predictions():
    is_fake = torch.tensor([1.0, 0.0, 1.0, 0.0])
    right = torch.tensor([4.0, -4.0, 3.0, -2.0])
    assert classification_loss(torch.zeros(4), is_fake).item() == pytest.approx(math.log(2), abs=1e-6)
    assert torch.allclose(classification_loss(right, is_fake), F.binary_cross_entropy(torch.sigmoid(right), is_fake), atol=1e-6)
    assert classification_loss(right, is_fake) < 0.1 < classification_loss(-right, is_fake)
    per = classification_loss(right, is_fake, reduction="none")
    assert per.shape == (4,) and per.argmax() == 3  # the least confident correct answer costs most


def test_pos_weight_and_gradient():
    is_fake = torch.tensor([1.0, 0.0])
    logit = torch.zeros(2, requires_grad=True)
    base = classification_loss(logit, is_fake)
    weighted = classification_loss(logit, is_fake, pos_weight=3.0)
    assert weighted > base
    weighted.backward()
    assert logit.grad[0] < 0 < logit.grad[1]  # pushes the fake up and the real down

