"""What a small face costs ``dfrec recover``: the whole pipeline on held-out swaps shown smaller.

    python benchmarks/face_size_sensitivity.py [--checkpoint DIR] [--eyes 40,20,14,10] [--n 96]
        [--interpolation lanczos4,bilinear] [--json]

Table V's ``downscale`` rows blur an aligned crop, keeping its alignment; a small face in a real
picture also has to be found, aligned from landmarks that dlib places on a few pixels, and
enlarged to the model's crop. This takes the gate's held-out swaps
(:func:`dfrec.train.heldout.heldout_sets`; LFW validation identities by default), shrinks each
forgery crop until the eye centres are ``E`` px apart (area averaging), and runs
:meth:`dfrec.Recoverer.recover` on that picture: detection, landmarks, alignment, model, identity
network, as for a user's file. Per size it prints how many faces were found, the recovered
target's and source's IDSim to the true faces and the forgery's own (the None column, the
forgery crop as ``recover`` aligned it), with paired differences to the largest size (the same
forgeries, where found at both: mean ± standard error, z), and how many faces the fake score
calls swapped (``score_fake`` ≥ 0.5: right for the swaps, a false alarm for the held-out reals,
whose "true faces" are the photo itself). ``--interpolation`` runs it once per
interpolation of the alignment's enlarging warp (``dfrec.faces.align.ENLARGE_INTERPOLATION``;
the first is the reference) and adds the paired difference of each other one to it at the same
size. ``dfrec.results.SMALL_FACE_EYES_PX`` (the report's "small face" caveat) is set from it, and
``dfrec.faces.align.ENLARGE_INTERPOLATION`` was chosen with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import cv2  # noqa: E402
from _heldout import add_heldout_args  # noqa: E402  (benchmarks/_heldout.py)

from dfrec.faces.align import CROP_EYES_PX, interpolation_name  # noqa: E402

#: OpenCV's interpolations for ``--interpolation``, by the names reports record
#: (``dfrec.faces.align.interpolation_name``), and the short words this option took before
INTERPOLATIONS = {interpolation_name(f): f for f in (cv2.INTER_LANCZOS4, cv2.INTER_LINEAR, cv2.INTER_CUBIC)}
ALIASES = {"linear": "bilinear", "cubic": "bicubic", "lanczos": "lanczos4"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--eyes", default="40,20,14,10", help="eye distances in px, comma-separated, largest first")
    ap.add_argument("--interpolation", default="lanczos4",
                    help="the alignment's enlarging interpolation(s), comma-separated, the first the reference: "
                         f"{', '.join(INTERPOLATIONS)} (or {', '.join(ALIASES)}; default lanczos4, dfrec's)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_heldout_args(ap, n=96, sets="swap,real")
    a = ap.parse_args(argv)

    import numpy as np
    import torch

    from dfrec import Recoverer
    from dfrec.faces import align
    from dfrec.results import FAKE_THRESHOLD
    from dfrec.train.heldout import heldout_sets

    torch.set_num_threads(a.threads)
    sizes = [float(v) for v in a.eyes.split(",")]
    interps = [ALIASES.get(v, v) for v in a.interpolation.split(",") if v]
    if unknown := set(interps) - set(INTERPOLATIONS):
        ap.error(f"--interpolation: unknown {sorted(unknown)}; choose from {', '.join(INTERPOLATIONS)}")
    rec = Recoverer.from_pretrained(a.checkpoint, device="cpu")
    sets = heldout_sets(a.cache, a.n, split=a.split, names=[s for s in a.sets.split(",") if s])
    keys = ("target", "source", "none")
    rows = []
    default = align.ENLARGE_INTERPOLATION
    try:
        for name, ds in sets.items():
            items = [ds[i] for i in range(len(ds))]
            true = torch.stack([torch.stack([it["target"], it["source"]]) for it in items])  # (N, 2, 3, S, S)
            e_true = rec.identity.embed(true.flatten(0, 1)).reshape(len(items), 2, -1).numpy()
            scores: dict[tuple[str, float], dict[str, np.ndarray]] = {}
            for interp in interps:
                align.ENLARGE_INTERPOLATION = INTERPOLATIONS[interp]
                for eyes in sizes:
                    scores[interp, eyes] = _score_size(rec, items, e_true, eyes)
            for interp in interps:
                for eyes in sizes:
                    s = scores[interp, eyes]
                    found = ~np.isnan(s["target"])
                    row = {"set": name, "interpolation": interp, "eyes_px": eyes, "n": len(items),
                           "found": int(found.sum()),
                           "eyes_measured_px": float(np.nanmedian(s["eyes"])) if found.any() else None,
                           "called_fake": float(np.mean(s["fake"][found] >= FAKE_THRESHOLD)) if found.any() else None,
                           **{f"idsim_{k}": float(np.nanmean(s[k])) if found.any() else None for k in keys}}
                    if eyes != sizes[0]:
                        row.update(_paired(scores[interp, sizes[0]], s, keys, ""))
                    if interp != interps[0]:
                        row.update(_paired(scores[interps[0], eyes], s, keys, "_vs_ref"))
                    rows.append(row)
    finally:
        align.ENLARGE_INTERPOLATION = default
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; {a.split} identities; dfrec recover on each forgery shrunk "
          f"to the eye distance given (paired: against {sizes[0]:.0f} px, on the forgeries found at both"
          + (f"; vs {interps[0]}: against the {interps[0]} enlargement at the same size)" if len(interps) > 1 else ")"))
    extra = " | target vs ref | source vs ref" if len(interps) > 1 else ""
    print(f"| set | enlarged by | eyes px (measured) | found | called swapped | target IDSim | paired | source IDSim | paired "
          f"| None | paired{extra} |")
    print("|---" * (11 + 2 * (len(interps) > 1)) + "|")

    def cell(r: dict, k: str) -> str:
        v = r.get(f"idsim_{k}")
        if v is None:
            return "– | –"
        d = f"{r[f'idsim_{k}_diff']:+.3f} (z {r[f'idsim_{k}_z']:+.1f})" if f"idsim_{k}_diff" in r else "–"
        return f"{v:.3f} | {d}"

    def vs_ref(r: dict, k: str) -> str:
        return f"{r[f'idsim_{k}_diff_vs_ref']:+.3f} (z {r[f'idsim_{k}_z_vs_ref']:+.1f})" if f"idsim_{k}_diff_vs_ref" in r else "–"

    for r in rows:
        meas = f"{r['eyes_measured_px']:.1f}" if r["eyes_measured_px"] is not None else "–"
        ref = f" | {vs_ref(r, 'target')} | {vs_ref(r, 'source')}" if len(interps) > 1 else ""
        fake = f"{r['called_fake']:.2f}" if r["called_fake"] is not None else "–"
        print(f"| {r['set']} | {r['interpolation']} | {r['eyes_px']:.0f} ({meas}) | {r['found']}/{r['n']} | {fake} "
              f"| {cell(r, 'target')} | {cell(r, 'source')} | {cell(r, 'none')}{ref} |")
    return 0


def _score_size(rec, items: list[dict], e_true, eyes: float) -> dict:
    """Per forgery (NaN where no face was found): IDSim of the recovered target and source and of
    the forgery to the true faces, the measured eye distance and the fake score, at ``eyes`` px
    between the eyes."""
    import numpy as np

    from dfrec.faces.align import eye_distance
    from dfrec.faces.identity import idsim

    scores = {k: np.full(len(items), np.nan) for k in ("target", "source", "none", "eyes", "fake")}
    for i, it in enumerate(items):
        crop = (it["forgery"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        side = max(8, round(crop.shape[0] * eyes / CROP_EYES_PX))
        pic = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if side < crop.shape[0] else cv2.INTER_LINEAR)
        faces = rec.recover(pic, max_faces=1, paste=False)
        if not faces:
            continue
        f = faces[0]
        scores["target"][i] = float(idsim(f.embeddings["target"], e_true[i, 0]))
        scores["source"][i] = float(idsim(f.embeddings["source"], e_true[i, 1]))
        scores["none"][i] = float(idsim(f.embeddings["forgery"], e_true[i, 0]))
        scores["eyes"][i] = eye_distance(f.landmarks)
        scores["fake"][i] = f.score_fake
    return scores


def _paired(ref: dict, s: dict, keys: tuple[str, ...], suffix: str) -> dict:
    """``idsim_{k}_diff{suffix}`` / ``idsim_{k}_z{suffix}``: s − ref on the forgeries found in both."""
    import numpy as np
    import torch

    from dfrec.metrics import paired_difference

    both = ~np.isnan(ref["target"]) & ~np.isnan(s["target"])
    out = {}
    if both.sum() > 1:
        for k in keys:
            p = paired_difference(torch.from_numpy(ref[k][both]), torch.from_numpy(s[k][both]))
            out[f"idsim_{k}_diff{suffix}"], out[f"idsim_{k}_z{suffix}"] = float(p["mean"]), float(p["z"])
    return out


if __name__ == "__main__":
    sys.exit(main())
