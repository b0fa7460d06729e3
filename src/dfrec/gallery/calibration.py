"""The "likely the same person" threshold of gallery search, and how it was calibrated.

A gallery candidate is labelled *likely the same person* when its similarity (IDSim of the
face and the candidate's most similar photo) reaches a threshold chosen for a stated
**false-match rate** (FMR): the fraction of comparisons of two photos of *different* people
that reach it. It is calibrated on the photos of LFW *validation* identities
(``src/dfrec/data/splits/lfw.json``; never used for training or testing): every pair of
photos of the same person is a genuine pair, every pair of photos of two different people an
impostor pair; the threshold is the smallest value that at most FMR of the impostor pairs
reach, and the true-match rate (TMR) is the fraction of genuine pairs that reach it.
``benchmarks/gallery_calibrate.py`` makes ``assets/gallery_threshold.json``.

The rate is per comparison. A search compares a face with every photo, so in a gallery of
``P`` photos about ``P x FMR`` photos of other people pass the threshold by chance per
search (:func:`expected_false_matches`); reports say so next to the verdict. The threshold
was measured on real photos: a *recovered* face is a reconstruction, usually further from
its person than a photo is, so it passes less often — for true and false matches alike.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

THRESHOLD_FILE = Path(__file__).resolve().parents[1] / "assets" / "gallery_threshold.json"

#: The false-match rate the shipped threshold is chosen for.
DEFAULT_FMR = 1e-4


@lru_cache(maxsize=4)
def _read(path: str) -> dict[str, Any] | None:
    p = Path(path)
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def load_threshold(path: str | Path | None = None) -> dict[str, Any] | None:
    """The calibration record (``threshold``, ``fmr``, ``tmr``, counts, data), or ``None``
    when the asset is missing."""
    return _read(str(path or THRESHOLD_FILE))


def pair_scores(vectors: np.ndarray, identities: Sequence[str], chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Similarities of every pair ``i < j`` of unit vectors ``(N, D)``: ``(genuine, impostor)``."""
    v = np.asarray(vectors, dtype=np.float32)
    ids = np.asarray(pd_codes(identities))
    gen, imp = [], []
    for a in range(0, len(v), chunk):
        s = v[a : a + chunk] @ v.T
        rows = np.arange(a, min(a + chunk, len(v)))
        upper = rows[:, None] < np.arange(len(v))[None, :]
        same = ids[rows][:, None] == ids[None, :]
        gen.append(s[upper & same])
        imp.append(s[upper & ~same])
    return np.concatenate(gen), np.concatenate(imp)


def pd_codes(identities: Sequence[str]) -> np.ndarray:
    """Integer codes of identity names."""
    index: dict[str, int] = {}
    return np.asarray([index.setdefault(n, len(index)) for n in identities], dtype=np.int64)


def threshold_at(impostor: np.ndarray, fmr: float) -> float:
    """The smallest score that at most a fraction ``fmr`` of the impostor scores reach."""
    s = np.sort(np.asarray(impostor))[::-1]  # in the scores' own precision: float32 stays float32
    allowed = int(np.floor(fmr * len(s)))  # impostor pairs allowed at or above the threshold
    if allowed >= len(s):
        return float(s[-1])
    # strictly above the (allowed+1)-th highest impostor score
    return float(np.nextafter(s[allowed], s.dtype.type(np.inf)))


def calibrate(vectors: np.ndarray, identities: Sequence[str], fmr: float = DEFAULT_FMR,
              table_fmrs: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5)) -> dict[str, Any]:
    """Threshold for ``fmr`` from IDSim-space unit vectors of photos and their identities,
    with the TMR it keeps and a small table over other rates (rates below one impostor pair
    are left out)."""
    gen, imp = pair_scores(vectors, identities)
    if len(gen) == 0 or len(imp) == 0:
        raise ValueError("calibration needs photos of at least two people, one of them with two photos")

    def row(f: float) -> dict[str, float]:
        t = math.ceil(threshold_at(imp, f) * 1e4) / 1e4  # stored to 4 decimals, rounded up (never more false matches)
        return {"fmr": f, "threshold": t, "tmr": round(float((gen.astype(np.float64) >= t).mean()), 4),
                "fmr_measured": float((imp.astype(np.float64) >= t).mean())}

    main = row(fmr)
    return {
        **main,
        "genuine_pairs": int(len(gen)),
        "impostor_pairs": int(len(imp)),
        "photos": int(len(vectors)),
        "identities": int(len(set(identities))),
        "genuine_mean": round(float(gen.mean()), 4),
        "impostor_mean": round(float(imp.mean()), 4),
        "table": [row(f) for f in table_fmrs if f * len(imp) >= 1],
    }


def expected_false_matches(photos: int, cal: dict[str, Any] | None = None) -> float | None:
    """About how many photos of other people pass the threshold per search in a gallery of
    ``photos`` photos (``photos x FMR``)."""
    cal = cal if cal is not None else load_threshold()
    if cal is None:
        return None
    return float(photos) * float(cal["fmr"])
