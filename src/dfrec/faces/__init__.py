"""Face toolkit: detection, 68 landmarks, alignment to a canonical crop and back, identity.

Names are imported lazily so that ``import dfrec.faces`` stays cheap (dlib and torch
models load on first use).
"""

from __future__ import annotations

from dfrec._lazy import lazy_getattr

_EXPORTS = {
    # detection + landmarks (detect.py)
    "Face": "dfrec.faces.detect",
    "FaceDetector": "dfrec.faces.detect",
    "detect_faces": "dfrec.faces.detect",
    "pick_face": "dfrec.faces.detect",
    "hog_box_from_landmarks": "dfrec.faces.detect",
    # alignment (align.py)
    "AlignedFace": "dfrec.faces.align",
    "align_face": "dfrec.faces.align",
    "paste_back": "dfrec.faces.align",
    "canonical_landmarks": "dfrec.faces.align",
    "chip_matrix": "dfrec.faces.align",
    "DEFAULT_MARGIN": "dfrec.faces.align",
    # identity network (dlib_resnet.py) and its use (identity.py)
    "IdentityNet": "dfrec.faces.dlib_resnet",
    "IdentityEncoder": "dfrec.faces.identity",
    "idsim": "dfrec.faces.identity",
    "l2_distance": "dfrec.faces.identity",
    "is_same_person": "dfrec.faces.identity",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
