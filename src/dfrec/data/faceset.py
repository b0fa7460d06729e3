"""A table of aligned faces read without dlib: crops (JPEG) + 68 landmarks + identities.

Two on-disk forms, both readable with OpenCV and numpy only (so training machines need
no face detector):

* a **landmark cache** (:mod:`dfrec.data.cache`): ``index.jsonl`` + ``crops/<key>.jpg``,
  grown incrementally by ``dfrec data index``;
* a **pack** (``dfrec data pack``): ``meta.json``, ``index.npz`` (keys, identities,
  landmarks, byte offsets) and ``crops.bin`` (the WebP or JPEG crops back to back), a compact
  single folder to carry to a GPU machine.

:func:`open_faces` opens either. :meth:`FaceSet.crop` returns a
:class:`dfrec.data.synth.FaceCrop` at the stored size; the synthesiser resizes it (and
scales its landmarks) to the model size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from dfrec.data.synth.types import FaceCrop
from dfrec.errors import InputError

PACK_INDEX = "index.npz"
PACK_BLOB = "crops.bin"
CACHE_INDEX = "index.jsonl"
#: landmarks are stored in packs as int16 fixed point with this many steps per pixel.
LANDMARK_SCALE = 32.0


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    """Decode JPEG/WebP/PNG bytes to ``(H, W, 3) uint8`` RGB."""
    arr = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("corrupt crop in face set (cannot decode)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode_image(image: np.ndarray, codec: str = "jpeg", quality: int = 95) -> bytes:
    """Encode an ``(H, W, 3) uint8`` RGB image as ``jpeg`` (4:2:0) or ``webp`` bytes."""
    if codec == "webp":
        ok, buf = cv2.imencode(".webp", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
        if not ok:
            raise InputError("WebP encoding failed")
        return buf.tobytes()
    if codec != "jpeg":
        raise InputError(f"unknown image codec {codec!r} (jpeg or webp)")
    return encode_jpeg(image, quality)


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """Encode an ``(H, W, 3) uint8`` RGB image as JPEG bytes (4:2:0)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError("JPEG encoding failed")
    return buf.tobytes()


class FaceSet:
    """Aligned faces: ``keys`` (source file names), ``identities``, ``landmarks (N, 68, 2)``
    float32 in crop pixels, crops of side ``size``; read lazily (safe in DataLoader workers).

    Build with :func:`open_faces`; ``subset`` / ``select_identities`` give views.
    """

    def __init__(
        self,
        root: Path,
        keys: Sequence[str],
        identities: Sequence[str],
        landmarks: np.ndarray,
        size: int,
        crop_files: Sequence[str] | None = None,
        spans: np.ndarray | None = None,
    ):
        self.root = Path(root)
        self.keys = list(keys)
        self.identities = list(identities)
        self.landmarks = np.asarray(landmarks, np.float32).reshape(-1, 68, 2)
        self.size = int(size)
        self.crop_files = list(crop_files) if crop_files is not None else None
        #: (N, 2) int64 byte range of each crop in ``crops.bin`` (packs), else None.
        self.spans = None if spans is None else np.asarray(spans, np.int64).reshape(-1, 2)
        if len(self.keys) != len(self.identities) or len(self.keys) != len(self.landmarks):
            raise InputError(f"{root}: face set index is inconsistent (keys, identities, landmarks differ in length)")
        self._fh = None
        self._pid = None
        uniq = sorted(set(self.identities))
        lookup = {n: i for i, n in enumerate(uniq)}
        #: (N,) int64 identity number of each face (index into ``identity_names``).
        self.identity_index = np.array([lookup[n] for n in self.identities], np.int64)
        self.identity_names = uniq

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        kind = "pack" if self.spans is not None else "cache"
        return f"FaceSet({kind} {self.root}, {len(self)} faces, {len(self.identity_names)} identities, {self.size}px)"

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_fh"] = None
        return d

    # -------------------------------------------------------------------- reading
    def _blob(self):
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.root / PACK_BLOB, "rb")
            self._pid = os.getpid()
        return self._fh

    def crop_bytes(self, i: int) -> bytes:
        """Encoded image bytes (JPEG or WebP) of face ``i``."""
        if self.spans is not None:
            fh = self._blob()
            a, b = self.spans[i]
            fh.seek(int(a))
            return fh.read(int(b - a))
        return (self.root / self.crop_files[i]).read_bytes()

    def image(self, i: int) -> np.ndarray:
        """Crop ``i`` as ``(size, size, 3) uint8`` RGB."""
        return decode_jpeg(self.crop_bytes(i))

    def crop(self, i: int) -> FaceCrop:
        """Face ``i`` as a :class:`FaceCrop` (image, landmarks, identity, key)."""
        return FaceCrop(self.image(i), self.landmarks[i].copy(), self.identities[i], self.keys[i])

    # -------------------------------------------------------------------- views
    def subset(self, indices: Iterable[int]) -> "FaceSet":
        """A FaceSet of the given faces (same files on disk)."""
        idx = np.asarray(list(indices), np.int64)
        return FaceSet(
            self.root, [self.keys[i] for i in idx], [self.identities[i] for i in idx], self.landmarks[idx],
            self.size,
            crop_files=None if self.crop_files is None else [self.crop_files[i] for i in idx],
            spans=None if self.spans is None else self.spans[idx],
        )

    def in_key_order(self) -> "FaceSet":
        """The same faces sorted by key (``self`` when they already are). Caches and packs open in
        key order: the indexer's workers append in the order they finish, and a face set, its
        held-out and evaluation samples must not depend on that."""
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        return self if order == list(range(len(self.keys))) else self.subset(order)

    def select_identities(self, names: Iterable[str]) -> "FaceSet":
        """Faces whose identity is in ``names``."""
        keep = set(names)
        return self.subset(i for i, n in enumerate(self.identities) if n in keep)

    def cap_per_identity(self, n: int, seed: int = 0) -> "FaceSet":
        """At most ``n`` faces per person (a seeded choice among the more frequent), all people kept:
        LFW's few heavily photographed people otherwise fill most of a small pack."""
        import numpy as np

        rng = np.random.default_rng(seed)
        keep: list[int] = []
        for idx in self.by_identity().values():
            keep += idx if len(idx) <= n else sorted(rng.choice(idx, size=n, replace=False).tolist())
        return self.subset(sorted(keep))

    def by_identity(self) -> dict[str, list[int]]:
        """identity -> list of face indices."""
        out: dict[str, list[int]] = {}
        for i, n in enumerate(self.identities):
            out.setdefault(n, []).append(i)
        return out


