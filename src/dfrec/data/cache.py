"""Landmark cache: detect, align and store every face of a folder once; pack it compactly.

``index_folder(DIR, CACHE)`` runs dfrec's face toolkit (dlib detector + 68 landmarks +
similarity alignment) over every image under ``DIR`` in worker processes, with a progress
bar, and writes into ``CACHE``:

* ``crops/<relative path>.jpg`` — the aligned crop (``size`` px, JPEG ``quality``);
* ``index.jsonl`` — one JSON line per indexed image: ``key`` (path relative to ``DIR``),
  ``identity`` (the image's parent folder relative to ``DIR``, or the file stem for images
  at the top level), ``crop``, ``size``, ``landmarks`` (68 × [x, y] in crop pixels),
  ``box`` and ``score`` in the original image, ``n_faces`` found;
* ``failures.jsonl`` — ``key`` and ``reason`` of each image that could not be used (no face,
  unreadable); such images are listed, never silently dropped;
* ``meta.json`` — the settings (size, margin, quality, detector, ``crop_enlarge``: how faces
  smaller than the crop were enlarged).

Re-running skips every image already in ``index.jsonl`` or ``failures.jsonl`` (resumable;
``retry_failures=True`` retries the failures). Lines are flushed as they are written, so an
interrupted run loses at most the images in flight.

``write_pack`` turns a cache (or a subset, e.g. one split) into a compact pack folder read
by :func:`dfrec.data.faceset.open_pack` without dlib.

When an image holds several faces, the one whose box contains the image centre is kept
(the largest of those; else the largest overall), which is right for LFW-style crops.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from dfrec.data.faceset import (
    CACHE_INDEX,
    LANDMARK_SCALE,
    PACK_BLOB,
    PACK_INDEX,
    FaceSet,
    crop_enlarge_of,
    encode_image,
    encode_jpeg,
    read_cache_index,
    recorded_crop_enlarge,
)
from dfrec.errors import ConfigError, InputError
from dfrec.io import IMAGE_SUFFIXES, atomic_path, list_images, write_bytes_atomic, write_json_atomic

FAILURES = "failures.jsonl"
CACHE_VERSION = 1


def default_identity(rel: str) -> str:
    """Identity of an image from its path relative to the indexed folder: the parent
    folder(s) (``Person/Person_0001.jpg`` → ``Person``), or the stem for top-level files."""
    p = Path(rel)
    return p.parent.as_posix() if p.parent.as_posix() not in ("", ".") else p.stem


def choose_face(faces: list, shape: tuple[int, int]):
    """The face to keep from ``detect_faces`` output: the largest whose box holds the image
    centre, else the largest; None when the list is empty."""
    if not faces:
        return None
    h, w = shape[:2]
    cx, cy = w / 2.0, h / 2.0
    central = [f for f in faces if f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3]]
    return max(central or faces, key=lambda f: f.area)


@dataclass
class IndexReport:
    """Outcome of :func:`index_folder`: counts of images indexed now, skipped (already done)
    and failed now, and the cache folder."""

    indexed: int
    skipped: int
    failed: int
    cache: Path

    def to_dict(self) -> dict:
        return {"indexed": self.indexed, "skipped": self.skipped, "failed": self.failed, "cache": str(self.cache)}


# ---------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(settings: dict) -> None:
    cv2.setNumThreads(1)
    _WORKER.clear()
    _WORKER.update(settings)


def _process(job: tuple[str, str]) -> dict:
    """Detect + align one image; write its crop. Returns an index entry or a failure
    (unreadable file, no face). Any other exception propagates: a broken setup must stop
    the run, not be recorded as thousands of failed images."""
    from dfrec.faces.align import align_face
    from dfrec.faces.detect import detect_faces
    from dfrec.io import read_image

    rel, path = job
    s = _WORKER
    try:
        img = read_image(path)
        faces = detect_faces(img, upsample=s["upsample"], fallback=s["fallback"])  # too small/thin: InputError
    except InputError as e:
        return {"key": rel, "failed": True, "reason": str(e)}
    face = choose_face(faces, img.shape)
    if face is None:
        return {"key": rel, "failed": True, "reason": "no face found"}
    al = align_face(img, face.landmarks, size=s["size"], margin=s["margin"])
    crop_rel = (Path("crops") / rel).with_suffix(".jpg").as_posix()
    write_bytes_atomic(Path(s["cache"]) / crop_rel, encode_jpeg(al.image, s["quality"]))
    return {
        "key": rel,
        "identity": s["identity_fn"](rel),
        "crop": crop_rel,
        "size": int(s["size"]),
        "landmarks": np.round(al.landmarks.astype(np.float64), 3).tolist(),
        "box": np.round(np.asarray(face.box, np.float64), 2).tolist(),
        "score": round(float(face.score), 4),
        "detector": face.detector,
        "n_faces": len(faces),
    }


# ---------------------------------------------------------------------------- indexing
def _read_failures(cache: Path) -> dict[str, str]:
    out = {}
    f = cache / FAILURES
    if f.exists():
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
                out[e["key"]] = e.get("reason", "")
            except (json.JSONDecodeError, KeyError):
                continue
    return out


def index_folder(
    folder: str | os.PathLike,
    cache: str | os.PathLike,
    files: Sequence[str | os.PathLike] | None = None,
    size: int = 224,
    margin: float | None = None,
    quality: int = 95,
    workers: int = 1,
    upsample: int = 1,
    fallback: bool = True,
    retry_failures: bool = False,
    identity_fn: Callable[[str], str] = default_identity,
    progress: bool = True,
) -> IndexReport:
    """Index the images under ``folder`` (or only ``files``, paths under it) into ``cache``.

    ``size``/``margin``: aligned crop geometry (see :func:`dfrec.faces.align.align_face`);
    ``quality``: JPEG quality of stored crops; ``workers``: processes (1 = in process).
    Settings must match an existing cache's ``meta.json`` (else :class:`ConfigError`).
    """
    from dfrec.faces.align import DEFAULT_MARGIN, ENLARGE_INTERPOLATION, interpolation_name

    root = Path(folder).resolve()
    if not root.is_dir():
        raise InputError(f"{folder}: not a folder")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    margin = DEFAULT_MARGIN if margin is None else float(margin)
    meta = {"version": CACHE_VERSION, "source": str(root), "size": int(size), "margin": margin,
            "quality": int(quality), "detector": f"dlib hog (upsample {upsample}, fallback {fallback}) + sp68",
            "crop_enlarge": interpolation_name(ENLARGE_INTERPOLATION)}
    _check_meta(cache, meta)
    paths = list_images(root) if files is None else _given_images(root, files)
    rels = [p.relative_to(root).as_posix() for p in paths]
    with _locked(cache):  # one indexer per cache: concurrent appends would duplicate work
        done = {e["key"] for e in read_cache_index(cache)}
        failed_before = _read_failures(cache)
        skip = done | (set() if retry_failures else set(failed_before))
        jobs = [(r, str(p)) for r, p in zip(rels, paths) if r not in skip]
        skipped = len(rels) - len(jobs)

        settings = {"cache": str(cache), "size": int(size), "margin": margin, "quality": int(quality),
                    "upsample": int(upsample), "fallback": bool(fallback), "identity_fn": identity_fn}
        n_ok, n_fail = _run_jobs(cache, jobs, settings, workers, progress)
    if retry_failures and n_ok:
        _compact_failures(cache)
    return IndexReport(indexed=n_ok, skipped=skipped, failed=n_fail, cache=cache)


def _check_meta(cache: Path, meta: dict) -> None:
    """Write ``cache/meta.json`` for a new cache; for an existing one, refuse other crop
    geometry (``size``, ``margin``) or another enlargement than this dfrec's (the cache would
    serve, or grow into, crops unlike the ones :func:`dfrec.faces.align.align_face` makes now)
    with a :class:`ConfigError`."""
    meta_path = cache / "meta.json"
    if not meta_path.exists():
        write_json_atomic(meta_path, meta)
        return
    old = json.loads(meta_path.read_text())
    for k in ("size", "margin"):
        if old.get(k) != meta[k]:
            raise ConfigError(f"{cache}: cache was built with {k}={old.get(k)}, asked for {meta[k]}; use another --cache")
    if recorded_crop_enlarge(old) != meta["crop_enlarge"]:
        raise ConfigError(
            f"{cache}: its crops enlarge small faces with {recorded_crop_enlarge(old)}, this dfrec with "
            f"{meta['crop_enlarge']}; indexing into it would serve or add crops unlike the aligner's. "
            "Use another --cache (or delete this one to rebuild it); to read it as it is, give the cache "
            "itself as the data path")


def _given_images(root: Path, files: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files among ``files`` (absolute, or relative to ``root``), resolved."""
    paths = []
    for f in files:
        p = Path(f)
        p = p if p.is_absolute() else root / p
        if p.suffix.lower() in IMAGE_SUFFIXES:
            paths.append(p.resolve())
    return paths


