"""Patch-recovery loss: MAE patch layout, zero for exact predictions, grows with error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dfrec.losses.patch import patch_loss
from dfrec.models.masking import gather_patches, patchify


def _masked(target: torch.Tensor, n_masked: int = 98, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randperm(196, generator=g)[:n_masked] for _ in range(target.shape[0])])
    return gather_patches(patchify(target, 16), idx), idx


def test_zero_for_exact_prediction_and_equals_mse(fixture_faces):
    target = torch.cat([fixture_faces["obama"], fixture_faces["biden"]])
    pred, idx = _masked(target)
    assert patch_loss(pred, idx, target).item() == 0.0
    noisy = (pred + 0.1 * torch.randn_like(pred)).clamp(0, 1)
    assert patch_loss(noisy, idx, target).item() == pytest.approx(F.mse_loss(noisy, pred).item(), rel=1e-6)
    # a prediction copied from another person's face is much worse than mild noise
    other = gather_patches(patchify(target.flip(0), 16), idx)
    assert patch_loss(other, idx, target) > 3 * patch_loss(noisy, idx, target)


def test_only_masked_patches_count_and_gradient():
    target = torch.rand(1, 3, 224, 224)
    pred, idx = _masked(target)
    changed = target.clone()
    unmasked = sorted(set(range(196)) - set(idx[0].tolist()))[0]
    r, c = divmod(unmasked, 14)
    changed[:, :, 16 * r:16 * r + 16, 16 * c:16 * c + 16] = 0  # edit a visible patch only
    assert patch_loss(pred, idx, changed).item() == 0.0
    p = pred.clone().requires_grad_(True)
    patch_loss(p + 0.05, idx, target).backward()
    assert p.grad.abs().sum() > 0


def test_shape_errors():
    with pytest.raises(ValueError):
        patch_loss(torch.rand(1, 98, 768), torch.zeros(1, 97, dtype=torch.long), torch.rand(1, 3, 224, 224))
    with pytest.raises(ValueError):
        patch_loss(torch.rand(1, 98, 700), torch.zeros(1, 98, dtype=torch.long), torch.rand(1, 3, 224, 224))
