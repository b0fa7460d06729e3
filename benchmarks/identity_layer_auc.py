"""Why the identity loss weights its layers (1, 2, 4, 8, 16): how well each layer separates people.

Faces: the first ``--people`` identities (sorted by name) of the LFW **train** split with at
least two photos, their first two photos, detected and aligned to 224 crops with
:mod:`dfrec.faces` (photos without a face are left out). For every pair of faces, the
identity loss's per-layer distance (``dfrec.losses.identity.layer_distances``: 1 - cos of the
flattened features of ``IdentityEncoder``: four stage outputs and the embedding); the table
gives each layer's ROC AUC for telling same-person pairs (positives: small distance) from
different-person pairs, and the AUC and mean distance of the weighted layer mixes.

Usage: ``python benchmarks/identity_layer_auc.py [--lfw DIR] [--people 30] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))
LAYERS = ("stage1 32x35x35", "stage2 64x17x17", "stage3 128x8x8", "stage4 256x4x4", "embedding 128")


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores higher than a random negative (ties count 1/2)."""
    from scipy.stats import rankdata

    r = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((r[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--people", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from dfrec.data.datasets.lfw import split_identities
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import read_image
    from dfrec.losses.identity import DEFAULT_LAYER_WEIGHTS, build_identity_encoder, layer_distances

    root = args.lfw / "images_deepfunneled"
    train = split_identities("train")
    people = [p for p in sorted(train) if len(list((root / p).glob("*.jpg"))) >= 2][: args.people]
    crops, ids = [], []
    for p in people:
        for f in sorted((root / p).glob("*.jpg"))[:2]:
            img = read_image(f)
            faces = detect_faces(img)
            if faces:
                crops.append(align_face(img, faces[0].landmarks, size=224).image)
                ids.append(p)
    enc = build_identity_encoder().eval()
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        feats = enc.features(x)
        i, j = np.triu_indices(len(crops), 1)
        d = layer_distances([f[i] for f in feats], [f[j] for f in feats]).numpy()  # (pairs, 5)
    same = np.array([ids[a] == ids[b] for a, b in zip(i, j)])
    out = {"faces": len(crops), "people": len(set(ids)), "pairs_same": int(same.sum()), "pairs_different": int((~same).sum()),
           "auc_per_layer": {name: roc_auc(-d[:, k], same) for k, name in enumerate(LAYERS)}}
    for label, w in (("equal", np.ones(5)), ("1,2,4,8,16", np.asarray(DEFAULT_LAYER_WEIGHTS, np.float64))):
        mix = d @ (w / w.sum())
        out[f"auc_{label}"] = roc_auc(-mix, same)
        out[f"mean_distance_{label}"] = {"same": float(mix[same].mean()), "different": float(mix[~same].mean())}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['faces']} aligned LFW train photos of {out['people']} people: {out['pairs_same']} same-person and "
          f"{out['pairs_different']} different-person pairs; ROC AUC of the identity loss's distance")
    for name, auc in out["auc_per_layer"].items():
        print(f"  {name:18s} {auc:.3f}")
    for label in ("equal", "1,2,4,8,16"):
        m = out[f"mean_distance_{label}"]
        print(f"  weights {label:10s} {out[f'auc_{label}']:.3f}   (mean distance same {m['same']:.3f}, "
              f"different {m['different']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
