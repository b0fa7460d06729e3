"""A gallery of known faces: names, photos and identity vectors, searchable by similarity.

    >>> from dfrec.gallery import Gallery
    >>> g = Gallery.open("known_faces")                 # a folder made by `dfrec gallery add`
    >>> g.search(embeddings, top_k=5)                   # (N, 128) dlib embeddings -> candidates
    [[Candidate(name='Joe_Biden', similarity=0.81, likely_same=True, ...), ...], ...]

A gallery folder holds ``gallery.sqlite`` (people, photos, file hashes, thumbnails, every
vector; :mod:`dfrec.gallery.store`) and ``index.faiss`` (the faiss index of the same
vectors; :mod:`dfrec.gallery.index`). Vectors live in the *IDSim space*: a dlib embedding
minus the fixed LFW mean embedding, scaled to unit length (:func:`to_space`), so an inner
product is exactly :func:`dfrec.faces.idsim` and similarities read the same as every other
IDSim in dfrec. Candidates are *people*: a person's similarity is that of their most
similar photo.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from dfrec.errors import ConfigError, InputError
from dfrec.gallery import index as vindex
from dfrec.gallery import store

DB_NAME = "gallery.sqlite"
INDEX_NAME = "index.faiss"
LOCK_NAME = ".lock"
DIM = 128

#: How the vectors are made (stored in the gallery; a gallery made otherwise is refused).
EMBEDDER = "dlib_face_recognition_resnet_model_v1 (dfrec IdentityEncoder on 224 px crops), centred, unit length"


def to_space(embeddings: np.ndarray) -> np.ndarray:
    """Raw dlib embeddings ``(N, 128)`` -> unit vectors in IDSim space ``(N, 128) float32``:
    ``(e - mean) / |e - mean|`` with the fixed mean of :func:`dfrec.faces.identity.mean_embedding`."""
    from dfrec.faces.identity import mean_embedding

    e = np.asarray(embeddings, dtype=np.float32).reshape(-1, DIM)
    c = e - mean_embedding().numpy()
    return (c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass
class GalleryEntry:
    """One photo to add: the person's ``name``, the file (``source`` path, ``sha256``,
    ``bytes``), the face's raw dlib ``embedding (128,)``, a JPEG ``thumbnail`` of the aligned
    face, its ``box`` in the photo, the ``detector`` that found it and how many faces the
    photo held."""

    name: str
    source: str
    sha256: str
    bytes: int
    embedding: np.ndarray
    thumbnail: bytes | None = None
    box: list[float] | None = None
    detector: str | None = None
    faces_in_image: int = 1


@dataclass
class Candidate:
    """A person the gallery proposes for a face: ``name``, ``similarity`` (IDSim of the
    face and this person's most similar photo), ``photo_id`` and ``source`` of that photo,
    ``likely_same`` (similarity at or above the calibrated threshold; ``None`` without one)."""

    rank: int
    name: str
    similarity: float
    photo_id: int
    source: str
    likely_same: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "name": self.name, "similarity": round(float(self.similarity), 6),
                "likely_same_person": self.likely_same, "photo_id": self.photo_id, "gallery_file": self.source}


@dataclass
class AddReport:
    """What :meth:`Gallery.add` did: photo ids added, entries already present."""

    added: list[int] = field(default_factory=list)
    already: int = 0


class Gallery:
    """An open gallery folder. Use :meth:`open` (or :meth:`create`); close with :meth:`close`
    or a ``with`` block. Readers see changes made by other processes after :meth:`refresh`."""

    def __init__(self, folder: Path, con, readonly: bool):
        self.folder = folder
        self.readonly = readonly
        self._con = con
        meta = store.get_meta(con)
        if meta.get("format") != store.FORMAT_VERSION:
            raise ConfigError(f"{folder}: gallery format {meta.get('format')!r} is not supported "
                              f"(this dfrec reads format {store.FORMAT_VERSION})")
        if meta.get("embedder") != EMBEDDER:
            raise ConfigError(f"{folder}: gallery vectors were made by {meta.get('embedder')!r}, not by this dfrec's "
                              "identity network; rebuild it with `dfrec gallery add`")
        self.index_type: str = meta["index_type"]
        self.dim: int = int(meta.get("dim", DIM))
        self._index = None
        self._generation = -1
        self._person_of = np.zeros(0, np.int64)
        self._names: dict[int, str] = {}
        self._load()

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, folder: str | os.PathLike, index_type: str = "flat") -> "Gallery":
        """Create an empty gallery in ``folder`` (made if missing; must not hold one already)."""
        if index_type not in vindex.INDEX_TYPES:
            raise ConfigError(f"unknown index type {index_type!r}; choose from {', '.join(vindex.INDEX_TYPES)}")
        vindex.faiss_module()
        p = Path(folder)
        if (p / DB_NAME).exists():
            raise ConfigError(f"{p}: a gallery exists here already")
        if p.exists() and not p.is_dir():
            raise ConfigError(f"{p}: not a folder")
        p.mkdir(parents=True, exist_ok=True)
        con = store.connect(p / DB_NAME)
        with con:
            store.set_meta(con, format=store.FORMAT_VERSION, index_type=index_type, dim=DIM, embedder=EMBEDDER,
                           created_utc=store.utc_now(), updated_utc=store.utc_now(), data_generation=0, index_generation=-1)
        return cls(p, con, readonly=False)

    @classmethod
    def open(cls, folder: str | os.PathLike, readonly: bool = False) -> "Gallery":
        """Open an existing gallery folder; :class:`InputError` when there is none."""
        p = Path(folder)
        if not (p / DB_NAME).is_file():
            raise InputError(f"{p}: not a dfrec gallery (no {DB_NAME}); make one with `dfrec gallery add DIR --gallery {p}`")
        vindex.faiss_module()
        return cls(p, store.connect(p / DB_NAME, readonly=readonly), readonly=readonly)

    @classmethod
    def open_or_create(cls, folder: str | os.PathLike, index_type: str | None = None) -> "Gallery":
        """Open ``folder``'s gallery, or create one (``index_type`` default ``flat``)."""
        if (Path(folder) / DB_NAME).is_file():
            g = cls.open(folder)
            if index_type is not None and index_type != g.index_type:
                g.rebuild_index(index_type)
            return g
        return cls.create(folder, index_type or "flat")

    def close(self) -> None:
        self._con.close()
        self._index = None

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM photos").fetchone()[0])

    # ------------------------------------------------------------------ state
    def _meta(self) -> dict[str, Any]:
        return store.get_meta(self._con)

    def _load(self) -> None:
        """(Re)load the person map and the index; rebuild the index if it is missing or stale."""
        meta = self._meta()
        self._reload_maps()
        path = self.folder / INDEX_NAME
        fresh = path.is_file() and meta.get("index_generation") == meta.get("data_generation")
        index = vindex.read_index(path) if fresh else None
        if index is None or index.ntotal != int((self._person_of >= 0).sum()):
            index = self._build(self.index_type)
            if not self.readonly:
                self._save_index(index, meta["data_generation"])
        self._index = index
        self._generation = int(meta.get("data_generation", 0))

    def refresh(self) -> bool:
        """Reload when another process changed the gallery; returns whether it did."""
        gen = self._meta().get("data_generation")
        if gen == self._generation:
            return False
        self._load()
        return True

    def _build(self, kind: str):
        ids, vecs = store.all_vectors(self._con, self.dim)
        return vindex.build_index(kind, vecs, ids, self.dim)

    def _save_index(self, index, generation: int) -> None:
        vindex.write_index(index, self.folder / INDEX_NAME)
        with self._con:
            store.set_meta(self._con, index_generation=generation)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive writer lock (a file lock beside the database) around a change."""
        if self.readonly:
            raise ConfigError(f"{self.folder}: gallery opened read-only")
        import fcntl

        with open(self.folder / LOCK_NAME, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.refresh()  # see what other writers did first
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _commit_change(self) -> int:
        """Bump the data generation (inside the caller's transaction)."""
        gen = int(self._meta().get("data_generation", 0)) + 1
        store.set_meta(self._con, data_generation=gen, updated_utc=store.utc_now())
        return gen

    # ------------------------------------------------------------------ changes
    def known(self, name: str, sha256: str) -> str | None:
        """``"indexed"`` or ``"skipped"`` when this file was seen before for this person."""
        pid = store.person_id(self._con, name, create=False)
        if pid is None:
            return None
        if self._con.execute("SELECT 1 FROM photos WHERE person_id=? AND sha256=?", (pid, sha256)).fetchone():
            return "indexed"
        if self._con.execute("SELECT 1 FROM skipped WHERE person_id=? AND sha256=?", (pid, sha256)).fetchone():
            return "skipped"
        return None

    def add(self, entries: Sequence[GalleryEntry], skipped: Sequence[tuple[str, str, str, str]] = ()) -> AddReport:
        """Add photos (and remember files that gave no face: ``(name, sha256, source, reason)``).

        Entries already present (same person, same file hash) are not added twice. The
        database commits first, then the index file is rewritten atomically.
        """
        rep = AddReport()
        with self._writing():
            now = store.utc_now()
            new_ids, new_vecs = [], []
            with self._con:
                for e in entries:
                    pid = store.person_id(self._con, e.name)
                    vec = to_space(e.embedding)[0]
                    cur = self._con.execute(
                        "INSERT OR IGNORE INTO photos(person_id, source, sha256, bytes, box, detector, faces_in_image,"
                        " vector, thumbnail, added_utc) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (pid, e.source, e.sha256, int(e.bytes), None if e.box is None else json.dumps([round(float(v), 1) for v in e.box]),
                         e.detector, int(e.faces_in_image), store.vector_blob(vec), e.thumbnail, now),
                    )
                    if cur.rowcount:
                        new_ids.append(int(cur.lastrowid))
                        new_vecs.append(vec)
                    else:
                        rep.already += 1
                for name, sha, source, reason in skipped:
                    pid = store.person_id(self._con, name)
                    self._con.execute("INSERT OR REPLACE INTO skipped(person_id, sha256, source, reason, added_utc) "
                                      "VALUES (?,?,?,?,?)", (pid, sha, source, reason, now))
                gen = self._commit_change() if new_ids else int(self._meta().get("data_generation", 0))
            if new_ids:
                vindex.add(self._index, np.stack(new_vecs), np.asarray(new_ids, np.int64))
                self._save_index(self._index, gen)
                self._reload_maps()
                self._generation = gen
            rep.added = new_ids
        return rep

    def remove(self, name: str | None = None, source: str | None = None, sha256: str | None = None) -> int:
        """Remove a person (``name``), or photos by ``source`` path or file ``sha256``
        (optionally only that person's). Returns how many photos were removed."""
        if name is None and source is None and sha256 is None:
            raise InputError("say what to remove: a person's name, a file, or a SHA-256")
        with self._writing():
            where, args = [], []
            if name is not None:
                pid = store.person_id(self._con, name, create=False)
                if pid is None:
                    raise InputError(f"no person named {name!r} in {self.folder}")
                where.append("person_id = ?")
                args.append(pid)
            if source is not None:
                where.append("source = ?")
                args.append(source)
            if sha256 is not None:
                where.append("sha256 = ?")
                args.append(sha256.lower())
            cond = " AND ".join(where)
            ids = np.asarray([r[0] for r in self._con.execute(f"SELECT id FROM photos WHERE {cond}", args)], np.int64)
            with self._con:
                self._con.execute(f"DELETE FROM photos WHERE {cond}", args)
                self._con.execute(f"DELETE FROM skipped WHERE {cond}", args)
                self._con.execute("DELETE FROM persons WHERE id NOT IN (SELECT person_id FROM photos) "
                                  "AND id NOT IN (SELECT person_id FROM skipped)")
                gen = self._commit_change()
            if len(ids) and vindex.can_remove(self.index_type):
                vindex.remove(self._index, ids)
            elif len(ids):
                self._index = self._build(self.index_type)
            self._save_index(self._index, gen)
            self._reload_maps()
            self._generation = gen
            return int(len(ids))

    def rebuild_index(self, index_type: str | None = None) -> None:
        """Rebuild the faiss index from the database (optionally as another type)."""
        kind = index_type or self.index_type
        if kind not in vindex.INDEX_TYPES:
            raise ConfigError(f"unknown index type {kind!r}; choose from {', '.join(vindex.INDEX_TYPES)}")
        with self._writing():
            with self._con:
                store.set_meta(self._con, index_type=kind)
            self.index_type = kind
            self._index = self._build(kind)
            self._save_index(self._index, int(self._meta().get("data_generation", 0)))

    def _reload_maps(self) -> None:
        rows = self._con.execute("SELECT id, person_id FROM photos").fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        self._person_of = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, np.int64)
        if len(ids):
            self._person_of[ids] = [r[1] for r in rows]
        self._names = dict(self._con.execute("SELECT id, name FROM persons").fetchall())

    # ------------------------------------------------------------------ queries
    def persons(self) -> list[tuple[str, int]]:
        """``(name, photos)`` for every person with at least one photo, by name."""
        return [(n, int(c)) for n, c in self._con.execute(
            "SELECT p.name, COUNT(f.id) FROM persons p JOIN photos f ON f.person_id = p.id GROUP BY p.id ORDER BY p.name")]

    def info(self) -> dict[str, Any]:
        """Folder, index type, counts, sizes on disk, the threshold in use."""
        from dfrec.gallery.calibration import load_threshold

        meta = self._meta()
        n_photos = len(self)
        n_persons = int(self._con.execute("SELECT COUNT(DISTINCT person_id) FROM photos").fetchone()[0])
        n_skipped = int(self._con.execute("SELECT COUNT(*) FROM skipped").fetchone()[0])
        files = [self.folder / DB_NAME, self.folder / INDEX_NAME]
        thr = load_threshold()
        return {
            "folder": str(self.folder.resolve()),
            "index_type": self.index_type,
            "persons": n_persons,
            "photos": n_photos,
            "skipped_files": n_skipped,
            "dim": self.dim,
            "embedder": meta.get("embedder"),
            "created_utc": meta.get("created_utc"),
            "updated_utc": meta.get("updated_utc"),
            "bytes_on_disk": int(sum(f.stat().st_size for f in files if f.exists())),
            "threshold": thr,
        }

    def skipped(self) -> list[dict[str, str]]:
        """Files that were seen but gave no usable face, with the reason."""
        return [{"name": n, "source": s, "reason": r} for n, s, r in self._con.execute(
            "SELECT p.name, k.source, k.reason FROM skipped k JOIN persons p ON p.id = k.person_id ORDER BY k.source")]

    def thumbnail(self, photo_id: int) -> bytes | None:
        """The JPEG thumbnail of a photo's aligned face (``None`` if there is none)."""
        row = self._con.execute("SELECT thumbnail FROM photos WHERE id = ?", (int(photo_id),)).fetchone()
        return None if row is None else row[0]

    def photo_sha256(self, photo_id: int) -> str | None:
        """The SHA-256 of a photo's file, recorded when it was added (``None`` if there is none)."""
        row = self._con.execute("SELECT sha256 FROM photos WHERE id = ?", (int(photo_id),)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def search(self, embeddings: np.ndarray, top_k: int = 5, exclude: set[int] | Sequence[set[int]] | None = None,
               threshold: float | None | str = "calibrated", space: bool = False) -> list[list[Candidate]]:
        """The ``top_k`` most similar *people* for each raw dlib embedding in ``embeddings (N, 128)``.

        A person's similarity is that of their most similar photo (IDSim). ``exclude``: photo
        ids never to return (one set for all queries, or one per query) — e.g. the photo a
        forgery was made from. ``threshold``: ``"calibrated"`` (the shipped calibration,
        :func:`dfrec.gallery.calibration.load_threshold`), a number, or ``None`` (no
        ``likely_same`` verdicts). ``space=True``: ``embeddings`` are already IDSim-space unit vectors.
        """
        from dfrec.gallery.calibration import load_threshold

        q = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.dim)
        q = q if space else to_space(q)
        if threshold == "calibrated":
            cal = load_threshold()
            threshold = None if cal is None else float(cal["threshold"])
        n = self._index.ntotal if self._index is not None else 0
        out: list[list[Candidate]] = []
        if n == 0 or top_k < 1:
            return [[] for _ in range(len(q))]
        excl = [exclude] * len(q) if exclude is None or isinstance(exclude, (set, frozenset)) else list(exclude)
        k = min(n, max(4 * top_k + 16, top_k))
        pending = list(range(len(q)))
        results: dict[int, list[Candidate]] = {}
        while pending:
            scores, ids = vindex.search(self._index, q[pending], k)
            again = []
            for row, qi in enumerate(pending):
                cands = self._group(scores[row], ids[row], top_k, excl[qi] or set(), threshold)
                if len(cands) < top_k and k < n:
                    again.append(qi)  # not enough distinct people in the first k photos: look further
                else:
                    results[qi] = cands
            pending = again
            k = min(n, k * 4)
        for qi in range(len(q)):
            out.append(results[qi])
        return out

    def _group(self, scores: np.ndarray, ids: np.ndarray, top_k: int, exclude: set[int],
               threshold: float | None) -> list[Candidate]:
        best: dict[int, tuple[float, int]] = {}
        for s, i in zip(scores, ids):
            i = int(i)
            if i < 0 or i in exclude or i >= len(self._person_of):
                continue
            pid = int(self._person_of[i])
            if pid < 0:
                continue
            if pid not in best:  # scores come sorted: the first photo of a person is their best
                best[pid] = (float(s), i)
                if len(best) >= top_k:
                    break
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:top_k]
        sources = dict(self._con.execute(
            f"SELECT id, source FROM photos WHERE id IN ({','.join('?' * len(ranked))})",
            [i for _, (_, i) in ranked]).fetchall()) if ranked else {}
        return [Candidate(rank=r + 1, name=self._names.get(pid, "?"), similarity=s, photo_id=i,
                          source=sources.get(i, ""), likely_same=None if threshold is None else bool(s >= threshold))
                for r, (pid, (s, i)) in enumerate(ranked)]
