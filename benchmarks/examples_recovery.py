"""How close the bundled model's recovered faces are to the truth on the shipped examples.

For each ``examples/*/forgery.png``: ``Recoverer.recover`` exactly as ``dfrec recover`` runs it
(largest face, the model's default masking seed), then the recovered source and target are
compared with ``true_source.png`` / ``true_target.png`` (aligned 224 crops) and so is the
forgery's own aligned crop (the "None" baseline): SSIM (Gaussian window 11, sigma 1.5) and
IDSim (centred cosine of dlib ResNet embeddings, ``IdentityEncoder`` on the crops).
``tests/test_bundled_model.py`` asserts on these numbers.

Usage: ``python benchmarks/examples_recovery.py [--checkpoint DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("ssim_source", "ssim_source_none", "idsim_source", "idsim_source_none", "idsim_target", "idsim_target_none")


def examples(root: Path = ROOT / "examples") -> list[Path]:
    """Example folders that hold a forgery with its true source and target."""
    return sorted(p for p in root.iterdir()
                  if all((p / f).is_file() for f in ("forgery.png", "true_source.png", "true_target.png")))


def measure(folders: list[Path], checkpoint: str | None = None, device: str = "cpu") -> dict[str, dict[str, float]]:
    """example name -> the six numbers of ``KEYS`` (``*_none`` = the forgery's own crop)."""
    import numpy as np
    import torch

    from dfrec.metrics.psnr_ssim import ssim
    from dfrec.faces.identity import idsim
    from dfrec.io import read_image
    from dfrec.recover import Recoverer

    r = Recoverer.from_pretrained(checkpoint, device=device)

    def t(a):
        return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None] / 255

    out = {}
    for ex in folders:
        faces = r.recover(read_image(ex / "forgery.png"), max_faces=1, paste=False)
        if not faces:
            raise RuntimeError(f"{ex}: no face found in forgery.png")
        f = faces[0]
        true = {k: read_image(ex / f"true_{k}.png") for k in ("source", "target")}
        e_true = r.run_crops(np.stack([true["source"], true["target"]]))["emb_forgery"]
        e = {k: torch.from_numpy(v) for k, v in f.embeddings.items()}
        out[ex.name] = {
            "ssim_source": float(ssim(t(f.source), t(true["source"]))),
            "ssim_source_none": float(ssim(t(f.forgery), t(true["source"]))),
            "idsim_source": float(idsim(e["source"], e_true[0])),
            "idsim_source_none": float(idsim(e["forgery"], e_true[0])),
            "idsim_target": float(idsim(e["target"], e_true[1])),
            "idsim_target_none": float(idsim(e["forgery"], e_true[1])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint folder (default: the bundled model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = measure(examples(), args.checkpoint, args.device)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| example | SSIM source: recovered / forgery | IDSim source: recovered / forgery | "
          "IDSim target: recovered / forgery |\n|---|---|---|---|")
    for name, m in rows.items():
        print(f"| {name} | {m['ssim_source']:.3f} / {m['ssim_source_none']:.3f} | {m['idsim_source']:.3f} / "
              f"{m['idsim_source_none']:.3f} | {m['idsim_target']:.3f} / {m['idsim_target_none']:.3f} |")
    mean = {k: sum(m[k] for m in rows.values()) / len(rows) for k in KEYS}
    print(f"| mean | {mean['ssim_source']:.3f} / {mean['ssim_source_none']:.3f} | {mean['idsim_source']:.3f} / "
          f"{mean['idsim_source_none']:.3f} | {mean['idsim_target']:.3f} / {mean['idsim_target_none']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
