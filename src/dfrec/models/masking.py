"""Semantic-guided masking: which MAE patches the TIRM hides, chosen from the ISM map ``m``.

Three variants, all returning ``(idx_keep (N, K), idx_mask (N, L-K))`` long tensors of patch
indices in raster order (row-major over the ``grid x grid`` patches):

* ``paper`` — Algorithm 1 of the DFREC paper: weight = patch mean of ``m`` (in [0, 1]);
  weights < 0.5 are replaced by U[0, 0.1); the ``L-K`` highest weights are masked. Patches
  the ISM marks as source are therefore masked first; with an untrained ISM the choice is
  random. ``idx_keep`` is sorted ascending (raster order).
* ``released`` — the authors' released inference code: weight = patch *sum* of ``m``
  (0..p*p); if an image's mean patch sum is >= ``threshold`` (250 for 16x16) every weight is
  U[0, 1); otherwise sums <= ``low`` (50) become U[0, 1). An ascending argsort keeps the
  ``K`` lowest and masks the rest; ``idx_keep`` stays in that argsort order (the order the
  authors' fusion rows were trained with).

* ``map`` — the map itself decides, consistently in training and inference: weight = patch
  mean of ``m`` plus ``noise`` x U[0, 1) (a small jitter that breaks ties and, in training,
  varies the top-up); the ``L-K`` highest are masked. The source region is masked first
  and the remaining masked patches are those nearest to it in map value (its border),
  never random background patches while the map is informative.

``idx_mask`` is always returned sorted ascending. Randomness comes from ``generator`` (a
``torch.Generator`` on ``m``'s device) so results are reproducible under a seed.
"""

from __future__ import annotations

import torch


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Split ``(N, C, H, W)`` into ``(N, L, p*p*C)`` patches in raster order, pixels (p, q, c) inside.

    The same layout as MAE / lightly (``nchpwq -> nhwpqc``), so predictions of the
    authors' MAE head line up.
    """
    n, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
    x = images.reshape(n, c, h // p, p, w // p, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(N, L, p*p*C)`` -> ``(N, C, H, W)`` for a square grid."""
    n, length, _ = patches.shape
    p = patch_size
    g = int(round(length**0.5))
    if g * g != length:
        raise ValueError(f"{length} patches do not form a square grid")
    x = patches.reshape(n, g, g, p, p, channels)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, channels, g * p, g * p)


def gather_patches(patches: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows of ``patches (N, L, D)`` at ``indices (N, M)`` (long, raster order) -> ``(N, M, D)``."""
    return torch.gather(patches, 1, indices.long().unsqueeze(-1).expand(-1, -1, patches.shape[-1]))


def _rand(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device, dtype=torch.float32)


def paper_weights(mask: torch.Tensor, patch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1 weights ``(N, L)``: patch means of ``mask`` (N, 1, H, W) in [0, 1]; < 0.5 -> U[0, 0.1)."""
    w = patchify(mask.float(), patch_size).mean(dim=2)
    noise = _rand(tuple(w.shape), w, generator) * 0.1
    return torch.where(w < 0.5, noise, w)


def released_weights(
    mask: torch.Tensor,
    patch_size: int,
    threshold: float = 250.0,
    low: float = 50.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The released code's weights ``(N, L)``: patch sums; random for near-full maps or sums <= ``low``.

    ``threshold`` and ``low`` are given for a 16x16 patch (sum range 0..256) and scaled by
    ``patch_size**2 / 256``.
    """
    scale = patch_size**2 / 256.0
    w = patchify(mask.float(), patch_size).sum(dim=2)
    noise = _rand(tuple(w.shape), w, generator)
    full = (w.mean(dim=1, keepdim=True) >= threshold * scale).expand_as(w)
    return torch.where(full | (w <= low * scale), noise, w)


def map_weights(mask: torch.Tensor, patch_size: int, noise: float = 1e-3,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``map`` variant weights ``(N, L)``: patch means of ``mask`` (N, 1, H, W) in [0, 1] plus ``noise``·U[0, 1)."""
    w = patchify(mask.float(), patch_size).mean(dim=2)
    return w + _rand(tuple(w.shape), w, generator) * noise


def semantic_mask(
    mask: torch.Tensor,
    patch_size: int,
    mask_ratio: float = 0.5,
    variant: str = "paper",
    generator: torch.Generator | None = None,
    threshold: float = 250.0,
    low: float = 50.0,
    noise: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose patches to mask from the ISM map ``mask`` ``(N, 1, H, W)`` in [0, 1].

    Returns ``(idx_keep (N, K), idx_mask (N, L-K))`` with ``K = int(L * (1 - mask_ratio))``;
    exactly ``L - K`` patches are masked. See the module docstring for the variants;
    ``noise`` is the ``map`` variant's jitter.
    """
    n_patches = (mask.shape[-2] // patch_size) * (mask.shape[-1] // patch_size)
    n_keep = int(n_patches * (1.0 - mask_ratio))
    with torch.no_grad():
        if variant in ("paper", "map"):
            w = paper_weights(mask, patch_size, generator) if variant == "paper" else map_weights(mask, patch_size, noise, generator)
            order = torch.argsort(w, dim=1, descending=True, stable=True)
            idx_mask, idx_keep = order[:, : n_patches - n_keep], order[:, n_patches - n_keep :]
            idx_keep = idx_keep.sort(dim=1).values
        elif variant == "released":
            w = released_weights(mask, patch_size, threshold, low, generator)
            order = torch.argsort(w, dim=1, stable=True)
            idx_keep, idx_mask = order[:, :n_keep], order[:, n_keep:]
        else:
            raise ValueError(f"unknown masking variant {variant!r} (use 'paper', 'released' or 'map')")
    return idx_keep, idx_mask.sort(dim=1).values
