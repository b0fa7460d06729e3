"""How faithfully a recovered face goes back into its picture (``dfrec.faces.paste_back``).

The model works on a 224-px crop; the report's "pasted back" frames warp the crop into the
picture again. Two things decide how much of the picture survives:

1. **The interpolation** of that warp. Table 1: each face of the untouched photos at hand
   (``.cache/fixtures``, fetched by ``scripts/setup.sh``), the photo shrunk by 1, 1/2, 1/4 and
   1/8, cut to its crop by ``align_face`` and pasted straight back: PSNR against the photo inside
   the crop's footprint (where the paste weight is 1), by how the crop relates to the photo
   (crop pixels per photo pixel: below 0.7 the paste enlarges the crop, above 1.4 it shrinks it).
2. **What is pasted.** A model that composes its target (``compose``: the TIRM's output inside
   the map, the forgery outside) used to have the whole composed crop pasted, so a face larger
   than the crop came back blurred even where nothing was recovered. ``paste_faces`` now
   composes at the picture's resolution (the TIRM's output by its weight, the picture's own
   pixels elsewhere). Table 2: the same untouched photos through ``Recoverer.recover`` with the
   checkpoint; the right target frame of an untouched face is the photo itself, so it gives the
   PSNR of the target frame against the photo over the footprint and the share of footprint
   pixels changed by more than 2 levels, the old way (whole crop, bilinear) and the new; and the
   same for the source frame (the source of an untouched face is the face itself), which is now
   pasted by the region the SIRM saw instead of whole, with the background it guessed.

Usage::

    python benchmarks/paste_back_fidelity.py [--checkpoint DIR] [--scales 1,0.5,0.25,0.125] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures"

#: the interpolations Table 1 compares, by the names reports record
INTERPOLATIONS = {name: flag for flag, name in ((1, "bilinear"), (2, "bicubic"), (4, "lanczos4"))}  # cv2.INTER_*
BUCKETS = ((0.0, 0.7, "< 0.7 (paste enlarges)"), (0.7, 1.4, "0.7-1.4"), (1.4, 2.8, "1.4-2.8 (paste shrinks)"),
           (2.8, 1e9, ">= 2.8"))


def photos() -> list[tuple[str, Path]]:
    """The untouched photos at hand with faces larger than LFW's (the insightface 112-px crop left out)."""
    found = sorted((FIXTURES / "face_recognition").glob("*.jpg")) + sorted((FIXTURES / "insightface").glob("t1.jpg"))
    if not found:
        sys.exit(f"no photos under {FIXTURES}: run scripts/setup.sh (it fetches the test photos)")
    return [(f"{p.parent.name}/{p.name}", p) for p in found]


