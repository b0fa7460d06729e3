"""Forgery synthesis from aligned faces: landmark face swap, Face X-ray blends, self-blends.

Reads only aligned crops and their 68 landmarks (numpy/OpenCV); never needs dlib, so it
runs on a training machine without the face toolkit's detectors.
"""

from dfrec.data.synth.config import KINDS, AugmentConfig, BlendConfig, MaskConfig, SelfBlendConfig, SwapConfig, SynthConfig
from dfrec.data.synth.synthesizer import Synthesizer
from dfrec.data.synth.types import FaceCrop, Sample

__all__ = [
    "KINDS",
    "AugmentConfig",
    "BlendConfig",
    "FaceCrop",
    "MaskConfig",
    "Sample",
    "SelfBlendConfig",
    "SwapConfig",
    "SynthConfig",
    "Synthesizer",
]
