"""Fake scores of untouched photos from outside LFW: how often the model calls a real face swapped.

The model's real/fake head learnt its "real" from LFW's deep-funnelled crops (validation: the
reals of LFW identities it never saw are called real almost always). Photos from elsewhere differ
in resolution, compression, lighting and framing. This prints the fake score of every face in the
untouched photos at hand: the face_recognition sdist's public-domain test photos and the insightface
sdist's group photo and portrait (``.cache/fixtures``, fetched by ``scripts/setup.sh``), the examples'
true source and target crops (cut from the first and the astronaut), and scikit-image's astronaut;
then how many score above the report's threshold.
With an LFW landmark cache (``--cache``), a second table: held-out LFW reals (the gate's set,
validation identities) as they are and after one degradation each (JPEG, noise, blur,
resizing, sharpening, brightness, contrast), to see which of them the score mistakes for a swap.

Usage::

    python benchmarks/real_photo_scores.py [--checkpoint DIR] [--threshold 0.5] [--cache .cache/lfw_index] [--no-lfw] [--round-trips] [--json]

``scripts/accept_model.py`` runs it (``--no-lfw --json``) on the candidate and the bundled model:
a candidate that calls more of these photos swapped than the bundled model, by more than one, is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"
MORE_FIXTURES = ROOT / ".cache" / "fixtures" / "insightface"


def real_photos() -> list[tuple[str, object]]:
    """(name, path or array) of every untouched photo at hand."""
    from skimage import data

    found: list[tuple[str, object]] = [(p.name, p) for p in sorted(FIXTURES.glob("*.jpg"))]
    found += [(f"insightface/{p.name}", p) for p in sorted(MORE_FIXTURES.glob("*")) if p.suffix in (".jpg", ".png")]
    for ex in sorted((ROOT / "examples").iterdir()):
        for role in ("true_source", "true_target"):
            if (ex / f"{role}.png").exists():
                found.append((f"{ex.name}/{role}.png", ex / f"{role}.png"))
    return found + [("skimage astronaut", data.astronaut())]


def photo_scores(recoverer, transform=None) -> list[dict]:
    """``{"photo", "face", "score_fake"}`` of every face in :func:`real_photos`, through the
    recover path (detection, alignment, the model) of ``recoverer`` (a ``Recoverer``); each photo
    first through ``transform(picture) -> picture`` when given."""
    from dfrec.io import read_image

    rows = []
    for name, src in real_photos():
        image = read_image(src) if isinstance(src, Path) else src
        if transform is not None:
            image = transform(image)
        for k, face in enumerate(recoverer.recover_image(image).faces):
            rows.append({"photo": name, "face": k + 1, "score_fake": round(face.score_fake, 3)})
    return rows


#: the whole-picture re-encodings of ``--round-trips``: (codec, quality)
ROUND_TRIPS = tuple((codec, q) for codec in ("jpeg", "webp") for q in (90, 70, 50, 30))


def picture_round_trips() -> dict[str, object]:
    """name (``"JPEG 90"``) -> ``f(picture (H, W, 3) uint8 RGB)``: the whole-picture re-encodings
    ``--round-trips`` scores each photo after too (a site re-encodes the picture, not the face's
    crop): JPEG and WebP at quality 90, 70, 50 and 30."""
    from dfrec.data.synth.augment import compress
    from dfrec.results import LOSSY_CODECS

    return {f"{LOSSY_CODECS[c]} {q}": (lambda a, c=c, q=q: compress(a, q, c)) for c, q in ROUND_TRIPS}


def round_trip_scores(recoverer) -> list[dict]:
    """``{"round_trip", "photo", "face", "score_fake"}`` of every face found in every photo of
    :func:`real_photos` after each of :func:`picture_round_trips`."""
    return [{"round_trip": trip, **row} for trip, fn in picture_round_trips().items()
            for row in photo_scores(recoverer, fn)]


def degradations() -> dict[str, object]:
    """name -> function of an (S, S, 3) uint8 RGB crop. JPEG is coded from RGB (before 2026-12-07 the
    crop went in as if BGR, so its chroma was subsampled with red and blue swapped); the H.264 rows
    (the crop as the last frame of an 8-frame clip through libx264, :func:`dfrec.x264.clip_round_trip`)
    are there where libx264 is found."""
    import cv2

    from dfrec.data.synth.augment import h264, jpeg, webp
    from dfrec.x264 import find_library

    def resized(a, f, q=None):
        s = a.shape[0]
        small = cv2.resize(a, (int(s * f), int(s * f)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small if q is None else jpeg(small, q), (s, s), interpolation=cv2.INTER_CUBIC)

    def sharpen(a, amount):
        b = cv2.GaussianBlur(a, (0, 0), 1.5).astype(np.float32)
        return np.clip(a.astype(np.float32) * (1 + amount) - b * amount, 0, 255).astype(np.uint8)

    def noise(a, var):
        return np.clip(a + np.random.default_rng(0).normal(0, var ** 0.5, a.shape), 0, 255).astype(np.uint8)

    video = {"H.264 CRF 28": lambda a: h264(a, 28), "H.264 CRF 40": lambda a: h264(a, 40)} if find_library() else {}
    return {
        "as they are": lambda a: a,
        "JPEG quality 90": lambda a: jpeg(a, 90), "JPEG quality 70": lambda a: jpeg(a, 70),
        "JPEG quality 50": lambda a: jpeg(a, 50), "JPEG quality 30": lambda a: jpeg(a, 30),
        "WebP quality 70": lambda a: webp(a, 70), "WebP quality 30": lambda a: webp(a, 30),
        **video,
        "Gaussian noise, variance 10": lambda a: noise(a, 10), "Gaussian noise, variance 30": lambda a: noise(a, 30),
        "Gaussian blur, sigma 1": lambda a: cv2.GaussianBlur(a, (0, 0), 1.0),
        "half size and back": lambda a: resized(a, 0.5), "half size, JPEG 50, back": lambda a: resized(a, 0.5, 50),
        "sharpened (unsharp mask 1.0)": lambda a: sharpen(a, 1.0),
        "brighter (+30)": lambda a: np.clip(a.astype(int) + 30, 0, 255).astype(np.uint8),
        "contrast x1.3": lambda a: np.clip((a.astype(np.float32) - 128) * 1.3 + 128, 0, 255).astype(np.uint8),
    }


def lfw_reals_table(model, cache: str, threshold: float, n: int = 96) -> list[dict]:
    """Fake scores of the held-out LFW reals (``n // 2`` of them) under each degradation."""
    import torch

    from dfrec.train.heldout import heldout_sets
    from dfrec.train.setup import data_loader, to_device

    reals = heldout_sets(cache, n)["real"]
    x = to_device(next(iter(data_loader(reals, batch_size=len(reals), shuffle=False))), torch.device("cpu"))["forgery"]
    crops = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    rows = []
    with torch.no_grad():
        for name, f in degradations().items():
            t = torch.from_numpy(np.stack([f(a) for a in crops])).permute(0, 3, 1, 2).float() / 255
            p = torch.sigmoid(model(t)["logit"].float())
            rows.append({"degradation": name, "faces": len(crops), "mean_score_fake": round(float(p.mean()), 3),
                         "above": round(float((p > threshold).float().mean()), 3)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--threshold", type=float, default=0.5, help="the report's 'likely swapped' threshold")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "lfw_index"),
                    help="LFW landmark cache for the second table (skipped when absent)")
    ap.add_argument("--no-lfw", action="store_true", help="the photos only, not the LFW table")
    ap.add_argument("--round-trips", action="store_true",
                    help="also each photo re-encoded whole as JPEG and WebP at quality 90, 70, 50 and 30 (where a "
                         "candidate's false alarms on untouched photos show; accept_model.py does not count them)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from dfrec.recover import Recoverer

    rec = Recoverer.from_pretrained(a.checkpoint, device=a.device)
    rows = photo_scores(rec)
    above = [r for r in rows if r["score_fake"] > a.threshold]
    lfw = lfw_reals_table(rec.model, a.cache, a.threshold) if Path(a.cache).exists() and not a.no_lfw else []
    trips = round_trip_scores(rec) if a.round_trips else []
    trips_above = [r for r in trips if r["score_fake"] > a.threshold]
    if a.json:
        doc = {"threshold": a.threshold, "faces": rows, "above": len(above), "lfw_reals": lfw}
        if a.round_trips:
            doc.update(round_trips=trips, round_trips_above=len(trips_above),
                       round_trips_mean_score=round(float(np.mean([r["score_fake"] for r in trips])), 4))
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{'photo':42s} face  fake score")
    for r in rows:
        flag = "  likely swapped (wrong: the photo is untouched)" if r["score_fake"] > a.threshold else ""
        print(f"{r['photo']:42s} {r['face']:4d}  {r['score_fake']:.3f}{flag}")
    print(f"{len(above)} of {len(rows)} untouched faces score above {a.threshold}")
    if trips:
        print(f"re-encoded whole ({', '.join(picture_round_trips())}): {len(trips_above)} of {len(trips)} faces above "
              f"{a.threshold}, mean fake score {np.mean([r['score_fake'] for r in trips]):.3f}" + "".join(f"\n  {r['round_trip']:8s} {r['photo']:42s} face {r['face']}  {r['score_fake']:.3f}"
                                         for r in trips_above))
    if lfw:
        print(f"\nheld-out LFW reals ({lfw[0]['faces']} faces of validation identities), one degradation at a time")
        print(f"{'degradation':32s} mean fake score  above {a.threshold}")
        for r in lfw:
            print(f"{r['degradation']:32s} {r['mean_score_fake']:15.3f}  {r['above']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
