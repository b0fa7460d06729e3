"""dfrec: DeepFake identity recovery (DFREC) — recover the source and target faces of a face swap.

Public API (heavy modules load on first use, so ``import dfrec`` stays cheap)::

    from dfrec import Recoverer
    r = Recoverer.from_pretrained()          # the bundled default model
    faces = r.recover("suspect.jpg")         # one FaceRecovery per face, largest first

    from dfrec import create_model, list_presets, DFREC
    model = create_model("small")
"""

from __future__ import annotations

from dfrec._lazy import lazy_getattr

__version__ = "0.1.0"

from dfrec.errors import CheckpointError, ConfigError, DfrecError, InputError, NoFaceError  # noqa: E402

_LAZY = {
    "Recoverer": "dfrec.recover",
    "FaceRecovery": "dfrec.results",
    "DFREC": "dfrec.models",
    "DFRECConfig": "dfrec.models",
    "create_model": "dfrec.models",
    "list_presets": "dfrec.models",
    "read_image": "dfrec.io",
}

__all__ = [
    "__version__",
    "DfrecError",
    "InputError",
    "NoFaceError",
    "CheckpointError",
    "ConfigError",
    *_LAZY,
]


__getattr__ = lazy_getattr(__name__, _LAZY)
