"""The records the synthesiser reads and writes: aligned face crops and forgery samples."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class FaceCrop:
    """One aligned face: ``image (S, S, 3) uint8`` RGB, ``landmarks (68, 2) float32`` (x, y)
    in crop pixels, the person's ``identity`` and a ``key`` naming the file it came from."""

    image: np.ndarray
    landmarks: np.ndarray
    identity: str = ""
    key: str = ""

    def resized(self, size: int) -> "FaceCrop":
        """The crop resized to ``size`` × ``size`` (area/cubic), landmarks scaled to match."""
        h, w = self.image.shape[:2]
        if h == size and w == size:
            return self
        interp = cv2.INTER_AREA if size < h else cv2.INTER_CUBIC
        img = cv2.resize(self.image, (size, size), interpolation=interp)
        scale = np.array([size / w, size / h], np.float32)
        # pixel centres: x' + 0.5 = (x + 0.5) * s
        lm = (np.asarray(self.landmarks, np.float32) + 0.5) * scale - 0.5
        return FaceCrop(img, lm.astype(np.float32), self.identity, self.key)


@dataclass
class Sample:
    """One synthesised training sample.

    ``forgery``, ``source``, ``target``: ``(S, S, 3) uint8`` RGB; ``mask``: ``(S, S) float32``
    in [0, 1], the weight of source pixels in the forgery (0 for ``real``); ``kind``: one of
    ``swap``, ``blend``, ``self``, ``real``; ``source_id``, ``target_id``: identities;
    ``info``: the random choices made (hull type, blend ratio, augmentations...).
    """

    forgery: np.ndarray
    source: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    kind: str
    source_id: str = ""
    target_id: str = ""
    source_key: str = ""
    target_key: str = ""
    info: dict = field(default_factory=dict)

    @property
    def is_fake(self) -> bool:
        return self.kind != "real"
