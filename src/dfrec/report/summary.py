"""The batch index: ``summary.json`` and ``summary.html`` at the top of an output folder.

One entry per processed input (its report folder, kind, number of faces or tracks,
highest fake score, ``result.json`` hash) and one per input that could not be processed,
with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from dfrec import __version__
from dfrec.io import write_json_atomic, write_text_atomic
from dfrec.report.html import array_data_uri, render_summary
from dfrec.report.provenance import file_record, utc_now


def summary_entry(out_root: str | os.PathLike, folder: str | os.PathLike, result: dict[str, Any]) -> dict[str, Any]:
    """One processed input's line in the summary, from its ``result.json`` dict."""
    faces = result.get("faces", [])
    folder = Path(folder)
    rel = folder.relative_to(out_root).as_posix()
    return {
        "input": result["input"]["path"],
        "sha256": result["input"]["sha256"],
        "kind": result["input"]["kind"],
        "folder": rel,
        "faces": len(faces),
        "max_score_fake": max((float(f["score_fake"]) for f in faces), default=0.0),
        "scores_fake": [float(f["score_fake"]) for f in faces],
        "result_json": file_record(folder / "result.json", out_root),
    }


def write_summary(
    out_root: str | os.PathLike,
    entries: Sequence[dict[str, Any]],
    failed: Sequence[dict[str, str]],
    settings: dict[str, Any],
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``summary.json`` and ``summary.html`` in ``out_root``; returns the summary dict.

    ``entries`` come from :func:`summary_entry`; ``failed`` holds ``{"input", "reason"}``.
    """
    root = Path(out_root)
    summary = {
        "dfrec_version": __version__,
        "created_utc": utc_now(),
        "settings": settings,
        "model": {"checkpoint": (model or {}).get("checkpoint"), "files": (model or {}).get("files", [])},
        "processed": len(entries),
        "failed_count": len(failed),
        "results": list(entries),
        "failed": list(failed),
    }
    thumbs = {}
    for e in entries:
        for prefix in ("face1", "track1"):
            p = root / e["folder"] / f"{prefix}_forgery.png"
            if p.is_file():
                with Image.open(p) as im:
                    thumbs[e["folder"]] = array_data_uri(im.convert("RGB"), side=96)
                break
    write_json_atomic(root / "summary.json", summary)
    write_text_atomic(root / "summary.html", render_summary(summary, thumbs))
    return summary
