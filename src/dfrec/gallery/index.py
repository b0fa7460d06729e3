"""The vector index of a gallery: faiss, inner product on unit vectors (= IDSim).

Two index types, chosen when a gallery is created:

- ``flat`` (default): exact search (``faiss.IndexFlatIP``). Every query compares against every
  vector: the right answer always, about 30 ms per query per million vectors on one core.
- ``hnsw``: approximate search on a navigable small-world graph (``faiss.IndexHNSWFlat``,
  ``M`` links per node, ``ef_search`` candidates per query). Much faster on large galleries,
  slower to build, occasionally misses the true nearest vector; faiss cannot delete from it,
  so removals rebuild it.

Both are wrapped in ``IndexIDMap2`` so search returns the gallery's own photo ids. Vectors
are ``(N, dim) float32`` rows of unit length (see :func:`dfrec.gallery.gallery.to_space`).
The index is a derived file: the gallery's SQLite database keeps every vector, so the index
can always be rebuilt from it (:meth:`dfrec.gallery.Gallery.rebuild_index`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dfrec.errors import ConfigError

INDEX_TYPES = ("flat", "hnsw")

#: HNSW graph degree and search breadth (faiss defaults are 32 / 16; 64 keeps recall near 1
#: for the top-50 lists gallery search asks for).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


def faiss_module():
    """``import faiss`` with a clear message when faiss-cpu is not installed."""
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ConfigError(
            "gallery search needs faiss: pip install 'faiss-cpu>=1.8' (bash scripts/setup.sh installs it)"
        ) from e
    return faiss


def new_index(kind: str, dim: int):
    """An empty ``IndexIDMap2`` of type ``kind`` (``flat`` or ``hnsw``) for ``dim``-d vectors."""
    faiss = faiss_module()
    if kind == "flat":
        base = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        base.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ConfigError(f"unknown gallery index type {kind!r}; choose from {', '.join(INDEX_TYPES)}")
    return faiss.IndexIDMap2(base)


def build_index(kind: str, vectors: np.ndarray, ids: np.ndarray, dim: int | None = None):
    """An index of type ``kind`` holding ``vectors (N, dim)`` under ``ids (N,) int64``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(dim if dim is not None else vectors.shape[1])
    index = new_index(kind, dim)
    if len(vectors):
        add(index, vectors, ids)
    return index


def add(index, vectors: np.ndarray, ids: np.ndarray) -> None:
    """Add ``vectors (N, dim)`` with ``ids (N,)`` to ``index``."""
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))


def can_remove(kind: str) -> bool:
    """Whether faiss can delete vectors from an index of this type in place."""
    return kind == "flat"


def remove(index, ids: np.ndarray) -> int:
    """Delete ``ids`` from a ``flat`` index; returns how many were removed."""
    faiss = faiss_module()
    return int(index.remove_ids(faiss.IDSelectorArray(np.ascontiguousarray(ids, dtype=np.int64))))


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``queries (Q, dim)`` -> ``(scores (Q, k), ids (Q, k))``; missing slots have id -1."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(int(k), max(1, index.ntotal)))
    base = index.index if hasattr(index, "index") else index
    hnsw = getattr(base, "hnsw", None)
    if hnsw is not None:  # the graph search must look at least k candidates wide
        hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    return index.search(q, k)


def write_index(index, path: str | os.PathLike) -> Path:
    """Write ``index`` to ``path`` atomically (a crash leaves the previous file)."""
    from dfrec.io import atomic_path

    faiss = faiss_module()
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    return Path(path)


def read_index(path: str | os.PathLike):
    """Read an index written by :func:`write_index`."""
    faiss = faiss_module()
    return faiss.read_index(str(path))


def index_kind(index) -> str:
    """``flat`` or ``hnsw`` for an index made by :func:`new_index`."""
    faiss = faiss_module()
    base = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return "hnsw" if isinstance(base, faiss.IndexHNSW) else "flat"
