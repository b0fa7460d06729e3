"""Online forgery dataset: (target, source) pairs of different people from a face set,
turned into samples by the :class:`~dfrec.data.synth.Synthesizer`.

Item ``i`` of epoch ``e`` is generated from ``numpy.random.default_rng([seed, e, i])``: it
does not depend on worker count, worker order or previous items, so DataLoader workers are
deterministic and a run can be reproduced. Call :meth:`set_epoch` each epoch for fresh
pairs. The target of item ``i`` is face ``i mod N`` (an epoch of length N visits every
face once as target); the source is a random face of another identity; a ``blend`` donor
is the nearest-landmark face among ``blend.donor_candidates`` random faces of other
identities.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from dfrec.data.faceset import FaceSet
from dfrec.data.synth import SynthConfig, Synthesizer
from dfrec.data.synth.blend import nearest_donor
from dfrec.data.synth.types import Sample
from dfrec.io import to_float


def to_tensor(image: np.ndarray, uint8: bool = False) -> torch.Tensor:
    """``(H, W, 3) uint8`` → ``(3, H, W) float32`` in [0, 1], or with ``uint8`` the same
    pixels as a contiguous ``(3, H, W) uint8`` tensor."""
    arr = image if image.flags.writeable and image.flags.c_contiguous else np.array(image)
    chw = torch.from_numpy(arr).permute(2, 0, 1)
    return chw.contiguous() if uint8 else to_float(chw)


def sample_to_item(s: Sample, uint8_images: bool = False) -> dict:
    """A :class:`Sample` as the dataset item dict (see :class:`SyntheticForgeries`)."""
    return {
        "forgery": to_tensor(s.forgery, uint8_images),
        "source": to_tensor(s.source, uint8_images),
        "target": to_tensor(s.target, uint8_images),
        "mask": torch.from_numpy(np.array(s.mask, np.float32))[None],
        "is_fake": torch.tensor(1.0 if s.is_fake else 0.0),
        "kind": s.kind,
        "source_id": s.source_id,
        "target_id": s.target_id,
    }


class SyntheticForgeries(Dataset):
    """Forgeries synthesised on the fly from a :class:`FaceSet` (e.g. one LFW split).

    Items: ``forgery``, ``source``, ``target`` ``(3, S, S)`` float32 in [0, 1]; ``mask``
    ``(1, S, S)`` in [0, 1]; ``is_fake`` float 0./1.; ``kind`` str; ``source_id``,
    ``target_id`` str. ``S = config.size`` (224); smaller packed crops are upsampled.

    ``length``: items per epoch (default: one per face). Needs faces of >= 2 identities
    for ``swap``/``blend``. ``uint8_images``: ``forgery``, ``source`` and ``target`` stay
    ``(3, S, S) uint8`` in [0, 255] (a third of the bytes through the loader's workers and
    pinned memory; the trainer's ``to_device`` makes them float on the device).
    """

    def __init__(self, faces: FaceSet, config: SynthConfig | None = None, seed: int = 0,
                 length: int | None = None, augment: bool = True, uint8_images: bool = False):
        if len(faces) == 0:
            raise ValueError("SyntheticForgeries needs at least one face")
        self.faces = faces
        self.config = config or SynthConfig()
        self.synth = Synthesizer(self.config, augment=augment)
        self.seed = int(seed)
        self.epoch = 0
        self.length = int(length) if length is not None else len(faces)
        self.uint8_images = bool(uint8_images)
        self._ids = faces.identity_index
        if len(faces.identity_names) < 2:
            needs = [k for k in ("swap", "blend") if self.config.kinds.get(k, 0) > 0]
            if needs:
                raise ValueError(f"kinds {needs} need faces of at least two identities")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (changes every item's random draw)."""
        self.epoch = int(epoch)

    def _other(self, rng: np.random.Generator, identity: int) -> int:
        n = len(self._ids)
        for _ in range(64):
            j = int(rng.integers(n))
            if self._ids[j] != identity:
                return j
        others = np.flatnonzero(self._ids != identity)
        return int(others[rng.integers(len(others))])

    def sample(self, index: int, kind: str | None = None) -> Sample:
        """The :class:`Sample` (uint8 arrays) behind item ``index``."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        t = int(index) % len(self.faces)
        kind = kind or self.synth.draw_kind(rng)
        target = self.faces.crop(t)
        source, donors = None, None
        if kind == "swap":
            source = self.faces.crop(self._other(rng, self._ids[t]))
        elif kind == "blend":
            k = self.config.blend.donor_candidates
            cand = sorted({self._other(rng, self._ids[t]) for _ in range(k)})
            best = cand[nearest_donor(self.faces.landmarks[t], [self.faces.landmarks[j] for j in cand])]
            donors = [self.faces.crop(best)]
        return self.synth(target, source, kind=kind, rng=rng, donors=donors)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return sample_to_item(self.sample(index % len(self)), self.uint8_images)
