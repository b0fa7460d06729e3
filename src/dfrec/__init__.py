"""dfrec: DeepFake identity recovery (DFREC) — recover the source and target faces of a face swap."""

__version__ = "0.1.0"

from dfrec.errors import CheckpointError, ConfigError, DfrecError, InputError, NoFaceError  # noqa: E402

__all__ = [
    "__version__",
    "DfrecError",
    "InputError",
    "NoFaceError",
    "CheckpointError",
    "ConfigError",
]
