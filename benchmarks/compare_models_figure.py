"""Side-by-side figure of several models' recovered faces on the shipped examples.

One row per ``examples/*/forgery.png``: the forgery's aligned crop, then for each model its
recovered source and target (``Recoverer.recover`` as ``dfrec recover`` runs it), then the true
source and target. For looking at what a candidate changes before it replaces the bundled model
(docs/results/model_history/ holds the figures of past decisions).

    python benchmarks/compare_models_figure.py src/dfrec/weights/default runs/cand21 \\
        --out docs/results/model_history/DATE_runA_vs_runB.jpg [--size 224]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def figure(models: list[str], folders: list[Path], device: str = "cpu", size: int = 224):
    """``(rows·size, cols·size, 3) uint8``: per example, forgery | per model source, target | true
    source, target; cols = 3 + 2·len(models)."""
    import cv2
    import numpy as np

    from dfrec.io import read_image
    from dfrec.recover import Recoverer

    def tile(a: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(a), (size, size), interpolation=cv2.INTER_AREA)

    rows: list[list[np.ndarray]] = [[] for _ in folders]
    for k, path in enumerate(models):
        r = Recoverer.from_pretrained(path, device=device)
        for i, ex in enumerate(folders):
            faces = r.recover(read_image(ex / "forgery.png"), max_faces=1, paste=False)
            if not faces:
                raise RuntimeError(f"{ex}: no face found in forgery.png")
            f = faces[0]
            if k == 0:
                rows[i].append(tile(f.forgery))
            rows[i] += [tile(f.source), tile(f.target)]
    for i, ex in enumerate(folders):
        rows[i] += [tile(read_image(ex / f"true_{w}.png")) for w in ("source", "target")]
    return np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model folders (save_pretrained / the bundled default)")
    ap.add_argument("--out", type=Path, required=True, help="image file (.jpg or .png)")
    ap.add_argument("--examples", type=Path, default=ROOT / "examples")
    ap.add_argument("--size", type=int, default=224, help="side of each tile in pixels")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from examples_recovery import examples

    from dfrec.io import write_image

    folders = examples(args.examples)
    img = figure(args.models, folders, args.device, args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, img)
    print(f"{args.out}: {len(folders)} examples x (forgery, {len(args.models)} models x "
          f"(source, target), true source, true target), {img.shape[1]}x{img.shape[0]} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
