"""Blockiness under compression: the issue's measure against the JPEG-proof ``midline`` reference.

    python benchmarks/blockiness_jpeg.py [--checkpoint DIR] [--n 48] [--cache .cache/lfw_index] [--json]

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

docs/evaluation.md ("Blockiness") quotes it.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--cache", default=".cache/lfw_index", help="landmark cache or pack with the LFW faces")
    ap.add_argument("--n", type=int, default=48, help="swaps (reals: half, at least 8; default 48)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
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
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; face ellipse of {reals.shape[-1]}-px crops, {patch}-px patches")
    print("| degradation | " + " | ".join(f"{n}: plain / mid" for n in ("real", "grid", "forgery", "recovered")) + " |")
    print("|---|---|---|---|---|")
    for i in range(0, len(rows), 4):
        cells = [f"{r['blockiness']:.2f} / {r['blockiness_mid']:.2f}" for r in rows[i:i + 4]]
        print(f"| {rows[i]['degradation']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
