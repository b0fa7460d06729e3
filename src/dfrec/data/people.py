"""Which people an evaluation reports on: identity counts of a face source and the seeded pick
of ``dfrec evaluate``, kept in one place so that model selection can stay off those people.

``dfrec evaluate --limit N --seed S`` reports on people drawn by :func:`candidate_people`; the
model gate's test-identity sets (:func:`dfrec.train.heldout.heldout_sets`) leave out
:func:`reported_people` (the README's ``--limit 100 --seed 0``), so choosing a model on the test
split does not bias the test table published for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: ``dfrec evaluate``'s default: the README's and docs/results' test tables use these people.
REPORT_LIMIT = 100
REPORT_SEED = 0


def resolve_source(data: str | os.PathLike) -> Path:
    """A pack, a landmark cache, or an image folder; an LFW root becomes its
    ``images_deepfunneled`` folder (so identities are the person folders)."""
    from dfrec.errors import InputError

    p = Path(data)
    if not p.exists():
        raise InputError(f"{p}: no such folder")
    if (p / "images_deepfunneled").is_dir():
        return p / "images_deepfunneled"
    return p


def tally(names: list[str]) -> dict[str, int]:
    """``{identity: number of images}`` of a list with one identity per image."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return counts


def count_identities(src: str | os.PathLike) -> dict[str, int]:
    """:func:`tally` of a pack's or landmark cache's faces, or of an image folder's files (the
    identity of a file: :func:`dfrec.data.cache.default_identity` of its path under ``src``)."""
    from dfrec.data.cache import default_identity
    from dfrec.data.faceset import is_cache, is_pack, open_faces
    from dfrec.io import list_images

    p = Path(src)
    if is_pack(p) or is_cache(p):
        return tally(open_faces(p).identities)
    root = p.resolve()
    return tally([default_identity(f.relative_to(root).as_posix()) for f in list_images(root)])


def identity_counts(data: str | os.PathLike) -> dict[str, int]:
    """:func:`count_identities` of a pack, a landmark cache or an image folder (an LFW root
    becomes its image folder: the person sub-folders). A cache lists every image it indexed, so
    LFW's cache and its folder give the same counts."""
    return count_identities(resolve_source(data))


def candidate_people(counts: dict[str, int], allowed: set[str] | None, limit: int, seed: int) -> list[str]:
    """The people ``dfrec evaluate --limit limit --seed seed`` draws from, in its order: a seeded
    permutation of the ``allowed`` identities (None = all) with >= 2 images, cut to
    ``limit + limit // 4 + 2`` (the spare covers people whose second photo has no usable face).
    The evaluation uses the first ``limit`` of them that keep two faces."""
    eligible = sorted(n for n, c in counts.items() if c >= 2 and (allowed is None or n in allowed))
    rng = np.random.default_rng(seed)
    return [eligible[i] for i in rng.permutation(len(eligible))[: min(limit + limit // 4 + 2, len(eligible))]]


def reported_people(counts: dict[str, int], split: str = "test", limit: int = REPORT_LIMIT,
                    seed: int = REPORT_SEED) -> set[str]:
    """Every person ``dfrec evaluate --limit limit --seed seed`` (LFW ``split``) may report on,
    given the data's :func:`identity_counts`: the candidates of :func:`candidate_people` (a
    superset of the people it uses)."""
    from dfrec.data.datasets.lfw import split_identities

    return set(candidate_people(counts, split_identities(split), limit, seed))
