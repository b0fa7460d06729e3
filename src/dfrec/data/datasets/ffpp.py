"""FaceForensics++ (Rössler et al. 2019) → triple folder.

Public layout (the official download script's)::

    ROOT/original_sequences/youtube/<c23|c40|raw>/videos/XXX.mp4
    ROOT/manipulated_sequences/<Method>/<c23|c40|raw>/videos/XXX_YYY.mp4
    ROOT/manipulated_sequences/<Method>/masks/videos/XXX_YYY.mp4      (optional)

In ``XXX_YYY.mp4`` the face of video ``YYY`` (the **source**) is put into video ``XXX``
(the **target**). For ``frames`` evenly spaced frame numbers of each manipulated video,
:func:`prepare_ffpp` writes a triple: forgery = that fake frame, target = the same frame of
``XXX.mp4`` (registered with the forgery), source = the same frame number of ``YYY.mp4``
(clamped to its length). The method's mask video, when present, gives the mask;
otherwise :class:`TripleFolder` estimates it from the forgery-target difference.
Identity-swap methods are ``Deepfakes``, ``FaceSwap``, ``FaceShifter`` (default);
``Face2Face``/``NeuralTextures`` are reenactments (source = expression donor).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from dfrec.data.datasets.prepare import TripleWriter
from dfrec.errors import InputError

SWAP_METHODS = ("Deepfakes", "FaceSwap", "FaceShifter")


def frame_count(path: str | os.PathLike) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def read_frames(path: str | os.PathLike, indices: list[int]) -> dict[int, np.ndarray]:
    """Frames ``indices`` of a video as ``(H, W, 3) uint8`` RGB (decoded in one pass)."""
    want = set(int(i) for i in indices)
    out: dict[int, np.ndarray] = {}
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open video")
    try:
        i = 0
        last = max(want) if want else -1
        while i <= last:
            ok, frame = cap.read()
            if not ok:
                break
            if i in want:
                out[i] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    return out


def prepare_ffpp(
    root: str | os.PathLike,
    out: str | os.PathLike,
    methods: tuple[str, ...] = SWAP_METHODS,
    compression: str = "c23",
    frames: int = 4,
    size: int = 224,
    limit: int | None = None,
    include_real: bool = True,
    progress: bool = True,
) -> Path:
    """Convert FaceForensics++ videos under ``root`` into a triple folder ``out``.

    ``limit``: at most this many manipulated videos per method; ``include_real``: also write
    each used target video's frames as ``real`` triples. Returns ``out``.
    """
    from tqdm import tqdm

    root = Path(root)
    orig = root / "original_sequences" / "youtube" / compression / "videos"
    if not orig.is_dir():
        raise InputError(f"{root}: not a FaceForensics++ folder (missing {orig.relative_to(root)})")
    w = TripleWriter(Path(out), size=size)
    done_real: set[tuple[str, int]] = set()
    for method in methods:
        vids = sorted((root / "manipulated_sequences" / method / compression / "videos").glob("*.mp4"))
        if limit is not None:
            vids = vids[:limit]
        for v in tqdm(vids, desc=f"FF++ {method}", unit="video", disable=not progress):
            parts = v.stem.split("_")
            if len(parts) != 2:
                w.failures.append({"name": v.name, "reason": "name is not XXX_YYY"})
                continue
            tgt_id, src_id = parts
            tv, sv = orig / f"{tgt_id}.mp4", orig / f"{src_id}.mp4"
            if not tv.exists() or not sv.exists():
                w.failures.append({"name": v.name, "reason": "original target or source video missing"})
                continue
            n = frame_count(v)
            if n <= 0:
                w.failures.append({"name": v.name, "reason": "cannot read video"})
                continue
            idx = sorted({int(round(x)) for x in np.linspace(0, n - 1, min(frames, n))})
            fake, tgt = read_frames(v, idx), read_frames(tv, idx)
            ns = max(1, frame_count(sv))
            src = read_frames(sv, [min(i, ns - 1) for i in idx])
            mv = root / "manipulated_sequences" / method / "masks" / "videos" / v.name
            masks = read_frames(mv, idx) if mv.exists() else {}
            for i in idx:
                if i not in fake or i not in tgt or min(i, ns - 1) not in src:
                    w.failures.append({"name": f"{v.stem}:{i}", "reason": "frame missing"})
                    continue
                w.add(f"{method}_{v.stem}_{i:04d}", fake[i], tgt[i], src[min(i, ns - 1)], f"ffpp/{method}",
                      src_id, tgt_id, mask=masks.get(i), what=f"frame {i}")
                if include_real and (tgt_id, i) not in done_real:
                    done_real.add((tgt_id, i))
                    w.add_real(f"real_{tgt_id}_{i:04d}", tgt[i], tgt_id, what=f"{tgt_id} frame {i}")
    if not w.records:
        raise InputError(f"{root}: no triples could be extracted (methods {', '.join(methods)}, {compression})")
    return w.finish({"dataset": "FaceForensics++", "compression": compression, "methods": list(methods),
                     "frames_per_video": frames, "size": size})
