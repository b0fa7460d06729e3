"""Figure grids like the paper's Figs 3–5: one row per sample, columns
forgery | recovered source | true source | recovered target | true target | map."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from dfrec.io import to_uint8, write_image

COLUMNS = ("forgery", "recovered source", "true source", "recovered target", "true target", "map")


def _to_uint8(t: torch.Tensor, size: int) -> np.ndarray:
    """(C, H, W) in [0, 1] (C = 1 or 3) -> (size, size, 3) uint8."""
    t = t.detach().float().cpu().clamp(0, 1)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    arr = to_uint8(t.permute(1, 2, 0).numpy())
    if arr.shape[:2] != (size, size):
        arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA)
    return arr


def sample_grid(rows: Sequence[Sequence[torch.Tensor | None]], columns: Sequence[str] = COLUMNS,
                cell: int = 128, pad: int = 2, header: int = 22, labels: Sequence[str] | None = None) -> np.ndarray:
    """Compose a labelled grid ``(H, W, 3) uint8``.

    ``rows``: per sample, one tensor per column, ``(3, H, W)`` or ``(1, H, W)`` in [0, 1]
    (None draws a grey cell). ``labels``: optional text per row (drawn on its first cell).
    """
    n_cols = len(columns)
    h = header + len(rows) * (cell + pad) + pad
    w = n_cols * (cell + pad) + pad
    canvas = np.full((h, w, 3), 255, np.uint8)
    for j, name in enumerate(columns):
        x = pad + j * (cell + pad)
        scale = 0.38 if len(name) > 14 else 0.42
        cv2.putText(canvas, name, (x + 2, header - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    for i, row in enumerate(rows):
        if len(row) != n_cols:
            raise ValueError(f"row {i} has {len(row)} cells, expected {n_cols}")
        y = header + pad + i * (cell + pad)
        for j, img in enumerate(row):
            x = pad + j * (cell + pad)
            tile = np.full((cell, cell, 3), 200, np.uint8) if img is None else _to_uint8(img, cell)
            canvas[y:y + cell, x:x + cell] = tile
        if labels is not None and i < len(labels) and labels[i]:
            cv2.putText(canvas, str(labels[i])[:18], (pad + 3, y + cell - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (255, 255, 0), 1, cv2.LINE_AA)
    return canvas


def save_sample_grid(path: str | os.PathLike, rows: Sequence[Sequence[torch.Tensor | None]], **kwargs) -> Path:
    """:func:`sample_grid` written atomically as PNG to ``path``."""
    return write_image(Path(path), sample_grid(rows, **kwargs))
