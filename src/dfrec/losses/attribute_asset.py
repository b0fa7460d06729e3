"""Build the calibration asset of the ``appearance`` attribute network from aligned LFW faces.

``python scripts/build_attribute_asset.py --lfw DIR [--n 400] [--seed 0] [--out PATH]`` picks
one image from each of ``n`` random identities of the LFW *train* split
(:func:`dfrec.data.split_identities`), detects and aligns the faces with
:mod:`dfrec.faces` (default margin; enlarged bilinearly, as in the landmark caches the bundled
model was trained on, ``crop_enlarge``), and writes ``src/dfrec/assets/attribute_appearance.json``:

* ``mean_face`` — (68, 2) mean landmarks of the aligned faces in the template units of
  :mod:`dfrec.faces.align` (crop pixel ``p`` ↔ ``p / size · (2·margin + 1) − margin``); the
  attribute regions are placed from it;
* ``scales`` — per-dimension spread of the raw attribute vector over those faces (standard
  deviation, floored at 5 % of the median spread of its group), so a unit of the scaled
  vector is "one population standard deviation".

Only statistics of LFW are stored (no images). Needs dlib (detection); the training path
only reads the JSON.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from dfrec.io import to_float

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "attribute_appearance.json"


def aligned_lfw_faces(lfw_dir: str | Path, n: int, seed: int = 0, size: int = 224,
                      margin: float | None = None, enlarge: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` aligned faces of distinct LFW train identities: crops ``(n, size, size, 3)`` uint8,
    landmarks ``(n, 68, 2)``; ``enlarge``: :func:`dfrec.faces.align.align_face`'s."""
    from tqdm import tqdm

    from dfrec.data import split_identities
    from dfrec.faces.align import align_face
    from dfrec.faces.detect import detect_faces
    from dfrec.io import read_image

    root = Path(lfw_dir) / "images_deepfunneled"
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    train = split_identities("train")
    names = [x for x in names if x in train]
    rng = random.Random(seed)
    rng.shuffle(names)
    crops, lms = [], []
    bar = tqdm(total=n, desc="aligning LFW faces", unit="face")
    for name in names:
        if len(crops) >= n:
            break
        files = sorted((root / name).glob("*.jpg"))
        img = read_image(rng.choice(files))
        faces = detect_faces(img)
        if not faces:
            continue
        a = align_face(img, faces[0].landmarks, size=size, margin=margin, enlarge=enlarge)
        crops.append(a.image)
        lms.append(a.landmarks)
        bar.update(1)
    bar.close()
    return np.stack(crops), np.stack(lms)


def build_asset(lfw_dir: str | Path, n: int = 400, seed: int = 0, size: int = 224) -> dict:
    """Measure the mean face and the attribute scales (see the module docstring)."""
    import cv2

    from dfrec.faces.align import DEFAULT_MARGIN, interpolation_name
    from dfrec.losses.attribute import AppearanceAttributeNet

    margin = DEFAULT_MARGIN
    # bilinear, as the crops of the caches the bundled model trains on (Lanczos-4 raises some
    # texture scales by up to 8 %)
    enlarge = cv2.INTER_LINEAR
    crops, lms = aligned_lfw_faces(lfw_dir, n, seed, size, margin, enlarge=enlarge)
    mean_face = lms.astype(np.float64).mean(0) / size * (2 * margin + 1) - margin
    crop_lm = ((margin + mean_face) / (2 * margin + 1) * size).astype(np.float32)
    net = AppearanceAttributeNet(size, margin, landmarks=crop_lm, texture=True, calibrate=False)
    x = to_float(torch.from_numpy(crops).permute(0, 3, 1, 2))
    with torch.no_grad():
        raw = torch.cat([net.raw(x[i:i + 32]) for i in range(0, len(x), 32)]).double()
    std = raw.std(0)
    for g in net.groups.values():
        floor = 0.05 * std[g].median()
        std[g] = std[g].clamp_min(float(floor))
    return {
        "what": "calibration of dfrec.losses.attribute.AppearanceAttributeNet",
        "source": "LFW deep-funneled, train identities of dfrec's split, one image per identity "
                  "(statistics only; LFW is for research use)",
        "n_images": int(len(crops)),
        "seed": seed,
        "size": size,
        "margin": margin,
        "crop_enlarge": interpolation_name(enlarge),
        "groups": {k: [v.start, v.stop] for k, v in net.groups.items()},
        "mean_face": np.round(mean_face, 5).tolist(),
        "scales": [float(f"{v:.6g}") for v in std.tolist()],
    }
