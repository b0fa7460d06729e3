"""Turning photos of known people into gallery entries: list, hash, detect, align, embed.

Two ways to say who is who:

- a folder with **one sub-folder per person** (``DIR/<name>/*.jpg``, searched recursively
  inside each person's folder; the sub-folder's name is the person's name), or
- a **CSV file** of ``path,name`` rows (a header row ``path,name`` is optional; relative
  paths are relative to the CSV's folder).

Each photo is hashed (SHA-256 of its bytes), read with :func:`dfrec.io.read_image`, its
faces detected (:func:`dfrec.faces.detect_faces`); one face is kept (the largest, or the one
nearest the centre), aligned to the 224 px crop that ``dfrec recover`` uses, and embedded
with the same identity network (:class:`dfrec.faces.identity.IdentityEncoder`), so gallery
vectors and recovered faces are compared in one space. A re-run skips every (person, file
hash) pair the gallery has already seen, including files that gave no face.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from dfrec.errors import DfrecError, InputError
from dfrec.io import to_float
from dfrec.gallery.gallery import Gallery, GalleryEntry

THUMB_SIDE = 112


@dataclass
class SourcePhoto:
    """A photo to index and the person it shows."""

    path: Path
    name: str


@dataclass
class IngestSummary:
    """Counts of one :func:`add_photos` run; ``failed`` lists ``{source, name, reason}``."""

    seen: int = 0
    added: int = 0
    already: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    persons: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.seen, "added": self.added, "already_in_gallery": self.already,
                "failed": self.failed, "persons_in_run": len(self.persons)}


def scan_folder(root: str | os.PathLike) -> tuple[list[SourcePhoto], list[str]]:
    """Photos of a one-sub-folder-per-person folder, and notes about what was left out."""
    from dfrec.io import list_images

    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: no such folder")
    photos, notes = [], []
    loose = [p for p in list_images(base, recursive=False)]
    if loose:
        notes.append(f"{len(loose)} image(s) directly in {base} left out: put each person's photos in a "
                     "sub-folder named after the person (or list them in a CSV of path,name)")
    for person in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = list_images(person)
        files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(person).parts)]
        photos += [SourcePhoto(f, person.name) for f in files]
    if not photos:
        raise InputError(f"{base}: no photos found in sub-folders (expected {base}/<person name>/<photo>.jpg)")
    return photos, notes


def read_csv(path: str | os.PathLike) -> list[SourcePhoto]:
    """Photos listed in a CSV of ``path,name`` rows."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the CSV ({e.__class__.__name__}: {e})") from e
    photos = []
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if line == 1 and [c.strip().lower() for c in row[:2]] == ["path", "name"]:
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise InputError(f"{p}, line {line}: expected 'path,name', got {','.join(row)!r}")
        f = Path(row[0].strip())
        photos.append(SourcePhoto(f if f.is_absolute() else p.parent / f, row[1].strip()))
    if not photos:
        raise InputError(f"{p}: no 'path,name' rows")
    return photos


def list_sources(source: str | os.PathLike) -> tuple[list[SourcePhoto], list[str]]:
    """A folder (sub-folder per person) or a ``.csv`` file -> photos and notes."""
    p = Path(source)
    if p.is_file() and p.suffix.lower() == ".csv":
        return read_csv(p), []
    if p.is_file():
        raise InputError(f"{p}: expected a folder with one sub-folder per person, or a .csv of path,name")
    return scan_folder(p)


def thumbnail_jpeg(crop: np.ndarray, side: int = THUMB_SIDE, quality: int = 85) -> bytes:
    """A small JPEG of an aligned face crop."""
    from PIL import Image

    im = Image.fromarray(np.asarray(crop)).resize((side, side), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FaceEmbedder:
    """Detect, align and embed faces exactly as ``dfrec recover`` embeds its crops.

    ``face``: which face of a photo with several (``largest`` or ``central``).
    """

    def __init__(self, device: str = "cpu", face: str = "largest", size: int = 224):
        import torch

        from dfrec.device import select_device
        from dfrec.faces.align import DEFAULT_MARGIN
        from dfrec.faces.identity import IdentityEncoder

        if face not in ("largest", "central"):
            raise InputError(f"face must be 'largest' or 'central', got {face!r}")
        self.device = select_device(device)
        self.face = face
        self.size = size
        self.encoder = IdentityEncoder(size=size, margin=DEFAULT_MARGIN).to(self.device).eval()
        self._torch = torch

    def crop(self, image: np.ndarray) -> tuple[np.ndarray, Any, int]:
        """The aligned crop of the chosen face, the face, and how many faces were found;
        raises :class:`dfrec.errors.NoFaceError` when there is none."""
        from dfrec.errors import NoFaceError
        from dfrec.faces import align_face, detect_faces, pick_face

        faces = detect_faces(image)
        if not faces:
            raise NoFaceError("no face found")
        f = pick_face(faces, self.face, image.shape)
        return align_face(image, f.landmarks, size=self.size).image, f, len(faces)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """Aligned crops ``(N, S, S, 3) uint8`` -> raw dlib embeddings ``(N, 128) float32``."""
        torch = self._torch
        x = to_float(torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)).to(self.device)
        with torch.inference_mode():
            return self.encoder(x).float().cpu().numpy()


def add_photos(gallery: Gallery, photos: Iterable[SourcePhoto], embedder: FaceEmbedder, batch_size: int = 32,
               on_progress: Callable[[int], None] | None = None) -> IngestSummary:
    """Index ``photos`` into ``gallery`` (skipping what it has seen); returns the counts.

    Work is committed every ``batch_size`` photos, so an interrupted run keeps what it did
    and the next run carries on.
    """
    from dfrec.io import read_image, sha256_file

    summary = IngestSummary()
    pending: list[tuple[SourcePhoto, str, int, np.ndarray, Any, int]] = []
    skipped: list[tuple[str, str, str, str]] = []

    def flush() -> None:
        if not pending and not skipped:
            return
        entries = []
        if pending:
            embs = embedder.embed(np.stack([c for _, _, _, c, _, _ in pending]))
            for (ph, sha, size, crop, face, n), e in zip(pending, embs):
                entries.append(GalleryEntry(
                    name=ph.name, source=str(ph.path.resolve()), sha256=sha, bytes=size, embedding=e,
                    thumbnail=thumbnail_jpeg(crop), box=[float(v) for v in face.box], detector=face.detector,
                    faces_in_image=n))
        rep = gallery.add(entries, skipped)
        summary.added += len(rep.added)
        summary.already += rep.already
        pending.clear()
        skipped.clear()

    for ph in photos:
        summary.seen += 1
        summary.persons.add(ph.name)
        try:
            if not ph.path.is_file():
                raise InputError("no such file")
            sha = sha256_file(ph.path)
            if gallery.known(ph.name, sha):
                summary.already += 1
                continue
            try:
                image = read_image(ph.path)
                crop, face, n = embedder.crop(image)
            except DfrecError as e:
                msg = str(e)
                reason = msg.split(": ", 1)[1] if msg.startswith(str(ph.path)) and ": " in msg else msg
                skipped.append((ph.name, sha, str(ph.path.resolve()), reason))
                summary.failed.append({"source": str(ph.path), "name": ph.name, "reason": reason})
                continue
            pending.append((ph, sha, ph.path.stat().st_size, crop, face, n))
        except (DfrecError, OSError) as e:
            summary.failed.append({"source": str(ph.path), "name": ph.name, "reason": str(e)})
        finally:
            if on_progress is not None:
                on_progress(1)
        if len(pending) >= batch_size:
            flush()
    flush()
    return summary
