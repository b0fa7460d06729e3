"""Build ``examples/``: a few face swaps made by dfrec's own synthesiser from public-domain faces.

Each example is a full photograph whose face was replaced by another person's face with
dfrec's landmark swap (``dfrec.data.synth``, kind ``swap``), so ``dfrec recover`` has to
find the face itself. Written per example: ``forgery.png`` (the whole picture),
``true_source.png`` / ``true_target.png`` (the two people's aligned 224×224 crops: the
ground truth that recovery should approach), ``mask.png`` (where source pixels sit in the
aligned crop), ``README.md`` (provenance and licence) and ``meta.json`` (seed, settings,
SHA-256 of every file).

Faces come from registry packages only: the ``face_recognition==1.3.0`` sdist's test
images (fetched into ``.cache/fixtures/face_recognition`` by ``scripts/fetch_fixtures.py``)
and scikit-image's ``data.astronaut()``.

Usage: ``python scripts/make_examples.py [--out examples] [--max-side 400]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"

#: The examples were made with bilinear enlargement and paste-back (dfrec's default until
#: 2026-12-06, Lanczos-4 since), kept here: a rebuild (checked 2026-12-06) gives the committed
#: true source, true target and mask byte for byte; the forgery pictures differ by up to 3–9 grey
#: levels on 2–7 % of their pixels, as paste-back's edge handling has changed since they were made.
EXAMPLE_INTERPOLATION = cv2.INTER_LINEAR
PROVENANCE = {
    "obama": ("Barack Obama", "`tests/test_images/obama.jpg` in the `face_recognition==1.3.0` sdist (PyPI)"),
    "obama2": ("Barack Obama", "`tests/test_images/obama2.jpg` in the `face_recognition==1.3.0` sdist (PyPI)"),
    "obama3": ("Barack Obama", "`tests/test_images/obama3.jpg` in the `face_recognition==1.3.0` sdist (PyPI)"),
    "biden": ("Joe Biden", "`tests/test_images/biden.jpg` in the `face_recognition==1.3.0` sdist (PyPI)"),
    "astronaut": ("Eileen Collins (NASA astronaut)", "`skimage.data.astronaut()` in scikit-image (PyPI)"),
}
LICENCE = {
    "astronaut": "Public domain: NASA photograph (scikit-image lists it as public domain, "
                 "https://images.nasa.gov is the original source).",
}
DEFAULT_LICENCE = ("Official US-government portrait photograph (a work of the US federal government, public "
                   "domain), shipped as a test image in the MIT-licensed `face_recognition` package by Adam Geitgey.")

#: (example name, source face, target photo, seed)
EXAMPLES = [
    ("obama_on_biden", "obama", "biden", 1),
    ("biden_on_obama", "biden", "obama2", 2),
    ("obama_on_astronaut", "obama3", "astronaut", 3),
]


def load(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a named public-domain face photo."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    from dfrec.io import read_image

    path = FIXTURES / f"{name}.jpg"
    if not path.exists():
        sys.exit(f"{path} missing: run python scripts/fetch_fixtures.py first")
    return read_image(path)


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so the long side is at most ``max_side`` pixels (area interpolation)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def frame_face(image: np.ndarray, context: float = 3.0) -> np.ndarray:
    """Cut a portrait around the largest face: a box ``context`` face-widths wide, clipped to the image."""
    from dfrec.faces import detect_faces

    faces = detect_faces(image)
    if not faces:
        return image
    x0, y0, x1, y1 = faces[0].box
    side = context * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * side
    h, w = image.shape[:2]
    l, t = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    r, b = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    return np.ascontiguousarray(image[t:b, l:r])


def paste_swap(photo: np.ndarray, sample, matrix: np.ndarray, interpolation: int | None = None) -> np.ndarray:
    """``photo`` (H, W, 3) uint8 with the swapped region of ``sample`` (a synthesised forgery of
    the photo's aligned crop, whose alignment matrix is ``matrix``) pasted back: a slightly grown,
    softened copy of the swap's own alpha, so the synthesiser's blend edge is kept and nothing else
    changes; ``interpolation`` an OpenCV ``INTER_*`` flag (None: paste-back's default)."""
    from dfrec.faces import paste_back

    grown = cv2.dilate((sample.mask > 1e-3).astype(np.uint8), np.ones((7, 7), np.uint8))
    paste_mask = np.clip(cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 2.0), 0, 1)
    return paste_back(photo, sample.forgery, matrix, mask=paste_mask, interpolation=interpolation)


def make_example(out: Path, name: str, src_name: str, tgt_name: str, seed: int, max_side: int) -> dict:
    from dfrec.data.synth import FaceCrop, SynthConfig, Synthesizer
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import sha256_file, write_image, write_json_atomic, write_text_atomic

    target_photo = shrink(frame_face(load(tgt_name)), max_side)
    source_photo = load(src_name)
    crops = {}
    for role, photo, who in (("target", target_photo, tgt_name), ("source", source_photo, src_name)):
        faces = detect_faces(photo)
        if not faces:
            raise SystemExit(f"no face found in {who}")
        a = align_face(photo, faces[0].landmarks, size=224, enlarge=EXAMPLE_INTERPOLATION)
        crops[role] = (FaceCrop(a.image, a.landmarks, identity=PROVENANCE[who][0], key=who), a)
    synth = Synthesizer(SynthConfig(), augment=False)
    sample = synth(crops["target"][0], crops["source"][0], kind="swap", rng=seed)
    forgery = paste_swap(target_photo, sample, crops["target"][1].matrix, EXAMPLE_INTERPOLATION)

    d = out / name
    write_image(d / "forgery.png", forgery)
    write_image(d / "true_source.png", sample.source)
    write_image(d / "true_target.png", sample.target)
    write_image(d / "mask.png", (np.clip(sample.mask, 0, 1) * 255 + 0.5).astype(np.uint8))
    src_who, src_from = PROVENANCE[src_name]
    tgt_who, tgt_from = PROVENANCE[tgt_name]
    readme = f"""# Example `{name}`: {src_who}'s face swapped onto {tgt_who}

A synthetic face swap made by dfrec's own synthesiser (`dfrec.data.synth.Synthesizer`,
kind `swap`: landmark piecewise-affine warp, random hull mask, LAB colour transfer,
feathered blend; seed {seed}, no augmentation), pasted back into the target's photograph
(cut to a portrait around the face and downscaled to at most {max_side} px). Rebuild with `python scripts/make_examples.py`.

| file | what it is |
|---|---|
| `forgery.png` | the whole picture: {tgt_who}'s photo with {src_who}'s inner face |
| `true_source.png` | ground truth **source** (identity pasted in): {src_who}, aligned 224×224 crop |
| `true_target.png` | ground truth **target** (person originally in the picture): {tgt_who}, aligned 224×224 crop |
| `mask.png` | where source pixels sit in the target's aligned crop (white = source) |
| `meta.json` | seed, settings, SHA-256 of each file |

Try: `dfrec recover examples/{name}/forgery.png -o results/{name}` and compare the
recovered source and target with `true_source.png` and `true_target.png`.

## Provenance and licence

- Source face ({src_who}): {src_from}. {LICENCE.get(src_name, DEFAULT_LICENCE)}
- Target photo ({tgt_who}): {tgt_from}. {LICENCE.get(tgt_name, DEFAULT_LICENCE)}

This image is a deliberately made forgery for testing forensic software; it does not
depict a real event.
"""
    write_text_atomic(d / "README.md", readme)
    found = detect_faces(forgery)
    files = ["forgery.png", "true_source.png", "true_target.png", "mask.png", "README.md"]
    meta = {
        "name": name,
        "source": {"name": src_name, "person": src_who, "from": src_from},
        "target": {"name": tgt_name, "person": tgt_who, "from": tgt_from},
        "kind": sample.kind,
        "seed": seed,
        "synth_info": sample.info,
        "max_side": max_side,
        "face_box_in_forgery": [round(float(v), 1) for v in found[0].box] if found else None,
        "files": {f: sha256_file(d / f) for f in files},
    }
    write_json_atomic(d / "meta.json", meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "examples"), help="output folder (default: examples/)")
    ap.add_argument("--max-side", type=int, default=360, help="long side of the forgery pictures in pixels")
    args = ap.parse_args(argv)
    out = Path(args.out)
    total = 0
    for name, src, tgt, seed in EXAMPLES:
        meta = make_example(out, name, src, tgt, seed, args.max_side)
        size = sum((out / name / f).stat().st_size for f in list(meta["files"]) + ["meta.json"])
        total += size
        print(f"{name}: {src} -> {tgt}, face found in forgery: {meta['face_box_in_forgery'] is not None}, {size / 1e3:.0f} kB")
    print(f"total {total / 1e6:.2f} MB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