def footprint(shape: tuple[int, ...], matrix, size: int):
    """``(H, W) float32`` paste weight of a ``size`` crop with image->crop ``matrix`` (no mask)."""
    import cv2

    from dfrec.faces.align import crop_weight

    return cv2.warpAffine(crop_weight(size), matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def psnr(a, b) -> float:
    import numpy as np

    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def scaled_faces(scales: list[float], found: list[tuple[str, Path]] | None = None):
    """Yield ``(photo, scale, image, landmarks)`` for every face of every photo (``found``: ``(name,
    path)`` pairs, default :func:`photos`) at every scale (detected once at full size, landmarks
    scaled with the photo)."""
    import cv2
    import numpy as np

    from dfrec.faces import detect_faces
    from dfrec.io import read_image

    for name, path in found or photos():
        img = read_image(path)
        faces = detect_faces(img)
        for s in scales:
            im = img if s == 1 else cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            for f in faces:
                yield name, s, im, np.asarray(f.landmarks, np.float64) * s


def round_trip(scales: list[float], found: list[tuple[str, Path]] | None = None) -> list[dict]:
    """Table 1's rows: one per face and scale, PSNR of each interpolation's round trip."""
    import numpy as np

    from dfrec.faces import align_face, paste_back
    from dfrec.faces.align import crop_scale

    rows = []
    for name, s, im, lm in scaled_faces(scales, found):
        a = align_face(im, lm, size=224)
        inside = footprint(im.shape, a.matrix, 224) >= 0.999
        if inside.sum() < 100:
            continue
        row = {"photo": name, "scale": s, "crop_scale": round(crop_scale(a.matrix), 3)}
        for k, flag in INTERPOLATIONS.items():
            row[k] = round(psnr(paste_back(im, a.image, a.matrix, interpolation=flag)[inside], im[inside]), 2)
        rows.append(row)
    return rows


def through_recover(recoverer, scales: list[float], found: list[tuple[str, Path]] | None = None) -> list[dict]:
    """Table 2's rows: one per face and scale, the target frame against the untouched photo."""
    import numpy as np

    from dfrec.faces import paste_back
    from dfrec.faces.align import crop_scale
    from dfrec.results import paste_faces

    rows = []
    for name, s, im, lm in scaled_faces([x for x in scales if x >= 0.25], found):
        faces = recoverer.recover(im, paste=False)
        # the face whose landmarks these are: the detection nearest their centre
        centre = lm.mean(0)
        f = min(faces, key=lambda g: float(np.abs(np.asarray(g.landmarks).mean(0) - centre).sum()), default=None)
        if f is None:
            continue
        where = footprint(im.shape, f.matrix, f.forgery.shape[0]) > 0
        old = paste_back(im, f.target, f.matrix, interpolation=INTERPOLATIONS["bilinear"])
        new = paste_faces(im, [f], "target")
        old_src = paste_back(im, f.source, f.matrix, interpolation=INTERPOLATIONS["bilinear"])
        new_src = paste_faces(im, [f], "source")
        row = {"photo": name, "scale": s, "crop_scale": round(crop_scale(f.matrix), 3), "score_fake": round(f.score_fake, 3),
               "composed": f.target_weight is not None,
               "weight_above_half": None if f.target_weight is None else round(float((f.target_weight > 0.5).mean()), 3)}
        for k, frame in (("old", old), ("new", new), ("source_old", old_src), ("source_new", new_src)):
            diff = np.abs(frame.astype(int) - im.astype(int)).max(axis=2)[where]
            row[f"psnr_{k}"] = round(psnr(frame[where], im[where]), 2)
            row[f"changed_{k}"] = round(float((diff > 2).mean()), 3)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--scales", default="1,0.5,0.25,0.125", help="photo shrink factors (Table 2 uses those >= 0.25)")
    ap.add_argument("--json", default=None, help="write every row here")
    a = ap.parse_args(argv)
    import numpy as np

    from dfrec.recover import DEFAULT_CHECKPOINT, Recoverer

    scales = [float(x) for x in a.scales.split(",")]
    rt = round_trip(scales)
    print("Table 1: a face cut to its crop and pasted straight back, PSNR (dB) inside the crop's footprint")
    print(f"| crop px per photo px | faces | {' | '.join(INTERPOLATIONS)} |")
    print("|---|---|" + "---|" * len(INTERPOLATIONS))
    for lo, hi, label in BUCKETS:
        sel = [r for r in rt if lo <= r["crop_scale"] < hi]
        if sel:
            print(f"| {label} | {len(sel)} | " + " | ".join(f"{np.mean([r[k] for r in sel]):.2f}" for k in INTERPOLATIONS) + " |")

    rec = Recoverer.from_pretrained(a.checkpoint or DEFAULT_CHECKPOINT, device="cpu")
    tr = through_recover(rec, scales)
    print("\nTable 2: untouched faces through recover, the target frame against the photo (right answer: the photo)")
    print("| crop px per photo px | faces | map weight > 0.5 (share of crop) | PSNR old / new (dB) | pixels changed > 2 levels, old / new "
          "| source frame: PSNR old / new (dB) | changed, old / new |")
    print("|---|---|---|---|---|---|---|")
    for lo, hi, label in BUCKETS:
        sel = [r for r in tr if lo <= r["crop_scale"] < hi]
        if sel:
            wt = [r["weight_above_half"] for r in sel if r["weight_above_half"] is not None]
            print(f"| {label} | {len(sel)} | {np.mean(wt) if wt else float('nan'):.3f} | "
                  f"{np.mean([r['psnr_old'] for r in sel]):.2f} / {np.mean([r['psnr_new'] for r in sel]):.2f} | "
                  f"{np.mean([r['changed_old'] for r in sel]):.3f} / {np.mean([r['changed_new'] for r in sel]):.3f} | "
                  f"{np.mean([r['psnr_source_old'] for r in sel]):.2f} / {np.mean([r['psnr_source_new'] for r in sel]):.2f} | "
                  f"{np.mean([r['changed_source_old'] for r in sel]):.3f} / {np.mean([r['changed_source_new'] for r in sel]):.3f} |")
    if a.json:
        from dfrec.io import write_json_atomic

        write_json_atomic(a.json, {"checkpoint": str(a.checkpoint or DEFAULT_CHECKPOINT), "scales": scales,
                                   "round_trip": rt, "through_recover": tr})
    return 0


if __name__ == "__main__":
    sys.exit(main())
