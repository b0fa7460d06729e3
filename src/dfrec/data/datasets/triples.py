"""A folder of real (forgery, source, target) triples on disk.

Format (what ``dfrec synth`` and ``dfrec data prepare`` write; anything else that follows it
works too): files side by side in one folder, named ``<name>_forgery.<ext>``,
``<name>_source.<ext>``, ``<name>_target.<ext>`` and optionally ``<name>_mask.<ext>``
(8-bit grey, 255 = pixel fully from the source), ``<ext>`` any image type. Images are
aligned face crops (resized to ``size``). An optional ``index.json`` with a ``samples``
list of ``{"name", "kind", "is_fake", "source_id", "target_id"}`` supplies the metadata;
without it ``kind`` is ``"fake"``, identities are empty and ``is_fake`` is 1.

When no mask file exists, the mask is estimated from the forgery-target difference
(:func:`difference_mask`), a standard proxy for FaceForensics++-style pairs whose target
is the pristine frame; items then carry ``mask_estimated = True``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from dfrec.data.datasets.lfw import make_identity_split
from dfrec.data.datasets.synthetic import to_tensor
from dfrec.errors import InputError
from dfrec.io import IMAGE_SUFFIXES, read_image

ROLES = ("forgery", "source", "target")


def difference_mask(forgery: np.ndarray, target: np.ndarray, threshold: float = 0.04, sigma: float = 2.0) -> np.ndarray:
    """Soft mask ``(H, W) float32`` in [0, 1] of where ``forgery`` differs from ``target``
    (both ``(H, W, 3) uint8``, pixel-aligned): mean absolute RGB difference, Gaussian-smoothed,
    scaled so a difference of ``2 × threshold`` (fraction of 255) or more gives 1."""
    d = np.abs(forgery.astype(np.float32) - target.astype(np.float32)).mean(2) / 255.0
    d = cv2.GaussianBlur(d, (0, 0), sigma)
    return np.clip((d - threshold) / threshold, 0.0, 1.0).astype(np.float32)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if size < h else cv2.INTER_CUBIC)


def scan_triples(root: str | os.PathLike) -> list[dict]:
    """Records ``{"name", "forgery", "source", "target", "mask" (or None)}`` of complete
    triples in ``root``, sorted by name (incomplete ones are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    files: dict[str, dict[str, Path]] = {}
    for f in root.iterdir():
        if f.suffix.lower() not in IMAGE_SUFFIXES or f.name.startswith("."):
            continue
        stem = f.stem
        for role in ROLES + ("mask",):
            if stem.endswith("_" + role):
                files.setdefault(stem[: -len(role) - 1], {})[role] = f
                break
    out = []
    for name in sorted(files):
        g = files[name]
        if all(r in g for r in ROLES):
            out.append({"name": name, **{r: g[r] for r in ROLES}, "mask": g.get("mask")})
    return out


class TripleFolder(Dataset):
    """Dataset over a triple folder (see the module docstring for the format).

    Items: ``forgery``, ``source``, ``target`` ``(3, size, size)`` float32 [0, 1], ``mask``
    ``(1, size, size)`` [0, 1], ``is_fake`` float, ``kind``, ``source_id``, ``target_id``,
    ``name``, ``mask_estimated`` bool. ``uint8_images``: the three images stay ``(3, size,
    size) uint8`` (as :class:`~dfrec.data.datasets.SyntheticForgeries` gives them).
    """

    def __init__(self, root: str | os.PathLike, size: int = 224, records: list[dict] | None = None,
                 uint8_images: bool = False):
        self.root = Path(root)
        self.size = int(size)
        self.uint8_images = bool(uint8_images)
        if records is None:
            records = scan_triples(self.root)
            meta = {}
            idx = self.root / "index.json"
            if idx.exists():
                try:
                    data = json.loads(idx.read_text(encoding="utf-8"))
                except json.JSONDecodeError as e:
                    raise InputError(f"{idx}: not valid JSON ({e})") from None
                meta = {s["name"]: s for s in data.get("samples", []) if "name" in s}
            for r in records:
                m = meta.get(r["name"], {})
                r["kind"] = m.get("kind", "fake")
                r["is_fake"] = float(m.get("is_fake", 0 if r["kind"] == "real" else 1))
                r["source_id"] = str(m.get("source_id", ""))
                r["target_id"] = str(m.get("target_id", ""))
            if not records:
                raise InputError(f"{self.root}: no complete <name>_forgery/_source/_target triples found")
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def split(self, split: str, seed: int = 0) -> "TripleFolder":
        """Items whose target identity falls in ``split`` (seeded 80/10/10 of the target
        identities; items without identity are split by name)."""
        keys = [r["target_id"] or r["name"] for r in self.records]
        counts: dict[str, int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        parts = make_identity_split(counts, seed=seed)
        keep = set().union(*(set(parts[s]) for s in split.split(",")))
        return TripleFolder(self.root, self.size, [r for r, k in zip(self.records, keys) if k in keep], self.uint8_images)

    def head(self, n: int) -> "TripleFolder":
        """The first ``n`` items."""
        return TripleFolder(self.root, self.size, self.records[:n], self.uint8_images)

    def __getitem__(self, index: int) -> dict:
        r = self.records[index]
        imgs = {role: _resize(read_image(r[role]), self.size) for role in ROLES}
        if r["mask"] is not None:
            m = read_image(r["mask"])[..., 0].astype(np.float32) / 255.0
            mask = _resize(m, self.size).astype(np.float32)
            estimated = False
        elif r["is_fake"] == 0:
            mask, estimated = np.zeros((self.size, self.size), np.float32), False
        else:
            mask, estimated = difference_mask(imgs["forgery"], imgs["target"]), True
        return {
            **{role: to_tensor(imgs[role], self.uint8_images) for role in ROLES},
            "mask": torch.from_numpy(np.ascontiguousarray(mask))[None],
            "is_fake": torch.tensor(float(r["is_fake"])),
            "kind": r["kind"],
            "source_id": r["source_id"],
            "target_id": r["target_id"],
            "name": r["name"],
            "mask_estimated": estimated,
        }