def _run_jobs(cache: Path, jobs: list[tuple[str, str]], settings: dict, workers: int, progress: bool) -> tuple[int, int]:
    """Detect and align each ``(key, path)`` job (in ``workers`` spawned processes, or in this one),
    appending every result to the cache's index or failure list as it arrives, so an
    interrupted run keeps what it finished. Returns (indexed, failed)."""
    from tqdm import tqdm

    n_ok = n_fail = 0
    with open(cache / CACHE_INDEX, "a", encoding="utf-8") as idx_f, open(cache / FAILURES, "a", encoding="utf-8") as fail_f:
        bar = tqdm(total=len(jobs), desc="indexing faces", unit="img", disable=not progress or not jobs)
        if workers <= 1 or len(jobs) < 4:
            _init_worker(settings)
            results: Iterable[dict] = map(_process, jobs)
            pool = None
        else:
            # spawn, not fork: forking a process whose OpenCV/torch/OpenMP thread pools are
            # running can deadlock the children (seen under pytest after DataLoader tests)
            ctx = mp.get_context("spawn")
            pool = ctx.Pool(workers, initializer=_init_worker, initargs=(settings,))
            results = pool.imap_unordered(_process, jobs, chunksize=4)
        try:
            for res in results:
                if res.get("failed"):
                    fail_f.write(json.dumps({"key": res["key"], "reason": res["reason"]}) + "\n")
                    fail_f.flush()
                    n_fail += 1
                else:
                    idx_f.write(json.dumps(res) + "\n")
                    idx_f.flush()
                    n_ok += 1
                bar.update(1)
                bar.set_postfix(failed=n_fail)
        except BaseException:
            if pool is not None:  # stop the other workers now; finished lines are already saved
                pool.terminate()
                pool.join()
                pool = None
            raise
        finally:
            bar.close()
            if pool is not None:
                pool.close()
                pool.join()
    return n_ok, n_fail


