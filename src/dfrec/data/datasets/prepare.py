"""Shared steps of the dataset converters (FaceForensics++, CelebaMegaFS, FFHQ-E4S): detect
and align faces with dfrec's face toolkit, keep forgery and pristine target pixel-registered,
and write the result as a triple folder (see :mod:`dfrec.data.datasets.triples`).

The forgery is aligned with the *target's* landmarks (the pristine image of the same
frame / the same CelebA-HQ/FFHQ picture), so forgery and target stay registered pixel for
pixel; the source is aligned on its own landmarks. Needs dlib (the face toolkit); the
resulting folders do not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfrec.data.writer import mask_to_uint8
from dfrec.io import write_image, write_json_atomic


@dataclass
class TripleWriter:
    """Collects triples into ``out``: PNG files + ``index.json`` (+ ``failures`` listed in it)."""

    out: Path
    size: int = 224
    records: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    _detector: object = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    def detect(self, image: np.ndarray):
        """Landmarks ``(68, 2)`` of the central/largest face of ``image``, or None."""
        from dfrec.data.cache import choose_face
        from dfrec.faces.detect import FaceDetector

        if self._detector is None:
            self._detector = FaceDetector()
        face = choose_face(self._detector.detect(image), image.shape)
        return None if face is None else face.landmarks

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        from dfrec.faces.align import align_face

        return align_face(image, landmarks, size=self.size).image

    def add(self, name: str, forgery: np.ndarray, target: np.ndarray, source: np.ndarray,
            kind: str, source_id: str, target_id: str, mask: np.ndarray | None = None,
            what: str = "") -> bool:
        """Align and write one triple from full images (forgery and target registered).
        Returns False (and records a failure) when a face is missing."""
        lt = self.detect(target)
        if lt is None:
            self.failures.append({"name": name, "reason": f"no face in target {what}".strip()})
            return False
        ls = self.detect(source)
        if ls is None:
            self.failures.append({"name": name, "reason": f"no face in source {what}".strip()})
            return False
        if forgery.shape[:2] != target.shape[:2]:
            import cv2

            forgery = cv2.resize(forgery, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_AREA)
        write_image(self.out / f"{name}_forgery.png", self.align(forgery, lt))
        write_image(self.out / f"{name}_target.png", self.align(target, lt))
        write_image(self.out / f"{name}_source.png", self.align(source, ls))
        if mask is not None:
            m = mask if mask.ndim == 3 else np.repeat(mask[..., None], 3, axis=2)
            write_image(self.out / f"{name}_mask.png", self.align(m, lt)[..., 0])
        self.records.append({"name": name, "kind": kind, "is_fake": 0 if kind == "real" else 1,
                             "source_id": source_id, "target_id": target_id})
        return True

    def add_real(self, name: str, image: np.ndarray, identity: str, what: str = "") -> bool:
        """A pristine face as a ``real`` triple (forgery = source = target, mask 0)."""
        lm = self.detect(image)
        if lm is None:
            self.failures.append({"name": name, "reason": f"no face {what}".strip()})
            return False
        crop = self.align(image, lm)
        for role in ("forgery", "source", "target"):
            write_image(self.out / f"{name}_{role}.png", crop)
        write_image(self.out / f"{name}_mask.png", mask_to_uint8(np.zeros(crop.shape[:2], np.float32)))
        self.records.append({"name": name, "kind": "real", "is_fake": 0, "source_id": identity, "target_id": identity})
        return True

    def finish(self, meta: dict) -> Path:
        """Write ``index.json`` (meta, samples, failures); return the folder."""
        write_json_atomic(self.out / "index.json", {**meta, "samples": self.records, "failures": self.failures})
        return self.out


def find_by_id(folder: str | os.PathLike, ident: str) -> Path | None:
    """The image in ``folder`` whose stem equals ``ident`` as a number (``12`` matches
    ``12.jpg`` and ``00012.png``) or as text."""
    from dfrec.io import IMAGE_SUFFIXES

    folder = Path(folder)
    for suf in IMAGE_SUFFIXES:
        for stem in {ident, ident.lstrip("0") or "0", f"{int(ident):05d}" if ident.isdigit() else ident}:
            p = folder / f"{stem}{suf}"
            if p.exists():
                return p
    return None
