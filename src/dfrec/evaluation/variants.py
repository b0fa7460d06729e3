"""Running one set of DFREC weights as the paper's ablations (Table VI), without retraining.

* ``full`` — the model as trained.
* ``no_ism`` — the ISM map is replaced by the config's fixed face ellipse
  (``config.face_prior``, the "uniform face mask" ablation): the SIRM sees the face
  ellipse of the input and the MAE masks the patches under it.
* ``no_fusion`` — the TIRM decoder gets zeros in place of the SIRM's target-identity rows
  ``f_t`` (a model trained with ``use_fusion=False`` runs as it was built).

These are test-time ablations of the same weights (a retrained ablation, as in the paper,
is a separate checkpoint evaluated as ``full``); the tables say so.
"""

from __future__ import annotations

import torch

VARIANTS = ("full", "no_ism", "no_fusion")


@torch.no_grad()
def run_variant(model, x: torch.Tensor, variant: str = "full", generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """DFREC outputs (``source``, ``target``, ``mask``, ``logit``) for crops ``x (N, 3, S, S)``
    in [0, 1] under ``variant`` (one of :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    override = None
    if variant == "no_ism":
        from dfrec.models.dfrec import face_prior_mask

        cfg = model.config
        override = face_prior_mask(cfg.image_size, cfg.face_prior).to(x.device, x.dtype)
    out = model(x, generator=generator, map_override=override, fuse=variant != "no_fusion")
    return {k: out[k] for k in ("source", "target", "mask", "logit")}
