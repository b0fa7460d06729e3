"""Writing synthesised samples for people to look at: PNG files per sample, a JSON and a
CSV index, and a contact sheet (one row per sample: forgery | source | target | mask).

The file layout is the *triple folder* format read back by
:class:`dfrec.data.datasets.triples.TripleFolder`: ``<name>_forgery.png``,
``<name>_source.png``, ``<name>_target.png``, ``<name>_mask.png`` (8-bit, 255 = all source)
side by side, plus ``index.json`` (list of per-sample records under ``"samples"``).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from dfrec.data.synth.types import Sample
from dfrec.io import to_uint8, write_image, write_json_atomic, write_text_atomic

ROLES = ("forgery", "source", "target", "mask")
CSV_FIELDS = ("name", "kind", "is_fake", "source_id", "target_id", "source_key", "target_key", "mask_mean", "info")


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` float mask in [0, 1] → uint8 0..255."""
    return to_uint8(np.asarray(mask, np.float32))


def write_sample(out: str | os.PathLike, name: str, s: Sample) -> dict:
    """Write one sample's four PNGs into ``out``; return its index record."""
    out = Path(out)
    write_image(out / f"{name}_forgery.png", s.forgery)
    write_image(out / f"{name}_source.png", s.source)
    write_image(out / f"{name}_target.png", s.target)
    write_image(out / f"{name}_mask.png", mask_to_uint8(s.mask))
    return {
        "name": name,
        "kind": s.kind,
        "is_fake": int(s.is_fake),
        "source_id": s.source_id,
        "target_id": s.target_id,
        "source_key": s.source_key,
        "target_key": s.target_key,
        "mask_mean": round(float(np.mean(s.mask)), 5),
        "info": s.info,
    }


def write_index(out: str | os.PathLike, records: Sequence[dict], meta: dict) -> tuple[Path, Path]:
    """Write ``index.json`` (``meta`` + ``samples``) and ``index.csv`` into ``out``."""
    out = Path(out)
    j = write_json_atomic(out / "index.json", {**meta, "samples": list(records)})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        row = dict(r)
        row["info"] = ";".join(f"{k}={v}" for k, v in _flat(r.get("info", {})).items())
        w.writerow(row)
    c = write_text_atomic(out / "index.csv", buf.getvalue())
    return j, c


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def contact_sheet(samples: Sequence[Sample], tile: int = 112, rows_per_column: int = 16) -> np.ndarray:
    """One row per sample (forgery | source | target | mask, ``tile`` px each, the kind
    written on the forgery); long lists wrap into side-by-side column groups.
    Returns ``(H, W, 3) uint8`` RGB."""
    if not samples:
        raise ValueError("no samples for a contact sheet")
    rows = []
    for s in samples:
        tiles = []
        for role in ROLES:
            img = getattr(s, role)
            if role == "mask":
                img = np.repeat(mask_to_uint8(img)[..., None], 3, axis=2)
            t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
            if role == "forgery":
                t = np.ascontiguousarray(t)
                cv2.putText(t, s.kind, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(t, s.kind, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    n_groups = (len(rows) + rows_per_column - 1) // rows_per_column
    height = min(len(rows), rows_per_column) * tile
    groups = []
    for g in range(n_groups):
        col = rows[g * rows_per_column:(g + 1) * rows_per_column]
        block = np.full((height, 4 * tile, 3), 255, np.uint8)
        block[: len(col) * tile] = np.concatenate(col, axis=0)
        groups.append(block)
        if g + 1 < n_groups:
            groups.append(np.full((height, 8, 3), 255, np.uint8))
    return np.concatenate(groups, axis=1)


def write_contact_sheet(path: str | os.PathLike, samples: Sequence[Sample], **kw) -> Path:
    """Write :func:`contact_sheet` as a PNG."""
    return write_image(path, contact_sheet(samples, **kw))
