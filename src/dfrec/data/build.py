"""Getting faces and datasets from a path: packs, caches, or plain image folders indexed on
demand, and :func:`build_dataset`, the one entry point the trainer uses.

An image folder is indexed into a landmark cache (default under ``$DFREC_CACHE_DIR`` or
``~/.cache/dfrec/faces``, see :func:`default_cache_dir`); with ``max_faces`` only a seeded
subset, spread over as many identities as possible, is indexed, so a quick ``dfrec synth -n 64``
on LFW does not have to index 13,233 images first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from dfrec.data.datasets.lfw import make_identity_split, split_identities
from dfrec.data.faceset import FaceSet, is_cache, is_pack, open_cache, open_faces
from dfrec.data.synth.config import SynthConfig
from dfrec.errors import ConfigError, InputError
from dfrec.io import list_images

DATASETS = ("lfw", "folder", "triples", "ffpp", "megafs", "e4s")


def default_cache_dir(folder: str | os.PathLike, size: int = 224) -> Path:
    """Cache folder used for an image folder when none is given:
    ``<base>/<folder name>-<path hash>-<size>-<enlargement>`` (e.g. ``lfw-1a2b3c4d5e-224-lanczos4``),
    so crops of another size, or made by a dfrec that enlarged small faces differently, are never
    served from the same folder."""
    from dfrec.faces.align import ENLARGE_INTERPOLATION, interpolation_name

    root = Path(folder).resolve()
    base = Path(os.environ.get("DFREC_CACHE_DIR") or Path.home() / ".cache" / "dfrec" / "faces")
    tag = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    return base / f"{root.name}-{tag}-{int(size)}-{interpolation_name(ENLARGE_INTERPOLATION)}"


def spread_subset(keys: list[str], identities: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` keys chosen with ``seed``, round-robin over shuffled identities (one image of
    each person before a second of anyone), so the subset holds as many people as possible."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for k, i in zip(keys, identities):
        groups.setdefault(i, []).append(k)
    names = sorted(groups)
    order = [names[j] for j in rng.permutation(len(names))]
    for name in order:
        g = groups[name]
        groups[name] = [g[j] for j in rng.permutation(len(g))]
    out: list[str] = []
    depth = 0
    while len(out) < n and any(len(groups[nm]) > depth for nm in order):
        for nm in order:
            if len(groups[nm]) > depth:
                out.append(groups[nm][depth])
                if len(out) == n:
                    break
        depth += 1
    return out


def faces_from(
    path: str | os.PathLike,
    cache: str | os.PathLike | None = None,
    identities: set[str] | None = None,
    max_faces: int | None = None,
    seed: int = 0,
    size: int = 224,
    workers: int = 1,
    progress: bool = True,
) -> FaceSet:
    """Aligned faces from ``path``: a pack, a landmark cache, or an image folder (indexed into
    ``cache`` on demand). ``identities``: keep only these people; ``max_faces``: index/keep at
    most this many faces (spread over identities, seeded)."""
    from dfrec.data.cache import default_identity, index_folder

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such folder")
    if is_pack(p) or is_cache(p):
        faces = open_faces(p)
        if identities is not None:
            faces = faces.select_identities(identities)
        if max_faces is not None and len(faces) > max_faces:
            keep = set(spread_subset(faces.keys, faces.identities, max_faces, seed))
            faces = faces.subset(i for i, k in enumerate(faces.keys) if k in keep)
        return faces
    if not p.is_dir():
        raise InputError(f"{p}: not a folder of images, a face pack or a landmark cache")
    if cache is not None and is_pack(cache):
        return faces_from(cache, identities=identities, max_faces=max_faces, seed=seed)
    root = p.resolve()
    rels = [f.relative_to(root).as_posix() for f in list_images(root)]
    ids = [default_identity(r) for r in rels]
    if identities is not None:
        keep = [(r, i) for r, i in zip(rels, ids) if i in identities]
        rels, ids = [r for r, _ in keep], [i for _, i in keep]
    if not rels:
        raise InputError(f"{p}: no images found" + (" for the requested identities" if identities is not None else ""))
    chosen = rels if max_faces is None or max_faces >= len(rels) else spread_subset(rels, ids, max_faces, seed)
    cache = Path(cache) if cache is not None else default_cache_dir(root, size)
    index_folder(root, cache, files=chosen, size=size, workers=workers, progress=progress)
    faces = open_cache(cache, keys=chosen)
    if len(faces) == 0:
        raise InputError(f"{p}: no face could be found in the {len(chosen)} images indexed (see {cache}/failures.jsonl)")
    return faces


def build_dataset(
    name: str,
    split: str | None = "train",
    length: int | None = None,
    root: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    image_size: int = 224,
    synth: dict | SynthConfig | None = None,
    seed: int = 0,
    max_faces: int | None = None,
    split_file: str | os.PathLike | None = None,
    workers: int = 1,
    augment: bool = True,
):
    """The dataset ``name`` (one of :data:`DATASETS`) for ``split`` (``train``/``val``/``test``,
    by identity; None = everything).

    ``lfw`` / ``folder``: :class:`SyntheticForgeries` over aligned faces from ``cache`` (a pack,
    or a landmark cache when ``root`` is absent; needs no dlib) or ``root`` indexed on demand
    into ``cache`` (or the default cache folder); without an existing cache, on-demand
    indexing takes only ``max_faces`` faces (default ``max(2 * length, 256)`` when ``length``
    is given), spread over the split's people. The LFW split is the one
    shipped with dfrec (or ``split_file``), a folder's split is made from its identities with
    seed 0. ``triples`` / ``ffpp`` / ``megafs`` / ``e4s``: a :class:`TripleFolder` at ``root``
    (``ffpp``/``megafs``/``e4s`` after ``dfrec data prepare``), split by target identity.
    ``synth``: :class:`SynthConfig` or its dict; ``image_size`` overrides its ``size``.
    """
    from dfrec.data.datasets.synthetic import SyntheticForgeries
    from dfrec.data.datasets.triples import TripleFolder

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    cfg = synth if isinstance(synth, SynthConfig) else SynthConfig.from_dict(dict(synth or {}))
    cfg = dataclasses.replace(cfg, size=int(image_size))
    split_seed = {"train": 0, "val": 1, "test": 2}.get(split or "", 3)

    if name in ("lfw", "folder"):
        no_root = root is None or not Path(root).is_dir()
        if cache is not None and (is_pack(cache) or (is_cache(cache) and no_root)):
            src, index_cache = cache, None  # read the pack / cache directly (no dlib needed)
        else:
            src, index_cache = root, cache  # index the image folder (into ``cache`` if given)
            if max_faces is None and length is not None and not (cache is not None and is_cache(cache)):
                max_faces = max(2 * int(length), 256)  # on-demand indexing: only what the run needs
        if src is None:
            raise ConfigError(f"dataset {name!r} needs root (an image folder) or cache (a pack or landmark cache)")
        identities = None
        if split:
            if name == "lfw":
                identities = split_identities(split, split_file)
            else:
                identities = _folder_split(src, split)
        faces = faces_from(src, cache=index_cache, identities=identities, max_faces=max_faces,
                           seed=seed, size=max(image_size, 64), workers=workers)
        return SyntheticForgeries(faces, cfg, seed=seed * 1000 + split_seed, length=length, augment=augment)

    if root is None:
        raise ConfigError(f"dataset {name!r} needs root (a triple folder)")
    ds = TripleFolder(root, size=image_size)
    if split:
        ds = ds.split(split)
    if length is not None and length < len(ds):
        ds = ds.head(length)
    return ds


def _folder_split(src: str | os.PathLike, split: str) -> set[str]:
    """Identities of ``split`` for a generic folder / cache / pack: seeded 80/10/10 of its people."""
    from dfrec.data.people import count_identities

    parts = make_identity_split(count_identities(src))
    return set().union(*(set(parts[s]) for s in split.split(",")))
