"""The evaluation set: test identities, one forgery per (target person, kind), a real copy of
each target, and a gallery of the same people's *other* photos for identity tracing.

Pairing is deterministic: person ``i`` is the target; the source is person ``i + 1`` (swap)
or the nearest-landmark face among persons ``i + 1 … i + 3`` (blend); ``self`` blends
person ``i`` with itself. Every chosen person has at least two usable photos: the first
(in file order) is used in forgeries, the rest form the gallery.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from dfrec.errors import InputError
from dfrec.io import to_uint8

#: Forgery kinds the synthesiser offers that mix two people (Table I rows).
DEFAULT_KINDS = ("swap", "blend")


@dataclass
class EvalSamples:
    """Stacked samples, images ``(N, 3, S, S) uint8``; ``mask (N, 1, S, S) uint8``.

    ``kind`` / ``source_id`` / ``target_id`` are lists of length N; ``landmarks (N, 68, 2)``
    are the target head's landmarks in crop pixels (a swap keeps the target's geometry);
    ``is_fake (N,)`` bool.
    """

    forgery: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    landmarks: np.ndarray
    kind: list[str]
    source_id: list[str]
    target_id: list[str]
    is_fake: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    def select(self, idx) -> "EvalSamples":
        idx = np.asarray(idx, dtype=np.int64)
        t = torch.from_numpy(idx)
        return EvalSamples(self.forgery[t], self.source[t], self.target[t], self.mask[t], self.landmarks[idx],
                           [self.kind[i] for i in idx], [self.source_id[i] for i in idx],
                           [self.target_id[i] for i in idx], self.is_fake[idx])


@dataclass
class EvalSet:
    """Samples plus the gallery (``gallery_images (M, 3, S, S) uint8``, ``gallery_ids``)."""

    samples: EvalSamples
    gallery_images: torch.Tensor
    gallery_ids: list[str]
    people: list[str]
    info: dict = field(default_factory=dict)


def _u8(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def build_eval_set(data: str | os.PathLike, split: str | None = "test", limit: int = 100,
                   kinds: tuple[str, ...] = DEFAULT_KINDS, seed: int = 0, cache: str | os.PathLike | None = None,
                   size: int = 224, include_real: bool = True, progress: bool = True) -> EvalSet:
    """Choose ``limit`` people of ``split`` with >= 2 photos, synthesise their forgeries and
    collect their gallery. ``split`` None uses every identity (for a folder of your own)."""
    from dfrec.data.build import faces_from
    from dfrec.data.datasets.lfw import split_identities
    from dfrec.data.faceset import crop_enlarge_of
    from dfrec.data.people import candidate_people, identity_counts, resolve_source
    from dfrec.data.synth import SynthConfig, Synthesizer
    from dfrec.data.synth.blend import nearest_donor

    if limit < 2:
        raise InputError("--limit must be at least 2 (forgeries need two people)")
    src = resolve_source(data)
    chosen = candidate_people(identity_counts(src), split_identities(split) if split else None, limit, seed)
    if len(chosen) < 2:
        raise InputError(f"{data}: fewer than two {split or ''} identities with two or more photos")
    faces = faces_from(src, cache=cache, identities=set(chosen), max_faces=3 * len(chosen), seed=seed, size=size,
                       progress=progress)
    by_id = faces.by_identity()
    people = [n for n in chosen if len(by_id.get(n, [])) >= 2][:limit]
    if len(people) < 2:
        raise InputError(f"{data}: faces were found for fewer than two people with two photos")
    first = {n: sorted(by_id[n], key=lambda i: faces.keys[i])[0] for n in people}
    gallery_idx = [i for n in people for i in sorted(by_id[n]) if i != first[n]]

    synth = Synthesizer(SynthConfig(size=size), augment=False)
    cols: dict[str, list] = {k: [] for k in ("forgery", "source", "target", "mask", "landmarks", "kind",
                                             "source_id", "target_id", "is_fake")}
    n = len(people)
    for i, person in enumerate(people):
        tcrop = faces.crop(first[person]).resized(size)
        for kj, kind in enumerate(list(kinds) + (["real"] if include_real else [])):
            r = np.random.default_rng([seed, i, kj])
            source, donors = None, None
            if kind == "swap":
                source = faces.crop(first[people[(i + 1) % n]])
            elif kind == "blend":
                cand = [faces.crop(first[people[(i + d) % n]]).resized(size) for d in (1, 2, 3) if (i + d) % n != i]
                donors = [cand[nearest_donor(tcrop.landmarks, [c.landmarks for c in cand])]]
            s = synth(tcrop, source, kind=kind, rng=r, donors=donors)
            cols["forgery"].append(_u8(s.forgery))
            cols["source"].append(_u8(s.source))
            cols["target"].append(_u8(s.target))
            cols["mask"].append(torch.from_numpy(to_uint8(np.asarray(s.mask)))[None])
            cols["landmarks"].append(np.asarray(tcrop.landmarks, np.float32))
            cols["kind"].append(s.kind)
            cols["source_id"].append(s.source_id)
            cols["target_id"].append(s.target_id)
            cols["is_fake"].append(s.is_fake)
    samples = EvalSamples(
        torch.stack(cols["forgery"]), torch.stack(cols["source"]), torch.stack(cols["target"]),
        torch.stack(cols["mask"]), np.stack(cols["landmarks"]), cols["kind"], cols["source_id"],
        cols["target_id"], np.asarray(cols["is_fake"], bool),
    )
    gallery = torch.stack([_u8(faces.crop(i).resized(size).image) for i in gallery_idx])
    info = {"data": str(data), "split": split, "people": len(people), "gallery_photos": len(gallery_idx),
            "kinds": list(kinds), "seed": seed, "faces_indexed": len(faces),
            "crop_enlarge": crop_enlarge_of(faces.root)}
    return EvalSet(samples, gallery, [faces.identities[i] for i in gallery_idx], people, info)
