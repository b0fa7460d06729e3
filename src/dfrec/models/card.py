"""The model card a model folder's ``config.json`` carries in ``metadata``: what the report's
"About this model" shows (:func:`dfrec.report.provenance.training_summary`).

Two fields are written here, by every script that makes a model from another (export of a
training run, a grafted score branch, a resized mask ratio, averaged weights, the score branch's
fine-tune):

* ``status``: one line on where the model stands, clauses joined by ``"; "``;
* ``history``: the cumulative training history, one entry per run or composition (``date``,
  ``run``, ``device``, ``minutes``, ``images``, ``steps``, ``init_from``, ``validation``, and
  ``part`` where the run trained one part alone, e.g. ``"score_branch"``).

Each function returns a new metadata dict and leaves its argument unchanged.
"""

from __future__ import annotations

import datetime
from typing import Any

#: ``part`` of a history entry that trained the score branch alone (:mod:`dfrec.models.score_branch`)
SCORE_BRANCH = "score_branch"


def history_entry(run: str, *, device: str = "-", minutes: float | None = 0, images: int | None = 0,
                  steps: int | None = 0, init_from: str | None = None, validation: dict | None = None,
                  part: str | None = None, date: str | None = None) -> dict[str, Any]:
    """One history entry; today's date unless ``date`` (ISO) is given. The defaults describe a
    composition (no training: ``device`` "-", zero minutes, images and steps)."""
    entry: dict[str, Any] = {"date": date or datetime.date.today().isoformat(), "run": run, "device": device,
                             "minutes": minutes, "images": images, "steps": steps, "init_from": init_from,
                             "validation": validation}
    if part:
        entry["part"] = part
    return entry


def with_history(meta: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with ``entry`` appended to its ``history``."""
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    return {**meta, "history": [*history, entry]}


def with_status(meta: dict[str, Any], clause: str, replaces: str | None = None) -> dict[str, Any]:
    """``meta`` with ``clause`` appended to its ``status``. ``replaces``: an earlier clause that
    begins with these words is dropped first (with everything after it), so that a model made
    again the same way says so once."""
    head = str(meta.get("status") or "")
    if replaces:
        head = head.split(f"; {replaces}")[0]
        head = "" if head.startswith(replaces) else head
    return {**meta, "status": f"{head}; {clause}" if head else clause}


def runs_of_part(meta: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The history entries that trained ``part`` alone."""
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    return [h for h in history if isinstance(h, dict) and h.get("part") == part]
