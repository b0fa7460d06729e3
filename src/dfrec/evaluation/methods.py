"""The rows of the evaluation tables: every way of recovering faces from forgery crops.

A :class:`Method` says what it is in typed fields — the forgery itself (the paper's "None"
row), a baseline (inpainting, the direct U-Net) or a DFREC variant (``full``, ``no_ism``,
``no_fusion``: the same weights with the switches of ``DFREC.forward``) — and the tables
choose their rows by those fields, never by a method's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from dfrec.io import to_float, to_uint8

#: ``run(x, landmarks) -> dict``: forgery crops ``x (N, 3, S, S)`` float in [0, 1] and their
#: landmarks ``(N, 68, 2)`` -> ``target`` (and ``source``, ``mask``, ``logit`` where the method has them).
RunFn = Callable[[torch.Tensor, np.ndarray], dict]


@dataclass(frozen=True)
class Method:
    """One row of the tables.

    ``has_source``: recovers a source face too (Table "source recovery"); ``is_reference``:
    the forgery itself, the row every method is compared with; ``is_baseline``: a method
    other than DFREC; ``variant``: the DFREC variant (:data:`dfrec.evaluation.variants.VARIANTS`),
    ``None`` for the reference and baselines.
    """

    name: str
    run: RunFn
    has_source: bool
    is_reference: bool = False
    is_baseline: bool = False
    variant: str | None = None
    is_other_checkpoint: bool = False
    note: str = ""

    @property
    def is_dfrec(self) -> bool:
        """A DFREC variant (the rows of the ablation table)."""
        return self.variant is not None

    @property
    def has_head(self) -> bool:
        """Its logits are the ISM's real/fake head (the ``no_ism`` variant has no ISM)."""
        return self.variant in ("full", "no_fusion")

    @property
    def has_map_head(self) -> bool:
        """Its ``logit`` (if any) counts in the map table's head accuracy (all but ``no_ism``)."""
        return self.variant != "no_ism"


def build_methods(model, device: torch.device, seed: int, inpaint: str = "telea", ablation: bool = True,
                  unet=None, other=None, other_name: str = "reference") -> list[Method]:
    """The rows: the forgery itself, inpainting, DFREC (and, with ``ablation``, its w/o-fusion
    and w/o-ISM variants), the direct U-Net when ``unet`` is given, and the full DFREC of
    another checkpoint ``other`` (named ``other_name``) when given. DFREC's masking noise is
    drawn from a generator seeded with ``seed`` at every batch (the same for both checkpoints)."""
    from dfrec.evaluation.baselines import inpaint_faces
    from dfrec.evaluation.variants import run_variant

    def dfrec_fn(variant: str, net=model) -> RunFn:
        def fn(x: torch.Tensor, lm: np.ndarray) -> dict:
            g = torch.Generator(device=device).manual_seed(seed)
            return run_variant(net, x.to(device), variant, generator=g)
        return fn

    methods = [
        Method("None (forgery)", lambda x, lm: {"source": x, "target": x}, has_source=True, is_reference=True,
               note="the forgery itself"),
        Method(f"Inpainting ({inpaint})", lambda x, lm: {"target": inpaint_faces(x, lm, inpaint)}, has_source=False,
               is_baseline=True, note="OpenCV inpainting of the dilated landmark hull"),
        Method("DFREC", dfrec_fn("full"), has_source=True, variant="full", note="the checkpoint"),
    ]
    if ablation:
        methods += [
            Method("DFREC w/o fusion (MAE)", dfrec_fn("no_fusion"), has_source=True, variant="no_fusion",
                   note="same weights, f_t rows zeroed"),
            Method("DFREC w/o ISM", dfrec_fn("no_ism"), has_source=True, variant="no_ism",
                   note="same weights, face-ellipse map instead of ISM"),
        ]
    if unet is not None:
        def unet_fn(x: torch.Tensor, lm: np.ndarray) -> dict:
            with torch.no_grad():
                return {"target": unet(x.to(device))["target"]}
        methods.append(Method("Direct U-Net (DFI idea)", unet_fn, has_source=False, is_baseline=True,
                              note="forgery -> target U-Net"))
    if other is not None:
        methods.append(Method(f"DFREC {other_name}", dfrec_fn("full", other), has_source=True, is_baseline=True,
                              is_other_checkpoint=True, note="another checkpoint (--reference), same forgeries and masking"))
    return methods


@torch.no_grad()
def run_method(method: Method, x_u8: torch.Tensor, landmarks: np.ndarray, batch_size: int,
               progress: bool = False) -> dict[str, torch.Tensor]:
    """Outputs of ``method`` over uint8 crops ``(N, 3, S, S)``, as uint8 CPU tensors
    (``mask`` ``(N, 1, S, S)`` and ``logit`` ``(N,)`` float)."""
    keep: dict[str, list] = {}
    starts = range(0, len(x_u8), batch_size)
    for i in tqdm(starts, desc=method.name, disable=not progress, leave=False):
        out = method.run(to_float(x_u8[i:i + batch_size]), landmarks[i:i + batch_size])
        for k in ("source", "target"):
            if k in out and out[k] is not None:
                keep.setdefault(k, []).append(to_uint8(out[k]).cpu())
        if "mask" in out:
            keep.setdefault("mask", []).append(out["mask"].detach().float().cpu())
        if "logit" in out:
            keep.setdefault("logit", []).append(out["logit"].detach().float().cpu().reshape(-1))
    return {k: torch.cat(v) for k, v in keep.items()}
