"""The SQLite side of a gallery: people, photos (vector, thumbnail, file hash), skipped files.

One database file ``gallery.sqlite`` per gallery folder, in WAL mode so that a reader (a
running ``dfrec serve``) and a writer (``dfrec gallery add``) can work at the same time.
Every vector is kept here as well as in the faiss index, so the index can be rebuilt from
the database at any time.

Tables::

    meta(key, value)                      format version, index type, embedder, generations
    persons(id, name UNIQUE)
    photos(id, person_id, source, sha256, bytes, box, detector, faces_in_image,
           vector BLOB float32[dim], thumbnail BLOB (JPEG), added_utc)   UNIQUE(person_id, sha256)
    skipped(person_id, sha256, source, reason, added_utc)                PRIMARY KEY(person_id, sha256)

``data_generation`` (meta) counts committed changes of photos; ``index_generation`` is the
data generation the index file on disk was written for. They differ only after a crash
between the two writes, and opening the gallery then rebuilds the index.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import numpy as np

FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS photos(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES persons(id),
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    box TEXT,
    detector TEXT,
    faces_in_image INTEGER,
    vector BLOB NOT NULL,
    thumbnail BLOB,
    added_utc TEXT NOT NULL,
    UNIQUE(person_id, sha256)
);
CREATE INDEX IF NOT EXISTS photos_person ON photos(person_id);
CREATE INDEX IF NOT EXISTS photos_sha256 ON photos(sha256);
CREATE TABLE IF NOT EXISTS skipped(
    person_id INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    added_utc TEXT NOT NULL,
    PRIMARY KEY(person_id, sha256)
);
"""


def utc_now() -> str:
    """Current UTC time, ISO 8601 with ``Z``, to the second (as in dfrec's reports)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database (WAL mode, foreign keys on, 30 s busy timeout)."""
    if readonly:
        con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        con = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)
    con.execute("PRAGMA foreign_keys=ON")
    return con


def get_meta(con: sqlite3.Connection) -> dict[str, Any]:
    """All meta values (JSON-decoded)."""
    return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}


def set_meta(con: sqlite3.Connection, **values: Any) -> None:
    """Insert or replace meta values (JSON-encoded); the caller commits."""
    con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in values.items()])


def person_id(con: sqlite3.Connection, name: str, create: bool = True) -> int | None:
    """The id of person ``name`` (inserted when ``create`` and absent)."""
    row = con.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    if not create:
        return None
    return int(con.execute("INSERT INTO persons(name) VALUES (?)", (name,)).lastrowid)


def vector_blob(v: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


def blob_vectors(blobs: Iterable[bytes], dim: int) -> np.ndarray:
    """Stack float32 blobs into ``(N, dim)``."""
    data = b"".join(blobs)
    return np.frombuffer(data, dtype="<f4").reshape(-1, dim).astype(np.float32, copy=True)


def all_vectors(con: sqlite3.Connection, dim: int, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Every photo's ``(ids (N,), vectors (N, dim))``, in id order."""
    ids, vecs = [], []
    cur = con.execute("SELECT id, vector FROM photos ORDER BY id")
    while True:
        rows = cur.fetchmany(chunk)
        if not rows:
            break
        ids.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
        vecs.append(blob_vectors((r[1] for r in rows), dim))
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return np.concatenate(ids), np.concatenate(vecs)
