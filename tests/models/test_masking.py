"""Semantic-guided masking: exact counts, block-first (Algorithm 1), released variant, determinism."""

from __future__ import annotations

import pytest
import torch

from dfrec.models.masking import gather_patches, patchify, released_weights, semantic_mask, unpatchify

P = 16


def _block_map(n: int = 2, rows: slice = slice(3, 8), cols: slice = slice(4, 10)) -> tuple[torch.Tensor, set[int]]:
    """A (n, 1, 224, 224) map that is 1 on a block of whole patches, 0 elsewhere, and the block's indices."""
    m = torch.zeros(n, 1, 224, 224)
    m[:, :, rows.start * P : rows.stop * P, cols.start * P : cols.stop * P] = 1.0
    block = {r * 14 + c for r in range(rows.start, rows.stop) for c in range(cols.start, cols.stop)}
    return m, block


def test_patchify_roundtrip_and_layout():
    x = torch.rand(2, 3, 224, 224)
    p = patchify(x, P)
    assert p.shape == (2, 196, 768)
    assert torch.equal(unpatchify(p, P), x)
    # patch 15 = row 1, col 1; pixel (p, q, c) order inside
    assert torch.equal(p[0, 15].view(P, P, 3), x[0, :, 16:32, 16:32].permute(1, 2, 0))
    picked = gather_patches(p, torch.tensor([[15, 0], [195, 15]]))
    assert torch.equal(picked[0, 0], p[0, 15]) and torch.equal(picked[1, 0], p[1, 195])


@pytest.mark.parametrize("variant", ["paper", "released"])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.25])
def test_exactly_ratio_n_masked(variant, ratio):
    m = torch.rand(3, 1, 224, 224)
    keep, idx = semantic_mask(m, P, ratio, variant, generator=torch.Generator().manual_seed(0))
    n_keep = int(196 * (1 - ratio))
    assert keep.shape == (3, n_keep) and idx.shape == (3, 196 - n_keep)
    for k, i in zip(keep, idx):
        assert len(set(k.tolist()) | set(i.tolist())) == 196  # a partition of the grid
    assert torch.equal(idx, idx.sort(1).values)


def test_paper_masks_the_block_first():
    m, block = _block_map()  # 5 x 6 = 30 patches < 98
    keep, idx = semantic_mask(m, P, 0.5, "paper", generator=torch.Generator().manual_seed(3))
    for row in idx:
        assert block <= set(row.tolist())
    # a block bigger than the budget: every masked patch comes from the block
    big, big_block = _block_map(1, slice(0, 10), slice(0, 12))  # 120 patches > 98
    _, idx = semantic_mask(big, P, 0.5, "paper", generator=torch.Generator().manual_seed(3))
    assert set(idx[0].tolist()) <= big_block


def test_paper_ignores_weak_patches_and_is_random_there():
    m = torch.full((1, 1, 224, 224), 0.3)  # every patch mean < 0.5 -> purely random choice
    a = semantic_mask(m, P, 0.5, "paper", generator=torch.Generator().manual_seed(0))[1]
    b = semantic_mask(m, P, 0.5, "paper", generator=torch.Generator().manual_seed(1))[1]
    assert not torch.equal(a, b)


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_deterministic_under_a_seed(variant):
    m = torch.rand(2, 1, 224, 224) * 0.6
    a = semantic_mask(m, P, 0.5, variant, generator=torch.Generator().manual_seed(7))
    b = semantic_mask(m, P, 0.5, variant, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_released_variant_rules():
    m, block = _block_map(1)
    keep, idx = semantic_mask(m, P, 0.5, "released", generator=torch.Generator().manual_seed(0))
    assert block <= set(idx[0].tolist())  # sums 256 > 50 stay, ascending sort keeps the low ones
    # nearly full map (mean patch sum >= 250): all weights random in [0, 1)
    w = released_weights(torch.ones(1, 1, 224, 224), P, generator=torch.Generator().manual_seed(0))
    assert w.max() < 1.0 and w.std() > 0.2
    # sums <= 50 become U[0, 1); larger sums are kept as they are
    m2 = torch.zeros(1, 1, 224, 224)
    m2[..., :16, :16] = 0.5  # sum 128
    w2 = released_weights(m2, P, generator=torch.Generator().manual_seed(0))
    assert w2[0, 0] == 128 and (w2[0, 1:] < 1).all()
