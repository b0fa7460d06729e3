"""Image face-swap sets named ``<target>_<source>.<ext>`` → triple folder: CelebaMegaFS and
FFHQ-E4S.

CelebaMegaFS (Zhu et al., CVPR 2021; layout from the authors' README): three subsets
``FTM``, ``IDInjection``, ``LCR`` of CelebA-HQ swaps, each image named
``targetID_sourceID.jpg`` where an ID is the image's offset in CelebA-HQ (source gives the
identity, target everything else). Assumed on disk::

    ROOT/FTM/123_4567.jpg   ROOT/IDInjection/...   ROOT/LCR/...
    CELEBA_HQ/123.jpg  (default CELEBA_HQ = ROOT/CelebA-HQ-img, else ROOT/CelebA-HQ)

FFHQ-E4S (DFREC's own E4S swaps of FFHQ; no public layout, assumed the same)::

    ROOT/swaps/<target>_<source>.png   FFHQ/<id>.png (00000.png ...; default ROOT/ffhq)

Identifiers match numerically (``12`` ↔ ``00012.png``). Identities are image IDs (CelebA-HQ
and FFHQ list no person labels here), so a split by ``target_id`` separates images, not
people.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfrec.data.datasets.prepare import TripleWriter, find_by_id
from dfrec.errors import InputError
from dfrec.io import list_images, read_image

MEGAFS_METHODS = ("FTM", "IDInjection", "LCR")


def prepare_named_swaps(
    swaps: str | os.PathLike,
    originals: str | os.PathLike,
    out: str | os.PathLike,
    kind: str,
    size: int = 224,
    limit: int | None = None,
    writer: TripleWriter | None = None,
    progress: bool = True,
) -> TripleWriter:
    """Add every ``<t>_<s>.<ext>`` image of ``swaps`` (with ``t``, ``s`` found in
    ``originals``) to a :class:`TripleWriter` for ``out``; returns the writer."""
    from tqdm import tqdm

    w = writer or TripleWriter(Path(out), size=size)
    files = [f for f in list_images(swaps, recursive=False) if len(f.stem.split("_")) == 2]
    if limit is not None:
        files = files[:limit]
    for f in tqdm(files, desc=kind, unit="img", disable=not progress):
        t, s = f.stem.split("_")
        tp, sp = find_by_id(originals, t), find_by_id(originals, s)
        if tp is None or sp is None:
            w.failures.append({"name": f.name, "reason": f"original {'target' if tp is None else 'source'} not found"})
            continue
        try:
            w.add(f"{kind.replace('/', '_')}_{f.stem}", read_image(f), read_image(tp), read_image(sp), kind, s, t,
                  what=f.name)
        except InputError as e:
            w.failures.append({"name": f.name, "reason": str(e)})
    return w


def prepare_megafs(
    root: str | os.PathLike,
    out: str | os.PathLike,
    celeba_hq: str | os.PathLike | None = None,
    methods: tuple[str, ...] = MEGAFS_METHODS,
    size: int = 224,
    limit: int | None = None,
    progress: bool = True,
) -> Path:
    """Convert CelebaMegaFS (see the module docstring for the layout) into a triple folder."""
    root = Path(root)
    hq = Path(celeba_hq) if celeba_hq else next(
        (root / d for d in ("CelebA-HQ-img", "CelebA-HQ", "celeba_hq") if (root / d).is_dir()), None)
    if hq is None or not hq.is_dir():
        raise InputError(f"{root}: CelebA-HQ originals not found (give the folder with celeba_hq / --originals)")
    present = [m for m in methods if (root / m).is_dir()]
    if not present:
        raise InputError(f"{root}: none of the MegaFS subsets {', '.join(methods)} found")
    w = TripleWriter(Path(out), size=size)
    for m in present:
        prepare_named_swaps(root / m, hq, out, f"megafs/{m}", size, limit, writer=w, progress=progress)
    if not w.records:
        raise InputError(f"{root}: no triples could be extracted")
    return w.finish({"dataset": "CelebaMegaFS", "methods": present, "originals": str(hq), "size": size})


def prepare_e4s(
    root: str | os.PathLike,
    out: str | os.PathLike,
    ffhq: str | os.PathLike | None = None,
    size: int = 224,
    limit: int | None = None,
    progress: bool = True,
) -> Path:
    """Convert FFHQ-E4S swaps (``ROOT/swaps/<t>_<s>.png`` + FFHQ originals) into a triple folder."""
    root = Path(root)
    swaps = root / "swaps" if (root / "swaps").is_dir() else root
    originals = Path(ffhq) if ffhq else root / "ffhq"
    if not originals.is_dir():
        raise InputError(f"{root}: FFHQ originals not found (give the folder with ffhq / --originals)")
    w = prepare_named_swaps(swaps, originals, out, "e4s", size, limit, progress=progress)
    if not w.records:
        raise InputError(f"{root}: no triples could be extracted")
    return w.finish({"dataset": "FFHQ-E4S", "originals": str(originals), "size": size})
