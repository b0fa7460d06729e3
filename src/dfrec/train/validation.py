"""Validation during training: recovery quality and detection accuracy on held-out identities.

Scores, for a fixed set of validation samples (``(N, 3, H, W)`` images in [0, 1]):

- ``psnr_source`` / ``psnr_target`` (dB) and ``ssim_source`` / ``ssim_target`` of the
  recovered vs the true faces (:mod:`dfrec.metrics.psnr_ssim`, the metrics of ``dfrec evaluate``);
- ``idsim_*``, ``cos_*``, ``l2_*``, ``verif_*`` (``source``, ``target``, and ``target_none``
  for the forgery itself, the "None" row of the paper's Table I): the scores of
  :func:`dfrec.metrics.idsim.identity_scores` (centred IDSim, raw cosine, dlib L2 distance,
  share verified as the same person) of recovered vs true faces;
- identity separation, for forgeries of two different people only: ``idsim_target_source``,
  IDSim of the recovered target with the true *source* (lower is better; ``_none``: the
  forgery's), ``idsim_source_target``, of the recovered source with the true *target* (lower
  is better), and ``idsim_pair``, IDSim of the recovered target with the recovered source
  (``_true``: of the true target with the true source, the value a perfect recovery has);
  ``idsim_target_two_people`` and ``idsim_target_none_two_people``: ``idsim_target`` and
  ``idsim_target_none`` over those forgeries only (a real face or a self-swap is already its own
  target), ``two_people`` the share of samples they are;
- ``accuracy``: real/fake accuracy of the ISM head (``logit > 0`` means fake);
- ``map_iou``: IoU of the ISM map with the true source mask (forgeries only) and
  ``map_fp_real``: share of a real face's crop the map marks (both binarised at 0.5);
- ``blockiness_target`` (and ``_none`` for the forgery): patch-grid visibility of the
  recovered target inside the face ellipse (≈ 1 for natural images); ``blockiness_mid_target``:
  the same against the lines halfway between borders (``reference="midline"``), which also
  counts a step the model spreads over the pixels beside a border; ``checker_target`` (and
  ``_none``): the share of a 2-px checkerboard in its fine detail (photos ≈ 0.3-0.6);
- ``loss`` and each loss part.

The model runs in eval mode under a forked RNG, so validating never changes the training
random stream (resumed runs stay bit-exact).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import torch

from dfrec.faces.identity import mean_embedding
from dfrec.metrics.blockiness import blockiness
from dfrec.metrics.checkerboard import checkerboard
from dfrec.losses.total import two_people
from dfrec.metrics.idsim import IDSim, identity_scores, separation_scores
from dfrec.metrics.psnr_ssim import psnr, ssim
from dfrec.metrics.segmentation import false_positive_area, map_iou
from dfrec.models.dfrec import face_prior_mask
from dfrec.train.setup import to_device

log = logging.getLogger("dfrec.train")


def identity_metric(device: torch.device, weights: str | None = None) -> IDSim | None:
    """The identity scorer (:class:`dfrec.metrics.idsim.IDSim`) for validation, or ``None``
    (one logged warning: validation goes on without identity scores) when the identity
    network's weights are not on this machine. ``weights``: dlib ``.dat`` or its
    ``.safetensors`` export (None = the installed file)."""
    try:
        scorer = IDSim(device, batch_size=None, weights=weights)
        mean_embedding()  # the centring of idsim: fail here, not at the first validation
        return scorer
    except Exception as e:  # no dlib model file on this machine, say
        log.warning("validation: identity similarity disabled (%s: %s)", e.__class__.__name__, e)
        return None


def _identity_values(identity: IDSim, b: dict, x: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample identity scores of a batch, each image embedded once: the scores of
    recovered vs true source and target (and the forgery vs the true target, ``target_none``),
    then the separation scores, defined for two-person forgeries only (NaN elsewhere)."""
    e = {k: identity.embed(v.float()) for k, v in
         {"src": src, "tgt": tgt, "x": x, "true_src": b["source"], "true_tgt": b["target"]}.items()}
    vals: dict[str, torch.Tensor] = {}
    for name, (rec, true) in {"source": ("src", "true_src"), "target": ("tgt", "true_tgt"),
                              "target_none": ("x", "true_tgt")}.items():
        for metric, v in identity_scores(e[rec], e[true]).items():
            vals[f"{metric}_{name}"] = v
    two = two_people(b, x.shape[0], torch.device("cpu"))
    for name, v in separation_scores(e["tgt"], e["src"], e["true_src"], e["true_tgt"], two).items():
        vals[f"idsim_{name}"] = v
    vals["idsim_target_source_none"] = separation_scores(e["x"], None, e["true_src"], e["true_tgt"], two)["target_source"]
    # the target scores again on two-person forgeries only: on a real face or a self-swap the forgery
    # already is the target, so there the None row cannot be beaten and only dilutes the comparison
    two = two.to(vals["idsim_target"].device)
    for name in ("idsim_target", "idsim_target_none"):
        vals[f"{name}_two_people"] = torch.where(two, vals[name], torch.full_like(vals[name], float("nan")))
    vals["two_people"] = two.float()
    return vals


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    batches: Iterable[dict[str, Any]],
    device: torch.device,
    autocast: Any,
    identity: IDSim | None = None,
    n_images: int = 0,
    per_sample: dict[str, list[torch.Tensor]] | None = None,
    on_outputs: Callable[[dict[str, Any], dict[str, torch.Tensor]], None] | None = None,
) -> tuple[dict[str, float], dict[str, torch.Tensor] | None]:
    """Score ``model`` on ``batches``; returns (metrics, first-batch images for a grid or None).
    ``per_sample``: a dict that receives, per metric, the (n,) float64 CPU scores of each batch in
    order (NaN where undefined; loss parts are batch means), for paired comparisons of models.
    ``on_outputs(batch, outputs)``: called with each batch (on ``device``) and the model's outputs
    (``source``/``target`` clamped to [0, 1], float32), e.g. to collect FID features in the same pass."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    count = 0
    images = None
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            for batch in batches:
                b = to_device(batch, device)
                x = b["forgery"]
                n = x.shape[0]
                with autocast():
                    out = model(x)
                    total, parts = loss_fn(out, b)
                src = out["source"].float().clamp(0, 1)
                tgt = out["target"].float().clamp(0, 1)
                if on_outputs is not None:
                    on_outputs(b, {**out, "source": src, "target": tgt})
                vals: dict[str, torch.Tensor] = {
                    "loss": total.detach().float().expand(n),
                    "psnr_source": psnr(src, b["source"].float(), reduction="none"),
                    "psnr_target": psnr(tgt, b["target"].float(), reduction="none"),
                    "ssim_source": ssim(src, b["source"].float(), reduction="none"),
                    "ssim_target": ssim(tgt, b["target"].float(), reduction="none"),
                }
                for k, v in parts.items():
                    if k == "total":
                        continue
                    vals[f"loss_{k}"] = torch.as_tensor(v).detach().float().reshape(-1).mean().expand(n)
                if "logit" in out and "is_fake" in b:
                    pred = (out["logit"].float().reshape(-1) > 0).float()
                    vals["accuracy"] = (pred == b["is_fake"].float().reshape(-1)).float()
                face = face_prior_mask(x.shape[-1]).to(x.device)
                patch = getattr(getattr(model, "config", None), "patch_size", 16)
                vals["blockiness_target"] = blockiness(tgt, face, patch, reduction="none")
                forgery = x.float().clamp(0, 1)
                vals["blockiness_target_none"] = blockiness(forgery, face, patch, reduction="none")
                vals["blockiness_mid_target"] = blockiness(tgt, face, patch, reduction="none", reference="midline")
                vals["checker_target"] = checkerboard(tgt, face, reduction="none")
                vals["checker_target_none"] = checkerboard(forgery, face, reduction="none")
                if "mask" in out and "mask" in b and "is_fake" in b:
                    m, true_m = out["mask"].float().clamp(0, 1), b["mask"].float().clamp(0, 1)
                    fake = b["is_fake"].float().reshape(-1) > 0.5
                    nan = torch.full_like(fake, float("nan"), dtype=torch.float32)
                    vals["map_iou"] = torch.where(fake, map_iou(m, true_m), nan)
                    vals["map_fp_real"] = torch.where(fake, nan, false_positive_area(m, true_m))
                if identity is not None and x.shape[-1] == identity.size:
                    vals.update(_identity_values(identity, b, x, src, tgt))
                for k, v in vals.items():
                    v = v.double().reshape(-1)
                    if per_sample is not None:
                        per_sample.setdefault(k, []).append(v.cpu())
                    ok = ~torch.isnan(v)  # NaN = not defined for this sample (e.g. map IoU of a real face)
                    sums[k] = sums.get(k, 0.0) + float(v[ok].sum())
                    counts[k] = counts.get(k, 0) + int(ok.sum())
                count += n
                if images is None and n_images > 0:
                    k = min(n_images, n)
                    images = {
                        "forgery": x[:k].float().cpu(),
                        "mask": out["mask"][:k].float().expand(-1, 3, -1, -1).cpu() if "mask" in out else None,
                        "source": src[:k].cpu(),
                        "true_source": b["source"][:k].float().cpu(),
                        "target": tgt[:k].cpu(),
                        "true_target": b["target"][:k].float().cpu(),
                    }
                    images = {k2: v for k2, v in images.items() if v is not None}
    finally:
        model.train(was_training)
    metrics = {k: v / counts[k] for k, v in sums.items() if counts[k] > 0}
    metrics["samples"] = float(count)
    return metrics, images


def image_grid(images: dict[str, torch.Tensor]) -> torch.Tensor:
    """One row per sample, one column per entry of ``images``: ``(3, H', W')`` in [0, 1]."""
    from torchvision.utils import make_grid

    cols = list(images.values())
    n = cols[0].shape[0]
    tiles = torch.stack([c[i] for i in range(n) for c in cols])
    return make_grid(tiles, nrow=len(cols), padding=2, pad_value=1.0)
