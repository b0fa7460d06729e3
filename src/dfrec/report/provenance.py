"""Provenance records: where every file of a report came from, so it can be checked later.

Each record is a plain dict ready for JSON: the file's path (relative to the report folder
where that makes sense), its size in bytes and its SHA-256. ``model_record`` hashes every
file of a checkpoint folder (weight shards, ``config.json``, metadata) and dlib's model files
that shape a result too (:func:`dlib_files`: landmarks, CNN face detector, identity weights);
``environment`` names the software, thread count and device that produced a result. Hashes of
model files are cached per path, modification time and size (:func:`cached_sha256`), so a
batch hashes them once.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path
from typing import Any

from dfrec.io import sha256_file

#: SHA-256 of files already hashed in this process, by (resolved path, mtime in ns, size)
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def utc_now() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def file_record(path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"path", "bytes", "sha256"}`` of one file; ``path`` relative to ``relative_to`` if given."""
    p = Path(path)
    shown = p.relative_to(relative_to).as_posix() if relative_to is not None else str(p)
    return {"path": shown, "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def cached_sha256(path: str | os.PathLike) -> tuple[int, str]:
    """``(bytes, sha256)`` of a file, hashed once per resolved path, modification time and size."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(p)
    return st.st_size, _SHA_CACHE[key]


#: dlib's files that shape a result beside the DFREC checkpoint: role -> what the file does
DLIB_ROLES = {
    "landmarks": "68-point landmark model (shape predictor): places and aligns every face",
    "face_detector_cnn": "CNN face detector (mmod): fallback when HOG finds no face; checks weak HOG finds",
    "identity": "identity network (face-recognition ResNet): every identity similarity and distance",
}


def dlib_files(identity: bool | str | os.PathLike = True, cnn: bool = True) -> list[dict[str, Any]]:
    """Records of the dlib model files a result depends on, one per :data:`DLIB_ROLES` entry used.

    Each is ``{"role", "name", "path", "bytes", "sha256"}`` (absolute ``path``); a file that
    cannot be found gives ``{"role", "name", "path": None, "error"}`` instead. ``identity``:
    True = the default identity weights (:func:`dfrec.faces.dlib_resnet.default_model_path`,
    ``DFREC_IDENTITY_WEIGHTS`` honoured), a path = that file, False = not recorded. ``cnn``:
    whether the face detector can run dlib's CNN (the default chain does). The HOG detector
    is compiled into dlib: ``environment()["dlib"]`` names it.
    """
    from dfrec.errors import CheckpointError
    from dfrec.faces.model_files import CNN_DETECTOR, RECOGNITION, SHAPE_68, model_path

    wanted: list[tuple[str, str, Any]] = [("landmarks", SHAPE_68, lambda: model_path(SHAPE_68))]
    if cnn:
        wanted.append(("face_detector_cnn", CNN_DETECTOR, lambda: model_path(CNN_DETECTOR)))
    if identity is True:
        from dfrec.faces.dlib_resnet import default_model_path

        wanted.append(("identity", RECOGNITION, default_model_path))
    elif identity is not False:
        wanted.append(("identity", Path(identity).name, lambda: Path(identity)))
    out = []
    for role, name, locate in wanted:
        try:
            p = Path(locate()).resolve()
            size, digest = cached_sha256(p)
        except (CheckpointError, OSError) as e:
            out.append({"role": role, "name": name, "path": None, "error": str(getattr(e, "strerror", None) or e)})
            continue
        out.append({"role": role, "name": p.name, "path": str(p), "bytes": size, "sha256": digest})
    return out


def model_record(checkpoint_dir: str | os.PathLike | None, config: dict[str, Any] | None = None,
                 dlib: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Hashes of every file in a checkpoint folder (sorted by name), its config and training
    metadata, and ``dlib_files``: dlib's model files (``dlib``, default :func:`dlib_files`).

    ``checkpoint_dir`` may be ``None`` for a model built in memory; then ``files`` is empty.
    :meth:`dfrec.recover.Recoverer.model_info` gives the record of a recoverer.
    """
    dlib = dlib_files() if dlib is None else dlib
    if checkpoint_dir is None:
        return {"checkpoint": None, "files": [], "config": config or {}, "dlib_files": dlib}
    root = Path(checkpoint_dir).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    records = []
    for p in files:
        size, digest = cached_sha256(p)
        records.append({"path": p.relative_to(root).as_posix(), "bytes": size, "sha256": digest})
    return {
        "checkpoint": str(root),
        "files": records,
        "config": config or {},
        "training": training_summary(root),
        "dlib_files": dlib,
    }


#: validation numbers a report shows about the model (from its training metadata)
VALIDATION_KEYS = ("idsim_source", "idsim_target", "idsim_target_none", "idsim_target_two_people",
                   "idsim_target_none_two_people", "two_people", "psnr_source", "psnr_target", "accuracy", "samples")


#: what a report shows of each run in the model's cumulative training history
HISTORY_KEYS = ("date", "run", "device", "minutes", "images", "steps")


def training_summary(checkpoint_dir: str | os.PathLike) -> dict[str, Any]:
    """What the checkpoint's ``config.json`` metadata says about its training (empty if nothing).

    Keys (each only when recorded): ``status``, ``step``, ``images_seen``, ``command``,
    ``data_split``, ``history`` — the cumulative training history, one entry per run (``date``,
    ``run``, ``device``, ``minutes``, ``images``, ``steps``), summed in ``images_total`` and
    ``minutes_total`` —, ``validation`` — the newest validation row on held-out identities
    (``idsim_target`` = recovered vs true target, ``idsim_target_none`` = the forgery itself
    vs the true target, ...) — and ``validation_note``: what changed since training when that
    row was measured later (``scripts/revalidate_model.py``).
    """
    from dfrec.errors import CheckpointError
    from dfrec.models.checkpoint import read_config

    try:
        meta = read_config(checkpoint_dir).get("metadata", {})
    except CheckpointError:
        return {}
    if not isinstance(meta, dict):
        return {}
    val = meta.get("validation")
    last = val[-1] if isinstance(val, list) and val else val if isinstance(val, dict) else {}
    last = {str(k).removeprefix("val/"): v for k, v in (last or {}).items()}
    out: dict[str, Any] = {
        "status": meta.get("status"),
        "step": meta.get("checkpoint_step", meta.get("step")),
        "images_seen": meta.get("images_seen"),
        "command": meta.get("training_command", meta.get("command")),
        "data_split": meta.get("data_split"),
    }
    entries = meta.get("history") if isinstance(meta.get("history"), list) else []
    history = [{k: h[k] for k in HISTORY_KEYS if isinstance(h.get(k), (str, int, float)) and not isinstance(h[k], bool)}
               for h in entries if isinstance(h, dict)]
    if history:
        out["history"] = history
        out["images_total"] = sum(int(h.get("images") or 0) for h in history)
        out["minutes_total"] = round(sum(float(h.get("minutes") or 0) for h in history), 1)
    validation = {k: last[k] for k in VALIDATION_KEYS if isinstance(last.get(k), (int, float))}
    if validation:
        out["validation"] = validation
        if isinstance(last.get("note"), str) and last["note"]:  # a row measured after training
            out["validation_note"] = last["note"]
    return {k: v for k, v in out.items() if v is not None}


def target_comparison(validation: dict[str, Any]) -> dict[str, Any] | None:
    """Recovered target vs the forgery itself in a model's recorded validation (the
    ``validation`` of :func:`training_summary`), or None when it holds neither.

    Returns ``recovered`` and ``forgery`` (IDSim to the true target), ``samples`` (how many
    forgeries, None if unknown) and ``two_people``: True when the numbers are over forgeries of
    two different people only, the fair comparison (rows recorded since 2026-12-02); False for
    the whole validation mix, whose real faces and self-swaps are already their own target.
    """
    val = validation or {}
    n = val.get("samples")
    if {"idsim_target_two_people", "idsim_target_none_two_people"} <= set(val):
        share = val.get("two_people")
        return {"recovered": float(val["idsim_target_two_people"]), "forgery": float(val["idsim_target_none_two_people"]),
                "samples": round(n * share) if n is not None and share is not None else None, "two_people": True}
    if {"idsim_target", "idsim_target_none"} <= set(val):
        return {"recovered": float(val["idsim_target"]), "forgery": float(val["idsim_target_none"]),
                "samples": int(n) if n is not None else None, "two_people": False}
    return None


#: how far above the forgery the recovered targets must score before a report stops cautioning
TARGET_MARGIN = 0.05


def target_caveat(validation: dict[str, Any]) -> str | None:
    """The sentence a report shows when the recorded validation does not put the recovered targets
    clearly (by ``TARGET_MARGIN`` IDSim) closer to the true person than the forgery itself; None
    when it does or when nothing was recorded."""
    cmp = target_comparison(validation)
    if cmp is None or cmp["recovered"] - cmp["forgery"] >= TARGET_MARGIN:
        return None
    how = "further from" if cmp["recovered"] <= cmp["forgery"] else "barely closer to"
    return f"Its recovered targets are, on average, {how} the true person than the forgery itself is."


def environment(device: Any = None) -> dict[str, Any]:
    """Versions of dfrec, Python, torch, numpy, OpenCV, dlib and the OS, torch's CPU thread
    count (``torch_threads``: the order of floating-point sums, hence output bytes, follows
    it) and the device used."""
    import cv2
    import numpy as np
    import torch

    from dfrec import __version__

    dev = str(device) if device is not None else None
    try:
        import dlib

        dlib_version = dlib.__version__
    except ImportError:
        dlib_version = None
    info: dict[str, Any] = {
        "dfrec": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "dlib": dlib_version,
        "platform": platform.platform(),
        "device": dev,
    }
    if dev and dev.startswith("cuda") and torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name(torch.device(dev))
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info
