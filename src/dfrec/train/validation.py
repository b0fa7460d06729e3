"""Validation during training: recovery quality and detection accuracy on held-out identities.

Scores, for a fixed set of validation samples (``(N, 3, H, W)`` images in [0, 1]):

- ``psnr_source`` / ``psnr_target`` (dB) and ``ssim_source`` / ``ssim_target`` (Gaussian
  window 11, σ 1.5, data range 1) of the recovered vs the true faces;
- ``idsim_source`` / ``idsim_target``: IDSim (``dfrec.faces.identity.idsim``, centred
  cosine of dlib-ResNet embeddings) of recovered vs true faces, ``l2_*`` the dlib L2
  distance, ``verif_*`` the share verified as the same person (L2 < 0.6), ``cos_*`` the raw cosine, and ``*_target_none`` the same for the forgery itself
  (the "None" row of the paper's Table I);
- ``accuracy``: real/fake accuracy of the ISM head (``logit > 0`` means fake);
- ``map_iou``: IoU of the ISM map with the true source mask (forgeries only) and
  ``map_fp_real``: share of a real face's crop the map marks (both binarised at 0.5);
- ``blockiness_target`` (and ``_none`` for the forgery): patch-grid visibility of the
  recovered target inside the face ellipse (≈ 1 for natural images);
- ``loss`` and each loss part.

The model runs in eval mode under a forked RNG, so validating never changes the training
random stream (resumed runs stay bit-exact).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import torch

log = logging.getLogger("dfrec.train")


def _psnr_ssim():
    """(psnr, ssim) per-image functions ``(N,3,H,W),(N,3,H,W) -> (N,)``."""
    try:
        from dfrec.evaluation.metrics.psnr_ssim import psnr, ssim  # type: ignore

        def p(a, b):
            return psnr(a, b, reduction="none")

        def s(a, b):
            return ssim(a, b, reduction="none")

        p(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
        s(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
        return p, s
    except Exception:  # fall back to torchmetrics with the same settings
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

        def p(a, b):
            return peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))

        def s(a, b):
            return structural_similarity_index_measure(
                a, b, data_range=1.0, gaussian_kernel=True, kernel_size=11, sigma=1.5, reduction="none"
            )

        return p, s


class IdentityScorer:
    """IDSim (``dfrec.faces.identity.idsim``: cosine after removing the mean LFW embedding)
    and dlib L2 distance of recovered vs true faces; disabled (one log line) when the
    identity network's weights are not on this machine."""

    def __init__(self, device: torch.device, weights: str | None = None):
        """``weights``: dlib ``.dat`` or its ``.safetensors`` export (None = the installed file)."""
        self.encoder = None
        self.reason = ""
        try:
            from dfrec.faces import identity as fid

            self.encoder = fid.IdentityEncoder(net=fid.IdentityNet.from_file(weights)).to(device).eval()
            self._l2 = fid.l2_distance
            self._threshold = fid.DLIB_THRESHOLD
            self._cos = fid.cosine
            self._idsim = fid.idsim
            try:
                self._idsim(torch.ones(1, 128, device=device), torch.ones(1, 128, device=device))
            except Exception as e:  # the mean embedding asset is missing: raw cosine only
                self._idsim = None
                log.warning("validation: centred IDSim unavailable (%s); reporting raw cosine", e)
        except Exception as e:  # no dlib model file on this machine, say
            self.encoder = None
            self.reason = f"{e.__class__.__name__}: {e}"
            log.warning("validation: identity similarity disabled (%s)", self.reason)

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"idsim", "cos", "l2", "verif": (N,)}`` for crops ``a``, ``b`` (N, 3, 224, 224) in [0, 1]."""
        if self.encoder is None or a.shape[-1] != self.encoder.size or a.shape[-2] != self.encoder.size:
            return {}
        ea = self.encoder(a.float())
        eb = self.encoder(b.float())
        l2 = self._l2(ea, eb)
        out = {"cos": self._cos(ea, eb), "l2": l2, "verif": (l2 < self._threshold).float()}
        if self._idsim is not None:
            out["idsim"] = self._idsim(ea, eb)
        return out


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    batches: Iterable[dict[str, Any]],
    device: torch.device,
    autocast: Any,
    identity: IdentityScorer | None = None,
    n_images: int = 0,
) -> tuple[dict[str, float], dict[str, torch.Tensor] | None]:
    """Score ``model`` on ``batches``; returns (metrics, first-batch images for a grid or None)."""
    psnr, ssim = _psnr_ssim()
    was_training = model.training
    model.eval()
    from dfrec.evaluation.metrics.blockiness import blockiness
    from dfrec.evaluation.metrics.segmentation import false_positive_area, map_iou
    from dfrec.models.dfrec import face_prior_mask

    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    count = 0
    images = None
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            for batch in batches:
                b = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
                x = b["forgery"]
                n = x.shape[0]
                with autocast():
                    out = model(x)
                    total, parts = loss_fn(out, b)
                src = out["source"].float().clamp(0, 1)
                tgt = out["target"].float().clamp(0, 1)
                vals: dict[str, torch.Tensor] = {
                    "loss": total.detach().float().expand(n),
                    "psnr_source": psnr(src, b["source"].float()),
                    "psnr_target": psnr(tgt, b["target"].float()),
                    "ssim_source": ssim(src, b["source"].float()),
                    "ssim_target": ssim(tgt, b["target"].float()),
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
                vals["blockiness_target_none"] = blockiness(x.float().clamp(0, 1), face, patch, reduction="none")
                if "mask" in out and "mask" in b and "is_fake" in b:
                    m, true_m = out["mask"].float().clamp(0, 1), b["mask"].float().clamp(0, 1)
                    fake = b["is_fake"].float().reshape(-1) > 0.5
                    nan = torch.full_like(fake, float("nan"), dtype=torch.float32)
                    vals["map_iou"] = torch.where(fake, map_iou(m, true_m), nan)
                    vals["map_fp_real"] = torch.where(fake, nan, false_positive_area(m, true_m))
                if identity is not None and identity.encoder is not None:
                    for name, (rec, true) in {
                        "source": (src, b["source"]),
                        "target": (tgt, b["target"]),
                        "target_none": (x.float(), b["target"]),
                    }.items():
                        for metric, v in identity(rec, true).items():
                            vals[f"{metric}_{name}"] = v
                for k, v in vals.items():
                    v = v.double().reshape(-1)
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
