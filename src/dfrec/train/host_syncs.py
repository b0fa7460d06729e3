"""Counting the operations that make the host wait for a GPU (CUDA's sync debug mode).

A training step that reads a value back (``.item()``, ``bool(tensor)``, a blocking copy to or
from the GPU) stops the host from queueing the next step while the GPU works. The loop probes
one step of a GPU run with this and logs the count, so a timed run says whether its steps are
free of syncs (docs/training.md, "Host syncs per step").
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

PROBE_STEP = 3
"""The loop probes the third step it runs: after the first (compilation) and a second (warm-up)."""


@contextmanager
def counting_host_syncs(device: torch.device) -> Iterator[list[str]]:
    """Inside the block, CUDA's sync debug mode warns on each synchronising operation; the
    yielded list holds, once the block ends, one ``file.py:line`` per sync (the Python line that
    made it). On other devices it stays empty and nothing is changed. The debug mode and the
    warning filters are restored afterwards.
    """
    found: list[str] = []
    if device.type != "cuda":
        yield found
        return
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    for w in caught:
        if "synchroniz" in str(w.message).lower():
            found.append(f"{Path(w.filename).name}:{w.lineno}")
        else:  # any other warning goes on as if the block had not caught it
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def describe(found: list[str], limit: int = 3) -> str:
    """``"0"`` or ``"3 (loop.py:402 ×1; swa_utils.py:287 ×2)"``: the count and where they came from."""
    if not found:
        return "0"
    kinds = sorted(set(found), key=found.index)
    shown = "; ".join(f"{k} ×{found.count(k)}" for k in kinds[:limit])
    more = f"; {len(kinds) - limit} more kinds" if len(kinds) > limit else ""
    return f"{len(found)} ({shown}{more})"
