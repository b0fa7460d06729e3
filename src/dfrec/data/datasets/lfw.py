"""LFW split by identity: a fixed train/val/test assignment of the 5,749 people, stored in
the repository (``dfrec/data/splits/lfw.json``), so no person appears in two splits.

How the stored file was made (:func:`make_identity_split`, seed 0, fractions 0.8/0.1/0.1):
people are grouped by image count (1, 2-9, >= 10 images) and each group is shuffled with
the seed and cut 80/10/10, so every split gets its share of people with several photos
(needed for same-person comparisons). Regenerate with ``dfrec data split LFW_DIR``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from dfrec.data.faceset import FaceSet
from dfrec.errors import ConfigError, InputError

SPLITS = ("train", "val", "test")


def lfw_people(lfw_dir: str | os.PathLike) -> dict[str, int]:
    """name -> image count for an LFW copy (``lfw_dir`` or its ``images_deepfunneled``)."""
    root = Path(lfw_dir)
    if (root / "images_deepfunneled").is_dir():
        root = root / "images_deepfunneled"
    if not root.is_dir():
        raise InputError(f"{lfw_dir}: not an LFW folder")
    return {d.name: sum(1 for f in d.iterdir() if f.suffix.lower() == ".jpg") for d in sorted(root.iterdir()) if d.is_dir()}


def make_identity_split(
    counts: dict[str, int], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict:
    """Split identities (``name -> image count``) into train/val/test, stratified by count
    (1, 2-9, >= 10 images). Returns the JSON-ready dict stored in ``splits/lfw.json``."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ConfigError(f"split fractions must be three numbers >= 0 summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    buckets = [[n for n, c in sorted(counts.items()) if lo <= c <= hi] for lo, hi in ((1, 1), (2, 9), (10, 10**9))]
    for names in buckets:
        perm = [names[i] for i in rng.permutation(len(names))]
        a = int(round(fractions[0] * len(perm)))
        b = a + int(round(fractions[1] * len(perm)))
        out["train"] += perm[:a]
        out["val"] += perm[a:b]
        out["test"] += perm[b:]
    images = {s: int(sum(counts[n] for n in out[s])) for s in SPLITS}
    return {
        "dataset": "LFW (deep-funneled)",
        "by": "identity",
        "seed": seed,
        "fractions": list(fractions),
        "stratified_by_image_count": [1, "2-9", ">=10"],
        "counts": {s: {"identities": len(out[s]), "images": images[s]} for s in SPLITS},
        **{s: sorted(out[s]) for s in SPLITS},
    }


def load_split(path: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """The identity split (``{"train": [...], "val": [...], "test": [...]}``); default: the
    LFW split shipped with dfrec."""
    if path is None:
        text = resources.files("dfrec.data").joinpath("splits/lfw.json").read_text(encoding="utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"{path}: cannot read split file ({e.strerror})") from None
    data = json.loads(text)
    missing = [s for s in SPLITS if s not in data]
    if missing:
        raise ConfigError(f"split file lacks {', '.join(missing)}")
    return {s: list(data[s]) for s in SPLITS}


def split_identities(split: str | list[str] | tuple[str, ...], path: str | os.PathLike | None = None) -> set[str]:
    """Identities of one split or several (``"train"``, ``["train", "val"]``, ``"train,val"``)."""
    names = split.split(",") if isinstance(split, str) else list(split)
    data = load_split(path)
    bad = [n for n in names if n not in SPLITS]
    if bad:
        raise ConfigError(f"unknown split {bad[0]!r} (choose from {', '.join(SPLITS)})")
    return set().union(*(data[n] for n in names))


def lfw_faces(faces: FaceSet, split: str | list[str], path: str | os.PathLike | None = None) -> FaceSet:
    """The faces of an LFW face set (cache or pack) whose identity is in ``split``."""
    return faces.select_identities(split_identities(split, path))
