"""Provenance records: where every file of a report came from, so it can be checked later.

Each record is a plain dict ready for JSON: the file's path (relative to the report folder
where that makes sense), its size in bytes and its SHA-256. ``model_record`` hashes every
file of a checkpoint folder (weight shards, ``config.json``, metadata); ``environment``
names the software and device that produced a result.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

from dfrec.io import sha256_file


def utc_now() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def file_record(path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"path", "bytes", "sha256"}`` of one file; ``path`` relative to ``relative_to`` if given."""
    p = Path(path)
    shown = p.relative_to(relative_to).as_posix() if relative_to is not None else str(p)
    return {"path": shown, "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def model_record(checkpoint_dir: str | os.PathLike | None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hashes of every file in a checkpoint folder (sorted by name), plus its config.

    ``checkpoint_dir`` may be ``None`` for a model built in memory; then only the config
    is recorded and ``files`` is empty.
    """
    if checkpoint_dir is None:
        return {"checkpoint": None, "files": [], "config": config or {}}
    root = Path(checkpoint_dir).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {
        "checkpoint": str(root),
        "files": [file_record(p, root) for p in files],
        "config": config or {},
    }


def environment(device: Any = None) -> dict[str, Any]:
    """Versions of dfrec, Python, torch, OpenCV and the OS, and the device used."""
    import cv2
    import numpy as np
    import torch

    from dfrec import __version__

    dev = str(device) if device is not None else None
    info: dict[str, Any] = {
        "dfrec": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "platform": platform.platform(),
        "device": dev,
    }
    if dev and dev.startswith("cuda") and torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name(torch.device(dev))
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info