@contextlib.contextmanager
def _locked(cache: Path):
    """Hold an exclusive lock on ``cache/.lock`` for the block. Where another process is indexing
    into the same cache (two ``dfrec evaluate`` runs on one LFW folder share the default cache),
    say so on stderr and wait for it: the block then reads what that process indexed and does only
    the rest. The lock goes with its process, so a killed indexer never leaves it held."""
    import fcntl

    with open(cache / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"{cache}: another process is indexing into this cache; waiting for it to finish", file=sys.stderr,
                  flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _compact_failures(cache: Path) -> None:
    """Drop failure lines of images that have since been indexed; keep the latest reason."""
    done = {e["key"] for e in read_cache_index(cache)}
    fails = {k: r for k, r in _read_failures(cache).items() if k not in done}
    text = "".join(json.dumps({"key": k, "reason": r}) + "\n" for k, r in fails.items())
    with atomic_path(cache / FAILURES) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_failures(cache: str | os.PathLike) -> dict[str, str]:
    """key -> reason for every image of the cache that could not be indexed."""
    return _read_failures(Path(cache))


# ---------------------------------------------------------------------------- packing
def write_pack(
    faces: FaceSet,
    out: str | os.PathLike,
    size: int = 160,
    quality: int = 85,
    codec: str = "webp",
    progress: bool = True,
    extra_meta: dict | None = None,
) -> Path:
    """Write ``faces`` as a compact pack folder: crops resized to ``size`` (area filter),
    encoded with ``codec`` (``webp`` or ``jpeg``) at ``quality``, landmarks scaled to match.
    Returns the folder. (LFW train+val, 11,971 faces at 160 px: WebP q85 ≈ 3.1 kB/face,
    ≈ 37 MB; JPEG q85 ≈ 5.3 kB/face, ≈ 64 MB.)

    Files: ``crops.bin`` (images back to back), ``index.npz`` (``keys``, ``identities``,
    ``landmarks`` int16 × 1/32 px, ``offsets`` (N+1,), ``size``), ``meta.json``. Each file is
    written atomically.
    """
    from tqdm import tqdm

    if len(faces) == 0:
        raise InputError("nothing to pack: the face set is empty")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    offsets = [0]
    lms = []
    with atomic_path(out / PACK_BLOB) as tmp, open(tmp, "wb") as fh:
        for i in tqdm(range(len(faces)), desc="packing", unit="face", disable=not progress):
            c = faces.crop(i).resized(size)
            data = encode_image(c.image, codec, quality)
            fh.write(data)
            offsets.append(offsets[-1] + len(data))
            lms.append(c.landmarks)
        fh.flush()
    lm_q = np.round(np.stack(lms) * LANDMARK_SCALE).astype(np.int16)
    with atomic_path(out / PACK_INDEX) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                keys=np.array(faces.keys, dtype=str),
                identities=np.array(faces.identities, dtype=str),
                landmarks=lm_q,
                offsets=np.array(offsets, np.int64),
                size=np.int64(size),
            )
    meta = {"format": "dfrec-face-pack", "version": 1, "faces": len(faces),
            "identities": len(set(faces.identities)), "size": int(size), "codec": codec,
            "quality": int(quality), "source": str(faces.root), "bytes": offsets[-1],
            "crop_enlarge": crop_enlarge_of(faces.root)}  # as the crops it was made from
    meta.update(extra_meta or {})
    write_json_atomic(out / "meta.json", meta)
    return out
