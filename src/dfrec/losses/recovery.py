"""Losses on what the recovery pipeline produces besides faces: the ISM map, the composed
target image, and how far the recovered target stays from the source's identity.

* :func:`map_loss` — binary cross-entropy of the ISM map against the synthesiser's true
  source mask (the paper lets BI masks "aid the segmentation"; our synthesiser knows the
  mask of every forgery, 0 everywhere for real faces).
* :func:`pixel_loss` — L1 between the recovered (composed) target and the true target over
  the whole crop: it sees across the MAE's patch borders and the composite's seam, which
  the per-patch L2 never does.
* :func:`gradient_loss` — mean squared error between the horizontal and vertical pixel
  differences of the recovered (composed) target and the true target. Squared, so a step
  (at a 16-px patch border of independently predicted patches, or at the composite's seam)
  costs far more than the same change spread smoothly; an L1 on differences (total
  variation) would charge both alike, and the plain pixel L1 charges a patch offset only by
  its area.
* :func:`border_loss` — mean absolute error of the neighbour differences across the 16-px
  patch borders only (recovered vs true target): the steps that read as a patch grid,
  without charging the texture inside the patches, which the model cannot match anyway.
* :func:`separation_loss` — for forgeries whose source and target are different people,
  how much more the recovered target resembles the source than the true target does
  (hinge on IDSim, the centred cosine of dlib embeddings), or, as a triplet, than it
  resembles the true target: the recovered target of a swap must not carry the source's
  identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def map_loss(pred: torch.Tensor, true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """BCE of the ISM map ``pred (N, 1, H, W)`` in [0, 1] against ``true (N, 1, H, W)`` in [0, 1].

    Computed in float32 outside autocast (probabilities clamped to [1e-6, 1 - 1e-6]).
    Scalar or ``(N,)`` with ``reduction="none"``; 0 only when both are the same binary map.
    """
    if pred.shape != true.shape:
        raise ValueError(f"map {tuple(pred.shape)} and true mask {tuple(true.shape)} disagree")
    with torch.autocast(device_type=pred.device.type, enabled=False):
        p = pred.float().clamp(1e-6, 1.0 - 1e-6)
        err = F.binary_cross_entropy(p, true.float().clamp(0.0, 1.0), reduction="none").flatten(1).mean(1)
    return err.mean() if reduction == "mean" else err


def pixel_loss(recovered: torch.Tensor, true: torch.Tensor, reduction: str = "mean", lowpass: int = 1) -> torch.Tensor:
    """Mean absolute error of images ``(N, 3, H, W)`` in [0, 1]: scalar or ``(N,)``. With
    ``lowpass`` k > 1 both images are first averaged over k x k blocks (224 -> 28 at k = 8),
    so only colour and shading count, not the features that carry identity."""
    if recovered.shape != true.shape:
        raise ValueError(f"images {tuple(recovered.shape)} and {tuple(true.shape)} disagree")
    r, t = recovered.float(), true.float()
    if lowpass > 1:
        r = torch.nn.functional.avg_pool2d(r, lowpass, ceil_mode=True)
        t = torch.nn.functional.avg_pool2d(t, lowpass, ceil_mode=True)
    err = (r - t).abs().flatten(1).mean(1)
    return err.mean() if reduction == "mean" else err


def gradient_loss(recovered: torch.Tensor, true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean of ``(d(recovered) - d(true))**2`` over the horizontal and vertical neighbour
    differences ``d`` of images ``(N, 3, H, W)`` in [0, 1]: scalar or ``(N,)``; 0 when the two
    differ by a constant. Typical values are small (a 0.1 step at every 16-px border: 1.25e-3),
    so its weight is larger than the pixel L1's."""
    if recovered.shape != true.shape:
        raise ValueError(f"images {tuple(recovered.shape)} and {tuple(true.shape)} disagree")
    r, t = recovered.float(), true.float()
    dx = ((r[..., :, 1:] - r[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])).square().flatten(1).mean(1)
    dy = ((r[..., 1:, :] - r[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])).square().flatten(1).mean(1)
    err = 0.5 * (dx + dy)
    return err.mean() if reduction == "mean" else err


