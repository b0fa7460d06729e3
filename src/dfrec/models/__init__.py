"""dfrec.models: the DFREC network (ISM, SIRM, TIRM), its presets and checkpoints.

``create_model(preset, **overrides) -> DFREC``; ``list_presets()``; ``DFREC.from_pretrained(dir)``.
segmentation_models_pytorch is imported only when an ISM is built.
"""

from dfrec.models.config import DFRECConfig
from dfrec.models.dfrec import DFREC
from dfrec.models.presets import DEFAULT_PRESET, create_model, get_config, list_presets, register_preset

__all__ = ["DFREC", "DFRECConfig", "DEFAULT_PRESET", "create_model", "get_config", "list_presets", "register_preset"]
