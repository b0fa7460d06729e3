"""Fake scores of untouched photos from outside LFW: how often the model calls a real face swapped.

The model's real/fake head learnt its "real" from LFW's deep-funnelled crops (validation: the
reals of LFW identities it never saw are called real almost always). Photos from elsewhere differ
in resolution, compression, lighting and framing. This prints the fake score of every face in the
public-domain photos at hand: the face_recognition sdist's test photos (``.cache/fixtures``, made by
``scripts/setup.sh``), the examples' true source and target crops (cut from those photos and the
astronaut), and scikit-image's astronaut; then how many score above the report's threshold.

Usage::

    python benchmarks/real_photo_scores.py [--checkpoint DIR] [--threshold 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"


def real_photos() -> list[tuple[str, object]]:
    """(name, path or array) of every untouched photo at hand."""
    from skimage import data

    found: list[tuple[str, object]] = [(p.name, p) for p in sorted(FIXTURES.glob("*.jpg"))]
    for ex in sorted((ROOT / "examples").iterdir()):
        for role in ("true_source", "true_target"):
            if (ex / f"{role}.png").exists():
                found.append((f"{ex.name}/{role}.png", ex / f"{role}.png"))
    return found + [("skimage astronaut", data.astronaut())]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--threshold", type=float, default=0.5, help="the report's 'likely swapped' threshold")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from dfrec.io import read_image
    from dfrec.recover import Recoverer

    rec = Recoverer.from_pretrained(a.checkpoint, device=a.device)
    rows = []
    for name, src in real_photos():
        image = read_image(src) if isinstance(src, Path) else src
        for k, face in enumerate(rec.recover_image(image).faces):
            rows.append({"photo": name, "face": k + 1, "score_fake": round(face.score_fake, 3)})
    above = [r for r in rows if r["score_fake"] > a.threshold]
    if a.json:
        print(json.dumps({"threshold": a.threshold, "faces": rows, "above": len(above)}, indent=1))
        return 0
    print(f"{'photo':42s} face  fake score")
    for r in rows:
        flag = "  likely swapped (wrong: the photo is untouched)" if r["score_fake"] > a.threshold else ""
        print(f"{r['photo']:42s} {r['face']:4d}  {r['score_fake']:.3f}{flag}")
    print(f"{len(above)} of {len(rows)} untouched faces score above {a.threshold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