def border_loss(recovered: torch.Tensor, true: torch.Tensor, patch_size: int = 16, reduction: str = "mean",
                band: int = 0) -> torch.Tensor:
    """Mean of ``|d(recovered) - d(true)|`` over the pixel pairs that straddle a ``patch_size``
    grid line (``d`` = horizontal or vertical neighbour difference) of images ``(N, 3, H, W)``
    in [0, 1]: scalar or ``(N,)``; 0 when every patch border steps as the true image does.

    ``band``: the same mean is added for the pairs 1, 2, ... ``band`` px either side of each
    line (2 → five such means), so the pair across the line keeps its weight and a step the
    model spreads over the pixels beside a border costs what the step itself costs, where
    ``band`` 0 charges only the part that still crosses the line."""
    if recovered.shape != true.shape:
        raise ValueError(f"images {tuple(recovered.shape)} and {tuple(true.shape)} disagree")
    h, w = recovered.shape[-2:]
    if h <= patch_size and w <= patch_size:
        raise ValueError(f"images {h}x{w} hold no {patch_size}-px patch border")
    if not 0 <= band < patch_size // 2:
        raise ValueError(f"band must be in [0, {patch_size // 2 - 1}] px for {patch_size}-px patches, got {band}")
    r, t = recovered.float(), true.float()

    def pairs(size: int, offset: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Pixels ``(c, c - 1)`` of the pairs at ``offset`` from a line, inside the image; None if there
        are none (built from Python ints: the shapes stay static, so ``torch.compile`` traces the
        loss as one graph)."""
        c = [c + offset for c in range(patch_size, size, patch_size) if 1 <= c + offset <= size - 1]
        return (torch.tensor(c, device=r.device), torch.tensor([i - 1 for i in c], device=r.device)) if c else None

    total = torch.zeros(r.shape[0], device=r.device)
    for offset in range(-band, band + 1):
        err = []
        if p := pairs(w, offset):
            c, b = p
            err.append(((r[..., c] - r[..., b]) - (t[..., c] - t[..., b])).abs().flatten(1))
        if p := pairs(h, offset):
            c, b = p
            err.append(((r[..., c, :] - r[..., b, :]) - (t[..., c, :] - t[..., b, :])).abs().flatten(1))
        if err:
            total = total + torch.cat(err, 1).mean(1)
    return total.mean() if reduction == "mean" else total


def separation_loss(
    recovered_target: torch.Tensor,
    true_source: torch.Tensor,
    true_target: torch.Tensor,
    applies: torch.Tensor,
    reduction: str = "mean",
    mode: str = "hinge",
    margin: float = 0.2,
    mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Identity separation on dlib embeddings ``(N, 128)``, where ``applies (N,)``.

    ``mode="hinge"``: ``relu(IDSim(T̂, S) − IDSim(T, S))``, 0 once the recovered target is no
    closer to the source than the true target is (cheapest to lower by making T̂ like nobody).
    ``mode="triplet"``: ``relu(IDSim(T̂, S) − IDSim(T̂, T) + margin)``, 0 once the recovered
    target is closer to the true target than to the source by ``margin``; making T̂ like nobody
    does not lower it. IDSim is :func:`dfrec.faces.identity.idsim` (cosine after removing the
    mean LFW embedding, in [-1, 1]). ``applies`` (bool or 0/1) marks forgeries whose source
    and target are different people; the mean runs over those (0 when there are none).
    For the recovered source the roles swap: pass (Ŝ, T, S) (``loss.lambda_sep_source``).
    ``mean``: the embedding mean IDSim removes, passed on to ``idsim``.
    """
    from dfrec.faces.identity import idsim

    sim_rec = idsim(recovered_target.float(), true_source.float().detach(), mean)
    if mode == "hinge":
        ref = idsim(true_target.float().detach(), true_source.float().detach(), mean)
    elif mode == "triplet":
        ref = idsim(recovered_target.float(), true_target.float().detach(), mean) - margin
    else:
        raise ValueError(f"separation mode must be hinge or triplet, got {mode!r}")
    hinge = F.relu(sim_rec - ref) * applies.to(sim_rec).reshape(-1)
    if reduction != "mean":
        return hinge
    return hinge.sum() / applies.to(sim_rec).sum().clamp_min(1.0)
