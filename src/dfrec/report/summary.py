"""The batch index: ``summary.json`` and ``summary.html`` at the top of an output folder.

One entry per processed input (its report folder, kind, number of faces or tracks, highest
fake score, for a video also its worst single frame's, ``result.json`` hash) and one per input
that could not be processed, with the reason.

:func:`merged_summary` builds the index from the result folders on disk, not from one run's
memory: a rerun, a resumed run or a run that processed nothing lists every result the
folder holds (one entry per result folder, identified by its input's SHA-256), and keeps
earlier failures that no later run resolved.
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
    entry = {
        "input": result["input"]["path"],
        "sha256": result["input"]["sha256"],
        "kind": result["input"]["kind"],
        "folder": rel,
        "faces": len(faces),
        "max_score_fake": max((float(f["score_fake"]) for f in faces), default=0.0),
        "scores_fake": [float(f["score_fake"]) for f in faces],
        # per face, the codes of what makes its recovery less reliable (dfrec.results.input_caveats)
        "caveats": [[c["code"] for c in f.get("caveats", [])] for f in faces],
        "result_json": file_record(folder / "result.json", out_root),
        "created_utc": result.get("created_utc"),
        "settings": result.get("settings"),
    }
    inp = result["input"]
    meta = inp.get("metadata") or {}
    # what the file is and what it says wrote it, to spot an editor or an app across a batch
    entry["format"] = inp.get("format") or inp.get("codec")
    entry["software"] = meta.get("Software") or meta.get("XMP CreatorTool")
    if inp["kind"] == "video" and faces and all("score_fake_max" in f for f in faces):
        # a track's score_fake is its mean over frames: a swap in a few frames shows here
        entry["max_score_fake_frame"] = max(float(f["score_fake_max"]) for f in faces)
    return entry


def merged_summary(
    store: Any, failed: Sequence[dict[str, str]], attempted: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """``(entries, failed)`` for the whole output folder of ``store`` (a
    :class:`dfrec.report.store.ResultStore`): an entry per result folder whose files match
    its ``result.json`` (one that does not is listed as failed, with the mismatch), this run's
    ``failed``, and the failures of the ``summary.json`` found when the store opened, for
    inputs not in ``attempted`` (this run's input paths) and still without a result."""
    root = Path(store.root)
    entries, bad = [], []
    for folder, result, problems in store.results():
        if problems or "input" not in result:
            rel = folder.relative_to(root).as_posix()
            bad.append({"input": rel, "reason": f"result folder does not match its result.json ({problems[0]})"
                        if problems else "result.json without an input record"})
            continue
        try:
            entries.append(summary_entry(root, folder, result))
        except (KeyError, TypeError, ValueError, AttributeError):  # a result.json edited by hand
            bad.append({"input": folder.relative_to(root).as_posix(),
                        "reason": "result.json lacks fields every dfrec result has"})
    done_paths = {e["input"] for e in entries}
    tried = {str(Path(a).resolve()) for a in attempted} | {str(a) for a in attempted}
    prev = getattr(store, "previous_index", None) or {}
    earlier = [f for f in prev.get("failed", []) if isinstance(f, dict) and {"input", "reason"} <= f.keys()]
    now = {f["input"] for f in failed}
    kept = []
    for f in earlier:
        p = f["input"]
        resolved = str(Path(p).resolve())
        if p in now or p in tried or resolved in tried or p in done_paths or resolved in done_paths:
            continue
        if f["reason"].startswith("result folder does not match"):
            continue  # re-checked above on every run
        kept.append(f)
    return entries, [*failed, *bad, *kept]


def write_summary(
    out_root: str | os.PathLike,
    entries: Sequence[dict[str, Any]],
    failed: Sequence[dict[str, str]],
    settings: dict[str, Any],
    model: dict[str, Any] | None = None,
    ignored: Sequence[dict[str, str]] = (),
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``summary.json`` and ``summary.html`` in ``out_root``; returns the summary dict.

    ``entries`` come from :func:`summary_entry`; ``failed`` holds ``{"input", "reason"}``,
    ``ignored`` the files a folder scan passed over (same shape), ``run`` counts of the run
    that wrote it (``settings`` and ``model`` are that run's too; each entry has its own).
    """
    root = Path(out_root)
    summary = {
        "dfrec_version": __version__,
        "created_utc": utc_now(),
        "settings": settings,
        "model": {"checkpoint": (model or {}).get("checkpoint"), "files": (model or {}).get("files", []),
                  "dlib_files": (model or {}).get("dlib_files", [])},
        "processed": len(entries),
        "failed_count": len(failed),
        "results": list(entries),
        "failed": list(failed),
        "ignored": list(ignored),
    }
    if run is not None:
        summary["last_run"] = {"created_utc": summary["created_utc"], **run}
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
