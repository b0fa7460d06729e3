"""What a small face costs ``dfrec recover``: the whole pipeline on held-out swaps shown smaller.

    python benchmarks/face_size_sensitivity.py [--checkpoint DIR] [--eyes 40,20,14,10] [--n 96] [--json]

Table V's ``downscale`` rows blur an aligned crop, keeping its alignment; a small face in a real
picture also has to be found and aligned from landmarks that dlib places on a few pixels. This
takes the gate's held-out swaps (:func:`dfrec.train.heldout.heldout_sets`; LFW validation
identities by default), shrinks each forgery crop until the eye centres are ``E`` px apart
(area averaging), and runs :meth:`dfrec.Recoverer.recover` on that picture: detection,
landmarks, alignment, model, identity network, as for a user's file. Per size it prints how many
faces were found, the recovered target's and source's IDSim to the true faces and the forgery's
own (the None column, the forgery crop as ``recover`` aligned it), with paired differences to
the largest size (the same forgeries, where found at both: mean ± standard error, z).
``dfrec.results.SMALL_FACE_EYES_PX`` (the report's "small face" caveat) is set from it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _heldout import add_heldout_args  # noqa: E402  (benchmarks/_heldout.py)

#: eye-centre distance of the gate's 224-px crops (the alignment template), px
CROP_EYES_PX = 53.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--eyes", default="40,20,14,10", help="eye distances in px, comma-separated, largest first")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_heldout_args(ap, n=96, sets="swap")
    a = ap.parse_args(argv)

    import cv2
    import numpy as np
    import torch

    from dfrec import Recoverer
    from dfrec.faces.align import eye_distance
    from dfrec.faces.identity import idsim
    from dfrec.metrics import paired_difference
    from dfrec.train.heldout import heldout_sets

    torch.set_num_threads(a.threads)
    sizes = [float(v) for v in a.eyes.split(",")]
    rec = Recoverer.from_pretrained(a.checkpoint, device="cpu")
    sets = heldout_sets(a.cache, a.n, split=a.split, names=[s for s in a.sets.split(",") if s])
    rows = []
    for name, ds in sets.items():
        items = [ds[i] for i in range(len(ds))]
        true = torch.stack([torch.stack([it["target"], it["source"]]) for it in items])  # (N, 2, 3, S, S)
        e_true = rec.identity.embed(true.flatten(0, 1)).reshape(len(items), 2, -1).numpy()
        per_size: dict[float, dict[str, np.ndarray]] = {}
        for eyes in sizes:
            scores = {k: np.full(len(items), np.nan) for k in ("target", "source", "none", "eyes")}
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
            per_size[eyes] = scores
        ref = per_size[sizes[0]]
        for eyes, s in per_size.items():
            found = ~np.isnan(s["target"])
            row = {"set": name, "eyes_px": eyes, "n": len(items), "found": int(found.sum()),
                   "eyes_measured_px": float(np.nanmedian(s["eyes"])) if found.any() else None,
                   **{f"idsim_{k}": float(np.nanmean(s[k])) if found.any() else None for k in ("target", "source", "none")}}
            both = found & ~np.isnan(ref["target"])
            if eyes != sizes[0] and both.sum() > 1:
                for k in ("target", "source", "none"):
                    p = paired_difference(torch.from_numpy(ref[k][both]), torch.from_numpy(s[k][both]))
                    row[f"idsim_{k}_diff"], row[f"idsim_{k}_z"] = float(p["mean"]), float(p["z"])
            rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; {a.split} identities; dfrec recover on each forgery shrunk "
          f"to the eye distance given (paired: against {sizes[0]:.0f} px, on the forgeries found at both)")
    print("| set | eyes px (measured) | found | target IDSim | paired | source IDSim | paired | None | paired |")
    print("|---|---|---|---|---|---|---|---|---|")

    def cell(r: dict, k: str) -> str:
        v = r.get(f"idsim_{k}")
        if v is None:
            return "– | –"
        d = f"{r[f'idsim_{k}_diff']:+.3f} (z {r[f'idsim_{k}_z']:+.1f})" if f"idsim_{k}_diff" in r else "–"
        return f"{v:.3f} | {d}"

    for r in rows:
        meas = f"{r['eyes_measured_px']:.1f}" if r["eyes_measured_px"] is not None else "–"
        print(f"| {r['set']} | {r['eyes_px']:.0f} ({meas}) | {r['found']}/{r['n']} | {cell(r, 'target')} "
              f"| {cell(r, 'source')} | {cell(r, 'none')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