def is_pack(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / PACK_INDEX).is_file() and (p / PACK_BLOB).is_file()


def is_cache(path: str | os.PathLike) -> bool:
    return (Path(path) / CACHE_INDEX).is_file()


#: What the crops of a cache or pack whose ``meta.json`` records no ``crop_enlarge`` were enlarged
#: with: dfrec before 2026-12-06, when the aligner switched to Lanczos-4, recorded none.
UNRECORDED_CROP_ENLARGE = "bilinear"


def recorded_crop_enlarge(meta: dict) -> str:
    """How the crops behind a cache's or pack's ``meta`` enlarged faces smaller than the crop
    (``lanczos4``, ``bilinear``)."""
    return str(meta.get("crop_enlarge", UNRECORDED_CROP_ENLARGE))


def crop_enlarge_of(path: str | os.PathLike) -> str:
    """:func:`recorded_crop_enlarge` of the cache or pack folder at ``path``."""
    meta_path = Path(path) / "meta.json"
    return recorded_crop_enlarge(json.loads(meta_path.read_text()) if meta_path.exists() else {})


def open_pack(path: str | os.PathLike) -> FaceSet:
    """Open a pack folder written by :func:`dfrec.data.cache.write_pack`."""
    p = Path(path)
    if not is_pack(p):
        raise InputError(f"{p}: not a dfrec face pack (needs {PACK_INDEX} and {PACK_BLOB})")
    try:
        z = np.load(p / PACK_INDEX, allow_pickle=False)
        lm = z["landmarks"].astype(np.float32) / LANDMARK_SCALE
        faces = FaceSet(p, z["keys"].tolist(), z["identities"].tolist(), lm, int(z["size"]),
                        spans=np.stack([z["offsets"][:-1], z["offsets"][1:]], 1))
    except (KeyError, ValueError, OSError) as e:
        raise InputError(f"{p}: corrupt pack index ({e})") from None
    return faces.in_key_order()


def read_cache_index(path: str | os.PathLike) -> list[dict]:
    """Entries of a cache's ``index.jsonl``, one per key (the last line written for a key wins;
    a torn line from an interrupted run is skipped), in the order each key was first written."""
    entries: dict[str, dict] = {}
    f = Path(path) / CACHE_INDEX
    if not f.exists():
        return []
    with open(f, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(e, dict) and "key" in e:
                entries[e["key"]] = e
    return list(entries.values())


def open_cache(path: str | os.PathLike, keys: Iterable[str] | None = None) -> FaceSet:
    """Open a landmark cache folder (optionally only the entries whose key is in ``keys``)."""
    p = Path(path)
    if not is_cache(p):
        raise InputError(f"{p}: not a dfrec landmark cache (no {CACHE_INDEX}); run: dfrec data index")
    entries = read_cache_index(p)
    if keys is not None:
        want = set(keys)
        entries = [e for e in entries if e["key"] in want]
    meta = json.loads((p / "meta.json").read_text()) if (p / "meta.json").exists() else {}
    size = int(meta.get("size", entries[0]["size"] if entries else 224))
    lm = np.array([e["landmarks"] for e in entries], np.float32).reshape(-1, 68, 2)
    return FaceSet(p, [e["key"] for e in entries], [e["identity"] for e in entries], lm, size,
                   crop_files=[e["crop"] for e in entries]).in_key_order()


def open_faces(path: str | os.PathLike) -> FaceSet:
    """Open a pack or a landmark cache folder."""
    p = Path(path)
    if is_pack(p):
        return open_pack(p)
    if is_cache(p):
        return open_cache(p)
    raise InputError(f"{p}: neither a face pack nor a landmark cache (run: dfrec data index / dfrec data pack)")
