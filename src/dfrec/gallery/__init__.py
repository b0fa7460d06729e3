"""Gallery search: name the people behind recovered faces.

A gallery is a folder of known faces (``dfrec gallery add DIR --gallery G``): their names,
file hashes and thumbnails in SQLite, their identity vectors in a faiss index. Searching it
with a face's identity embedding gives the most similar people, each with a similarity
(IDSim) and a calibrated "likely the same person" verdict.

- :mod:`dfrec.gallery.gallery`: :class:`Gallery` (open/create, add, remove, search, info).
- :mod:`dfrec.gallery.index`: the faiss index types (``flat`` exact, ``hnsw`` approximate).
- :mod:`dfrec.gallery.store`: the SQLite schema.
- :mod:`dfrec.gallery.ingest`: folders / CSV -> detected, aligned, embedded entries.
- :mod:`dfrec.gallery.calibration`: the threshold and its false-match rate.
"""

from __future__ import annotations

from dfrec._lazy import lazy_getattr

_EXPORTS = {
    "Gallery": "dfrec.gallery.gallery",
    "GalleryEntry": "dfrec.gallery.gallery",
    "Candidate": "dfrec.gallery.gallery",
    "to_space": "dfrec.gallery.gallery",
    "INDEX_TYPES": "dfrec.gallery.index",
    "FaceEmbedder": "dfrec.gallery.ingest",
    "add_photos": "dfrec.gallery.ingest",
    "list_sources": "dfrec.gallery.ingest",
    "load_threshold": "dfrec.gallery.calibration",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
