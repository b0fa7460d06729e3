"""How well ``dfrec.compression.jpeg_history`` finds an earlier JPEG save in a picture's pixels.

    python benchmarks/jpeg_history_accuracy.py [--lfw ../shared/data/lfw] [--n 100] [--seed 0] [--json F]

``dfrec recover`` reads it for pictures whose file says nothing of a lossy save (a PNG, TIFF or
lossless WebP of a JPEG, a screenshot at 100 %), and for JPEGs saved again at a higher quality;
the ``jpeg_compressed`` caveat then goes by the quality it finds. ``--n`` LFW photos (every
identity folder's first, a seeded sample) are first resized by a factor of 0.93 (Lanczos), which
erases the blocks of LFW's own JPEG save, then:

- ``never``: kept as they are: a picture never saved as JPEG since (what ``found`` must not say);
- ``JPEG q``: saved once at quality q and decoded (OpenCV's libjpeg, 4:2:0, as training's round trips), then cropped by 3 px left and 5 px top (blocks
  off the picture's 8-px grid, as any crop leaves them);
- ``JPEG q1 then q2``: saved at q1, then again at the higher q2 (the file's tables say q2), then
  cropped; ``, cropped, then``: cropped between the two saves, so their blocks do not line up.

Per row: pictures, how many ``jpeg_history`` found a save in (``found``), of those how many
within 2 of the first save's quality, and the median and largest error (an error near q2 - q1:
the later save was read). About 0.1 s per picture on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))
#: (name, first quality or None, second quality or None, crop between the saves)
CASES = [("never", None, None, False)] + [(f"JPEG {q}", q, None, False) for q in (95, 90, 85, 80, 75, 70, 60, 50, 40, 30)] + [
    (f"JPEG {a} then {b}", a, b, False) for a, b in ((75, 95), (60, 95), (75, 90), (50, 85))] + [
    ("JPEG 75, cropped, then 95", 75, 95, True)]


def photos(lfw: Path, n: int, seed: int) -> list[np.ndarray]:
    """``n`` LFW photos (one per sampled person), resized by 0.93 to erase their own JPEG blocks."""
    from PIL import Image

    folder = lfw / "images_deepfunneled"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder (--lfw names the LFW folder)")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    out = []
    for person in random.Random(seed).sample(people, min(n, len(people))):
        first = sorted(person.glob("*.jpg"))[0]
        img = Image.open(first).convert("RGB")
        out.append(np.asarray(img.resize((round(img.width * 0.93), round(img.height * 0.93)), Image.LANCZOS)))
    return out


def measure(pictures: list[np.ndarray]) -> list[dict]:
    """One row per case of :data:`CASES` (see the module's docstring)."""
    from dfrec.compression import jpeg_history
    from dfrec.data.synth.augment import jpeg as jpeg_round_trip

    rows = []
    for name, first, second, crop_between in CASES:
        found, errors = 0, []
        for pic in pictures:
            x = pic if first is None else jpeg_round_trip(pic, first)
            if crop_between:
                x = x[5:, 3:]
            if second is not None:
                x = jpeg_round_trip(x, second)
            if not crop_between:
                x = x[5:, 3:]
            h = jpeg_history(x)
            if h is not None:
                found += 1
                if first is not None:
                    errors.append(abs(h["quality"] - first))
        rows.append({"case": name, "n": len(pictures), "found": found,
                     "within_2": sum(e <= 2 for e in errors) if first is not None else None,
                     "median_error": float(np.median(errors)) if errors else None,
                     "max_error": int(max(errors)) if errors else None})
        print(f"{name}: {found}/{len(pictures)}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder with images_deepfunneled/")
    ap.add_argument("--n", type=int, default=100, help="photos (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = ap.parse_args(argv)
    if a.n < 1:
        ap.error("--n must be at least 1")
    rows = measure(photos(a.lfw, a.n, a.seed))
    print("| picture | n | earlier JPEG found | within 2 of its quality | median error | largest error |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        dash = "–"
        print(f"| {r['case']} | {r['n']} | {r['found']} | {dash if r['within_2'] is None else r['within_2']} | "
              f"{dash if r['median_error'] is None else r['median_error']} | "
              f"{dash if r['max_error'] is None else r['max_error']} |")
    if a.json:
        from dfrec.io import write_json_atomic

        write_json_atomic(a.json, {"n": a.n, "seed": a.seed, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
