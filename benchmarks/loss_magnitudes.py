"""Magnitudes of dfrec's loss terms for answers of known quality (the tables in docs/losses.md).

Data: ``--n`` landmark swaps among LFW **test** identities (sorted, first photo each; target =
person k, source = person k + 1), synthesised without augmentation (seed 0). Answers scored
with the default ``DFRECLoss`` (unweighted parts; ``id`` and ``perc`` sum the source and
target terms): the truth, the forgery itself for both faces, source and target swapped, a
uniform grey image, and an untrained ``tiny`` model (seed 0); the patch term uses the tiny
model's masking, ``cls`` a zero logit (or the model's) against "fake".

Second table: the ``appearance`` attribute loss between a face and a changed copy
(Gaussian blur, +15 % brightness, horizontal flip) and between photos of different people.

Usage: ``python benchmarks/loss_magnitudes.py [--lfw DIR] [--n 8] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))


def _faces(lfw: Path, n: int):
    """n + 1 aligned crops (FaceCrop) of distinct LFW test people, first photo each."""
    from dfrec.data.datasets.lfw import split_identities
    from dfrec.data.synth.types import FaceCrop
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import read_image

    root = lfw / "images_deepfunneled"
    out = []
    for person in sorted(split_identities("test")):
        img = read_image(sorted((root / person).glob("*.jpg"))[0])
        faces = detect_faces(img)
        if faces:
            a = align_face(img, faces[0].landmarks, size=224)
            out.append(FaceCrop(image=a.image, landmarks=a.landmarks, identity=person))
        if len(out) == n + 1:
            return out
    raise SystemExit("not enough LFW test faces found")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import torchvision.transforms.functional as TF

    from dfrec.data.datasets.synthetic import to_tensor
    from dfrec.data.synth import SynthConfig, Synthesizer
    from dfrec.losses import DFRECLoss, LossConfig
    from dfrec.losses.patch import gather_patches, patchify
    from dfrec.models import create_model

    faces = _faces(args.lfw, args.n)
    synth = Synthesizer(SynthConfig(), augment=False)
    samples = [synth(faces[k], faces[k + 1], kind="swap", rng=k) for k in range(args.n)]
    forg = torch.stack([to_tensor(s.forgery) for s in samples])
    src = torch.stack([to_tensor(s.source) for s in samples])
    tgt = torch.stack([to_tensor(s.target) for s in samples])
    batch = {"source": src, "target": tgt, "is_fake": torch.ones(args.n)}
    loss = DFRECLoss(LossConfig()).eval()
    torch.manual_seed(0)
    model = create_model("tiny").eval()
    with torch.no_grad():
        out_model = model(forg, generator=torch.Generator().manual_seed(0))
    idx = out_model["mask_indices"]
    p = model.config.patch_size

    def answer(source, target, logit):
        return {"source": source, "target": target, "logit": logit, "mask_indices": idx,
                "pred_patches": gather_patches(patchify(target, p), idx)}

    zero = torch.zeros(args.n)
    grey = torch.full_like(tgt, 0.5)
    answers = {
        "perfect (true source and target)": answer(src, tgt, torch.full((args.n,), 20.0)),
        "the forgery itself, for both": answer(forg, forg, zero),
        "source and target swapped": answer(tgt, src, zero),
        "uniform grey": answer(grey, grey, zero),
        "untrained tiny model": {k: v for k, v in out_model.items()},
    }
    table = {}
    with torch.no_grad():
        for name, out in answers.items():
            _, parts = loss(out, batch)
            table[name] = {k: float(parts[k]) for k in ("id", "perc", "attr", "patch", "cls")}
        attr = loss.attribute
        changes = {f"Gaussian blur sigma {s}": TF.gaussian_blur(tgt, 4 * s + 1, float(s)) for s in (1, 2, 3)}
        changes["+15 % brightness"] = (tgt * 1.15).clamp(0, 1)
        changes["horizontal flip"] = torch.flip(tgt, dims=[3])
        changes["a photo of another person"] = torch.roll(tgt, 1, 0)
        attr_table = {k: float(attr(v, tgt)) for k, v in changes.items()}
    if args.json:
        print(json.dumps({"terms": table, "attribute": attr_table}, indent=2))
        return 0
    print(f"{args.n} landmark swaps of LFW test faces, unweighted loss parts (id and perc: source + target)")
    print("| answer | id | perc | attr | patch | cls |\n|---|---|---|---|---|---|")
    for name, r in table.items():
        print(f"| {name} | {r['id']:.3f} | {r['perc']:.2f} | {r['attr']:.2f} | {r['patch']:.3f} | {r['cls']:.2f} |")
    print("\nattribute loss (appearance) of a changed copy vs the face, mean over the faces")
    for k, v in attr_table.items():
        print(f"  {k:28s} {v:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
