"""Gallery candidates in a report: search each face's recovered source and target (and the
face as seen, for comparison) in a gallery, write the candidates' thumbnails beside the
report, and describe the gallery and its threshold in ``result.json``. Each candidate names
its gallery photo by path (``gallery_file``) and by the SHA-256 the gallery stored when the
photo was added (``gallery_file_sha256``), so the photo can be checked later."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfrec.io import write_bytes_atomic

#: What is searched, in the order shown: the two recovered faces, then the face as seen.
PROBES = ("source", "target", "forgery")


def about(x: Any) -> str:
    """A small expected count as read: one significant digit below 1 (0.0014 -> '0.001', 0.26 ->
    '0.3'), one decimal below 10, whole numbers above; ``result.json`` rounds it to 4 decimals,
    so 0 reads 'under 0.0001'."""
    x = float(x)
    if x <= 0:
        return "under 0.0001"
    if x >= 10:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.1f}"
    return f"{x:.{-math.floor(math.log10(x))}f}"


def below(same_threshold: float | None) -> str:
    """'below the 0.715 threshold' (the gallery's calibrated 'likely the same person' line)."""
    return f"below the {same_threshold:.3f} threshold" if same_threshold is not None else "below the threshold"


#: Each probe's column in a report or the web page: key, title, what it means (order shown).
GALLERY_PROBES = (
    ("source", "Recovered source", "who was pasted in"),
    ("target", "Recovered target", "who was originally in the picture"),
    ("forgery", "The face as seen", "for comparison: what a search without dfrec finds"),
)
#: The verdict of a candidate at or above the gallery's calibrated threshold.
LIKELY_TEXT = "likely the same person"


def weak_lead_text(same_threshold: float | None) -> str:
    """What a candidate under the threshold reads as: 'weak lead: below the 0.715 threshold'."""
    return f"weak lead: {below(same_threshold)}"


def no_match_text(same_threshold: float | None) -> str:
    """The head of a list with no candidate at or above the threshold."""
    return f"No likely match: every candidate is {below(same_threshold)}."


@dataclass
class CandidateColumn:
    """One probe's candidates as shown: ``rows`` pairs each candidate dict with its verdict
    (True: likely the same person, False: a weak lead, None: no calibrated threshold);
    ``none_likely``: the list is not empty and every candidate is a weak lead."""

    key: str
    title: str
    sub: str
    rows: list[tuple[dict[str, Any], bool | None]]
    none_likely: bool


def candidate_columns(matches: dict[str, list[dict[str, Any]]]) -> list[CandidateColumn]:
    """The columns of one face's gallery candidates, in :data:`GALLERY_PROBES` order (probes not
    searched are left out): what report.html and the web page both render."""
    cols = []
    for key, title, sub in GALLERY_PROBES:
        items = matches.get(key)
        if items is None:
            continue
        rows = [(c, c.get("likely_same_person")) for c in items]
        cols.append(CandidateColumn(key, title, sub, rows, bool(items) and all(v is False for _, v in rows)))
    return cols


def gallery_matches(folder: Path, prefix: str, embeddings: dict[str, np.ndarray], gallery: Any,
                    top_k: int) -> dict[str, list[dict[str, Any]]]:
    """``{probe: [candidate dict, ...]}`` for one face; thumbnails go to
    ``folder/<prefix>_gallery_<probe>_<rank>.jpg``."""
    probes = [p for p in PROBES if p in embeddings]
    found = gallery.search(np.stack([embeddings[p] for p in probes]), top_k=top_k)
    out: dict[str, list[dict[str, Any]]] = {}
    for probe, cands in zip(probes, found):
        items = []
        for c in cands:
            d = c.to_dict()
            d["gallery_file_sha256"] = gallery.photo_sha256(c.photo_id)
            thumb = gallery.thumbnail(c.photo_id)
            if thumb:
                fname = f"{prefix}_gallery_{probe}_{c.rank}.jpg"
                write_bytes_atomic(Path(folder) / fname, thumb)
                d["thumbnail"] = fname
            items.append(d)
        out[probe] = items
    return out


def gallery_record(gallery: Any, top_k: int) -> dict[str, Any]:
    """The gallery searched and the threshold used, for ``result.json``."""
    from dfrec.gallery.calibration import expected_false_matches

    info = gallery.info()
    thr = info.get("threshold")
    rec: dict[str, Any] = {
        "folder": info["folder"],
        "index_type": info["index_type"],
        "photos": info["photos"],
        "persons": info["persons"],
        "updated_utc": info["updated_utc"],
        "top_k": int(top_k),
        "similarity": "IDSim of the face and the candidate's most similar photo (centred dlib embeddings)",
    }
    if thr:
        rec["likely_same_person"] = {
            "threshold": thr["threshold"],
            "false_match_rate": thr["fmr"],
            "true_match_rate": thr["tmr"],
            "calibration": f"{thr['genuine_pairs']:,} genuine and {thr['impostor_pairs']:,} impostor photo pairs of "
                           f"{thr['identities']} LFW validation identities",
            "expected_chance_matches_per_search": round(expected_false_matches(info["photos"], thr), 4),
        }
    return rec
