"""The forgery synthesiser: one call turns a target face (and a source or donor face) into a
``Sample(forgery, source, target, mask, kind)``.

What each kind returns as ``source`` and ``target``:

========  =======================================  ===========================  =================
kind      forgery                                  source                       target
========  =======================================  ===========================  =================
``swap``  source's face warped onto target's head  source person's aligned crop target's crop
``blend`` donor's face blended on target (BI)      donor's aligned crop         target's crop
``self``  target blended with altered self (SBI)   the face itself              the face itself
``real``  the face itself                          the face itself              the face itself
========  =======================================  ===========================  =================

``mask`` is the per-pixel weight of source pixels in the forgery (0 everywhere for
``real``). Randomness comes only from the ``numpy.random.Generator`` passed in: the same
seed gives the same sample, bit for bit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dfrec.data.synth.augment import augment
from dfrec.data.synth.blend import blended_image, nearest_donor
from dfrec.data.synth.config import KINDS, SynthConfig
from dfrec.data.synth.selfblend import self_blend
from dfrec.data.synth.swap import choose, face_swap
from dfrec.data.synth.types import FaceCrop, Sample
from dfrec.errors import ConfigError


class Synthesizer:
    """Makes forgery samples from aligned faces according to a :class:`SynthConfig`.

    >>> synth = Synthesizer(SynthConfig())
    >>> s = synth(target, source, rng=np.random.default_rng(0))      # kind drawn from the mix
    >>> s = synth(target, source, kind="swap", rng=np.random.default_rng(0))
    """

    def __init__(self, config: SynthConfig | None = None, augment: bool = True):
        self.config = config or SynthConfig()
        self.do_augment = augment
        if augment and self.config.augment.h264_prob > 0:  # no libx264: a clear error now, not in a data worker
            from dfrec.x264 import X264Error, library

            try:
                library()
            except X264Error as e:
                raise ConfigError(f"augment.h264_prob {self.config.augment.h264_prob} needs libx264: {e}") from None

    def draw_kind(self, rng: np.random.Generator) -> str:
        """A kind drawn from the configured mix."""
        return choose(self.config.kinds, rng)

    def __call__(
        self,
        target: FaceCrop,
        source: FaceCrop | None = None,
        kind: str | None = None,
        rng: np.random.Generator | int | None = None,
        donors: Sequence[FaceCrop] | None = None,
    ) -> Sample:
        """Synthesise one sample.

        ``target``: the face whose head is kept. ``source``: the face whose identity is
        pasted (``swap``; also the donor of ``blend`` when ``donors`` is not given).
        ``donors``: candidate donors for ``blend``; the one with the nearest landmarks is
        used. ``rng``: a Generator or an int seed. Crops of another size are resized to
        ``config.size`` (landmarks scaled).
        """
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        cfg = self.config
        kind = kind or self.draw_kind(rng)
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (choose from {', '.join(KINDS)})")
        t = target.resized(cfg.size)
        if kind == "swap":
            if source is None:
                raise ValueError("a swap needs a source face")
            s = source.resized(cfg.size)
            forgery, mask, info = face_swap(t, s, cfg.swap, rng)
            sample = Sample(forgery, s.image, t.image, mask, kind, s.identity, t.identity, s.key, t.key, info)
        elif kind == "blend":
            pool = list(donors) if donors else ([source] if source is not None else [])
            if not pool:
                raise ValueError("a blend needs a donor face (source or donors)")
            d = pool[nearest_donor(t.landmarks, [p.resized(cfg.size).landmarks for p in pool])].resized(cfg.size)
            forgery, mask, info = blended_image(t, d, cfg.blend, rng)
            sample = Sample(forgery, d.image, t.image, mask, kind, d.identity, t.identity, d.key, t.key, info)
        elif kind == "self":
            forgery, mask, info = self_blend(t, cfg.selfblend, rng)
            sample = Sample(forgery, t.image, t.image, mask, kind, t.identity, t.identity, t.key, t.key, info)
        else:
            mask = np.zeros(t.image.shape[:2], np.float32)
            sample = Sample(t.image.copy(), t.image, t.image, mask, kind, t.identity, t.identity, t.key, t.key, {})
        if self.do_augment:
            sample = augment(sample, cfg.augment, rng)
        return sample
