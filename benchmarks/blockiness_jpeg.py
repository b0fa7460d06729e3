"""Blockiness under compression: the issue's measure against the JPEG-proof ``midline`` reference.

    python benchmarks/blockiness_jpeg.py [--checkpoint DIR] [--n 48] [--cache .cache/lfw_index] [--json] [--profile]

JPEG puts 8-px blocks on the crop, on the same lines as the model's 16-px patch grid, so the
plain blockiness (steps across patch borders / steps off them) counts compression as grid.
This prints, per input degradation (none, JPEG 90/70/50/30, blur 5, noise 30; Table V's
perturbation, :func:`dfrec.evaluation.paper_tables.perturb`), both measures inside the face
ellipse (:func:`dfrec.evaluation.measures.face_blockiness`) for:

- ``real``: the gate's held-out real LFW faces (validation identities), as degraded;
- ``grid``: the same faces with a brightness grid laid over them before the degradation
  (each 16-px patch shifted by its own seeded offset in ±0.05), what a visible patch grid reads;
- ``forgery`` and ``recovered``: the held-out swaps as degraded, and the recovered targets
  of the model (``--checkpoint``; default: the bundled model) from them.

``--profile`` adds where the steps sit: the mean absolute luma step (×1000) of horizontal and
vertical neighbour pairs inside the face ellipse, by the pair's position across the patch
(position 0: the pair across a border; 8: across the midline), for the clean forgeries and
their recovered targets.

docs/evaluation.md ("Blockiness") and docs/training.md (CPU run 27) quote it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEGRADATIONS = (("none", 0), ("jpeg", 90), ("jpeg", 70), ("jpeg", 50), ("jpeg", 30), ("blur", 5), ("noise", 30))


def stack_u8(dataset, key: str):
    """``(N, 3, S, S)`` uint8 of ``key`` (``forgery``/``target``) over a held-out set."""
    import torch

    return torch.stack([(dataset[i][key].clamp(0, 1) * 255).round().to(torch.uint8) for i in range(len(dataset))])


def with_grid(u8, patch: int, seed: int = 0):
    """``u8`` with every ``patch``-px block shifted in brightness by its own offset in ±0.05."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = u8.shape
    g = torch.Generator().manual_seed(seed)
    offs = torch.rand(n, 1, h // patch, w // patch, generator=g) * 0.1 - 0.05
    offs = F.interpolate(offs, scale_factor=patch, mode="nearest")
    return ((u8.float() / 255 + offs).clamp(0, 1) * 255).round().to(torch.uint8)


def recovered_targets(model, u8, batch: int = 16):
    """The model's recovered targets of uint8 forgeries, as uint8 (seeded masking)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(u8), batch):
            x = u8[i:i + batch].float() / 255
            t = model(x, generator=torch.Generator().manual_seed(i))["target"]
            out.append((t.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.cat(out)


def step_profile(u8, patch: int):
    """Mean absolute luma step ``(patch,)`` of neighbour pairs ``(j - 1, j)`` inside the face ellipse,
    by ``j % patch`` (0 = across a patch border), horizontal and vertical pairs pooled."""
    import torch

    from dfrec.metrics._luma import luma
    from dfrec.models.dfrec import face_prior_mask

    x = u8.double() / 255
    y = luma(x)[:, 0]
    region = face_prior_mask(u8.shape[-1])[0, 0].double()
    size = u8.shape[-1]
    pos = (torch.arange(size - 1) + 1) % patch
    dx, wx = (y[:, :, 1:] - y[:, :, :-1]).abs(), torch.minimum(region[:, 1:], region[:, :-1])
    dy, wy = (y[:, 1:, :] - y[:, :-1, :]).abs(), torch.minimum(region[1:, :], region[:-1, :])
    out = []
    for k in range(patch):
        num = (dx[..., pos == k] * wx[:, pos == k]).sum() + (dy[:, pos == k, :] * wy[pos == k, :]).sum()
        den = (wx[:, pos == k].sum() + wy[pos == k, :].sum()) * len(u8)
        out.append(float(num / den))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--cache", default=".cache/lfw_index", help="landmark cache or pack with the LFW faces")
    ap.add_argument("--n", type=int, default=48, help="swaps (reals: half, at least 8; default 48)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    ap.add_argument("--profile", action="store_true", help="also print the step size by position across the patch")
    a = ap.parse_args(argv)

    import numpy as np
    import torch

    from dfrec.evaluation.measures import face_blockiness
    from dfrec.evaluation.paper_tables import perturb
    from dfrec.models import DFREC
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.train.heldout import heldout_sets

    torch.set_num_threads(a.threads)
    model = DFREC.from_pretrained(a.checkpoint or DEFAULT_CHECKPOINT).eval()
    patch = model.config.patch_size
    sets = heldout_sets(a.cache, a.n, names=["swap", "real"])
    reals, forgeries = stack_u8(sets["real"], "forgery"), stack_u8(sets["swap"], "forgery")
    gridded = with_grid(reals, patch)

    def both(u8) -> tuple[float, float]:
        return (float(np.nanmean(face_blockiness(u8, patch))),
                float(np.nanmean(face_blockiness(u8, patch, reference="midline"))))

    rows = []
    for fam, level in DEGRADATIONS:
        def degrade(u8):
            return u8 if fam == "none" else perturb(u8, fam, level)

        x = degrade(forgeries)
        for name, u8 in (("real", degrade(reals)), ("grid", degrade(gridded)), ("forgery", x),
                         ("recovered", recovered_targets(model, x))):
            plain, mid = both(u8)
            rows.append({"degradation": fam if fam == "none" else f"{fam} {level}", "images": name, "n": len(u8),
                         "blockiness": round(plain, 3), "blockiness_mid": round(mid, 3)})
    profile = None
    if a.profile:
        profile = {"forgery": step_profile(forgeries, patch),
                   "recovered": step_profile(recovered_targets(model, forgeries), patch)}
    if a.json:
        print(json.dumps({"rows": rows, "profile": profile}, indent=2))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; face ellipse of {reals.shape[-1]}-px crops, {patch}-px patches")
    print("| degradation | " + " | ".join(f"{n}: plain / mid" for n in ("real", "grid", "forgery", "recovered")) + " |")
    print("|---|---|---|---|---|")
    for i in range(0, len(rows), 4):
        cells = [f"{r['blockiness']:.2f} / {r['blockiness_mid']:.2f}" for r in rows[i:i + 4]]
        print(f"| {rows[i]['degradation']} | " + " | ".join(cells) + " |")
    if profile:
        print("\nmean |luma step| x 1000 by the pair's position across the patch (0: across the border)")
        print("| position | " + " | ".join(str(k) for k in range(patch)) + " |")
        print("|---|" + "---|" * patch)
        for name, values in profile.items():
            print(f"| {name} | " + " | ".join(f"{v * 1000:.1f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
