"""Configuration of the forgery synthesiser: the kind mix and every random range.

All ranges are ``(low, high)`` pairs sampled uniformly; sizes given as fractions are
relative to the face size (the distance from the chin to the brows' midpoint, about 45 %
of a 224 crop). A :class:`SynthConfig` is a plain dataclass tree loadable from YAML
(``SynthConfig.from_yaml(path)``) or a dict by the rules of :mod:`dfrec.config`; unknown
keys or bad values raise :class:`dfrec.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfrec.config import from_dict, to_dict
from dfrec.errors import ConfigError

#: Names of the sample kinds the synthesiser produces.
KINDS = ("swap", "blend", "self", "real")
#: Mask hull types (see :func:`dfrec.data.synth.masks.hull_polygons`).
HULL_TYPES = ("full", "inner", "extended", "components")


@dataclass
class MaskConfig:
    """How the region that carries source pixels is drawn, deformed and feathered."""

    #: hull type -> weight (normalised); see :data:`HULL_TYPES`.
    hull_weights: dict[str, float] = field(default_factory=lambda: {"full": 0.4, "inner": 0.2, "extended": 0.4})
    #: upward extension of the brows for the ``extended`` hull, fraction of face size.
    forehead: tuple[float, float] = (0.10, 0.30)
    #: amplitude of the smooth random mask deformation, fraction of face size.
    deform: tuple[float, float] = (0.0, 0.05)
    #: erosion (< 0) or dilation (> 0) of the mask, fraction of face size.
    erode_dilate: tuple[float, float] = (-0.06, 0.02)
    #: Gaussian feather sigma, fraction of face size.
    feather: tuple[float, float] = (0.02, 0.08)


@dataclass
class AppearanceConfig:
    """How the pasted face's appearance is varied (see :mod:`dfrec.data.synth.appearance`).

    Every probability defaults to 0 (off: the plain landmark warp). ``blur_prob`` and
    ``sharpen_prob`` are exclusive (their sum must be <= 1).
    """

    #: keep the target's low frequencies (shading, colour) under the source's detail, as GAN
    #: swaps do; the Gaussian sigma is a fraction of the face size.
    target_lowfreq_prob: float = 0.0
    lowfreq_sigma: tuple[float, float] = (0.04, 0.15)
    #: per-channel colour offset (0..255 units) after any colour correction: a mismatch.
    color_shift_prob: float = 0.0
    color_shift: tuple[float, float] = (-12.0, 12.0)
    #: rendered at a lower resolution: down by this factor, then back up.
    rescale_prob: float = 0.0
    rescale: tuple[float, float] = (0.3, 0.8)
    #: Gaussian blur sigma (px) or unsharp-mask amount of the pasted face.
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 2.0)
    sharpen_prob: float = 0.0
    sharpen_amount: tuple[float, float] = (0.3, 1.5)
    #: Gaussian noise sigma (0..255 units) on the pasted face only.
    noise_prob: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 6.0)

    @property
    def enabled(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in dataclasses.fields(self) if f.name.endswith("_prob"))


#: The appearance range of the fast recipe (configs/small_lfw_gpu.yaml): every effect often.
WIDE_APPEARANCE = dict(target_lowfreq_prob=0.5, color_shift_prob=0.3, rescale_prob=0.3,
                       blur_prob=0.3, sharpen_prob=0.2, noise_prob=0.2)


@dataclass
class SwapConfig:
    """Landmark face swap: piecewise-affine warp of the source face onto the target's landmarks."""

    mask: MaskConfig = field(default_factory=MaskConfig)
    #: probability of LAB mean/std colour correction of the warped source to the target.
    color_transfer_prob: float = 0.95
    #: how far above the brows the warp's forehead anchor points sit, fraction of face size.
    warp_forehead: float = 0.35
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)


@dataclass
class BlendConfig:
    """Face X-ray style blended image: a donor face (nearest landmarks) on the target's head."""

    mask: MaskConfig = field(
        default_factory=lambda: MaskConfig(
            hull_weights={"full": 0.3, "inner": 0.2, "extended": 0.25, "components": 0.25},
            deform=(0.01, 0.10),
            erode_dilate=(-0.08, 0.04),
            feather=(0.01, 0.08),
        )
    )
    #: how many random donors (other identities) are compared by landmark distance.
    donor_candidates: int = 32
    color_transfer_prob: float = 0.9
    #: peak blend ratio of the donor inside the mask.
    max_alpha: tuple[float, float] = (0.75, 1.0)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)


@dataclass
class SelfBlendConfig:
    """Self-blended image (SBI): the face blended with an augmented copy of itself."""

    mask: MaskConfig = field(
        default_factory=lambda: MaskConfig(
            hull_weights={"full": 0.5, "extended": 0.3, "inner": 0.2},
            deform=(0.0, 0.06),
            erode_dilate=(-0.06, 0.03),
            feather=(0.01, 0.06),
        )
    )
    #: per-channel RGB shift, in 0..255 units.
    rgb_shift: tuple[float, float] = (-20.0, 20.0)
    #: hue shift (OpenCV 0..180 units), saturation and value shifts (0..255 units).
    hue_shift: tuple[float, float] = (-6.0, 6.0)
    sat_shift: tuple[float, float] = (-25.0, 25.0)
    val_shift: tuple[float, float] = (-20.0, 20.0)
    #: brightness / contrast multiplier ranges.
    contrast: tuple[float, float] = (0.9, 1.1)
    #: translation (fraction of size) and scale of the augmented copy.
    translate: tuple[float, float] = (-0.03, 0.03)
    scale: tuple[float, float] = (0.95, 1.05)
    #: blend ratios drawn uniformly from this list.
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass
class AugmentConfig:
    """Post-augmentations. Joint ones (flip, colour jitter) apply to forgery, source and target
    alike; degradations (JPEG, blur, noise) apply to the forgery only (the network's input)."""

    flip_prob: float = 0.5
    jitter_prob: float = 0.3
    brightness: tuple[float, float] = (-0.1, 0.1)
    contrast: tuple[float, float] = (0.9, 1.1)
    saturation: tuple[float, float] = (0.9, 1.1)
    hue: tuple[float, float] = (-4.0, 4.0)
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (50, 99)
    blur_prob: float = 0.1
    #: odd kernel sizes in this range.
    blur_kernel: tuple[int, int] = (3, 7)
    noise_prob: float = 0.1
    #: Gaussian noise variance, in (0..255 units)^2, as in the paper's robustness tests.
    noise_var: tuple[float, float] = (10.0, 50.0)
    #: the whole input down-scaled by this factor and back up (a re-posted, re-encoded photo),
    #: with a JPEG round trip at ``jpeg_quality`` in between with ``rescale_jpeg_prob``.
    #: Off by default; nothing of it is drawn while ``rescale_prob`` is 0, so seeded samples
    #: of configs without it are unchanged.
    rescale_prob: float = 0.0
    rescale: tuple[float, float] = (0.35, 0.95)
    rescale_jpeg_prob: float = 0.5
    #: share of the lossy round trips above (the last step's at ``jpeg_prob``, the rescale's)
    #: made as WebP instead of JPEG, at the same quality: many sites re-encode uploads as WebP,
    #: whose smoothing a score trained on JPEG alone mistakes (docs/training.md, "WebP"). Off
    #: by default; drawn only when > 0.
    webp_prob: float = 0.0
    #: share of the last step's lossy round trips (at ``jpeg_prob``) made as a frame of H.264 video
    #: instead, at x264's CRF drawn in ``h264_crf``: the input as the last (P) frame of an 8-frame
    #: clip panning by whole pixels (``dfrec.x264``; needs libx264: PyAV's wheel, the system's, or
    #: ``$DFREC_LIBX264``). Most swaps reach an investigator inside a video, and H.264 even at CRF 18
    #: costs the bundled model what JPEG 75 does (docs/training.md, "H.264 video"). Off by default;
    #: drawn only when > 0.
    h264_prob: float = 0.0
    h264_crf: tuple[int, int] = (18, 45)
    #: unsharp masking of the whole input (sigma 1.5 px, this amount); off by default, drawn
    #: only when ``sharpen_prob`` > 0.
    sharpen_prob: float = 0.0
    sharpen_amount: tuple[float, float] = (0.3, 1.5)
    #: the input as ``dfrec recover`` sees a small face: shrunk until its eyes are this many px apart
    #: (drawn in ``small_face_eyes``; the crop's own face has ``dfrec.faces.align.CROP_EYES_PX`` at
    #: 224 px) and enlarged back with the aligner's interpolation (Lanczos-4), so softness from an
    #: enlargement does not read as a pasted face. Off by default; drawn only when > 0.
    small_face_prob: float = 0.0
    small_face_eyes: tuple[float, float] = (8.0, 28.0)
    #: joint translation of forgery, source, target and mask by whole pixels, up to ``shift_px``
    #: each way on each axis (edges repeated): the alignment error of a face found and aligned
    #: in another photo (the bundled model loses 0.04 target IDSim at 4 px; docs/training.md).
    #: Off by default; drawn only when ``shift_prob`` > 0.
    shift_prob: float = 0.0
    shift_px: int = 4
    #: share of the last step's lossy round trips (at ``jpeg_prob``) made on the picture around
    #: the face instead of on the crop: the crop placed in a picture as a photo holds the face
    #: (scaled by ``picture_scale``, turned by up to ``picture_rotate`` degrees, at a random
    #: phase of the codec's 8-px blocks), encoded there, and aligned back as ``dfrec recover``
    #: aligns (``augment.picture_round_trip``). Sites re-encode the whole picture: through
    #: ``recover``, LFW swaps after JPEG 75 of the picture were caught 0.925 of the time, after
    #: JPEG 75 of the crop 0.975 (docs/training.md). Off by default; drawn only when > 0.
    picture_prob: float = 0.0
    picture_scale: tuple[float, float] = (0.35, 1.0)
    picture_rotate: float = 15.0


@dataclass
class SynthConfig:
    """Everything the synthesiser samples from."""

    #: output crop size (square); inputs of another size are resized, landmarks scaled.
    size: int = 224
    #: kind -> weight (normalised); kinds with weight 0 never occur.
    kinds: dict[str, float] = field(default_factory=lambda: {"swap": 0.5, "blend": 0.15, "self": 0.1, "real": 0.25})
    swap: SwapConfig = field(default_factory=SwapConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    selfblend: SelfBlendConfig = field(default_factory=SelfBlendConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    # ------------------------------------------------------------------ I/O
    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, data: dict | None) -> "SynthConfig":
        """Build from a (possibly partial) nested dict by the rules of :mod:`dfrec.config`:
        missing keys keep their section's defaults."""
        return from_dict(cls, data, "synth")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SynthConfig":
        """Load a YAML file (a partial mapping is fine; a top-level ``synth:`` key is accepted)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({e.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        if set(data) == {"synth"}:
            data = data["synth"]
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        """Plain nested dict (tuples as lists), suitable for JSON/YAML."""
        return to_dict(self)

    def with_kinds(self, kinds: list[str] | dict) -> "SynthConfig":
        """Copy with the kind mix replaced (a list means equal weights)."""
        mix = {k: 1.0 for k in kinds} if isinstance(kinds, (list, tuple)) else dict(kinds)
        return dataclasses.replace(self, kinds=mix)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a bad kind mix, hull type or range (runs at construction)."""
        _check_weights(self.kinds, KINDS, "kinds")
        if self.size < 32:
            raise ConfigError(f"synth.size must be >= 32, got {self.size}")
        for name, m in (("swap", self.swap.mask), ("blend", self.blend.mask), ("selfblend", self.selfblend.mask)):
            _check_weights(m.hull_weights, HULL_TYPES, f"{name}.mask.hull_weights")
        for path, value in _walk(self):
            if isinstance(value, tuple):
                if len(value) != 2 and not path.endswith("blend_ratios"):
                    raise ConfigError(f"{path} must be a [low, high] pair, got {list(value)}")
                if len(value) == 2 and not path.endswith("blend_ratios") and value[0] > value[1]:
                    raise ConfigError(f"{path}: low {value[0]} is above high {value[1]}")
            if path.endswith("_prob") and not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{path} must be in [0, 1], got {value}")
        q = self.augment.jpeg_quality
        if not (1 <= q[0] <= 100 and 1 <= q[1] <= 100):
            raise ConfigError(f"augment.jpeg_quality must be within [1, 100], got {list(q)}")
        c = self.augment.h264_crf
        if not (0 <= c[0] <= 51 and 0 <= c[1] <= 51):
            raise ConfigError(f"augment.h264_crf must be within [0, 51] (x264's CRF), got {list(c)}")
        if self.augment.rescale[0] <= 0 or self.augment.rescale[1] > 1:
            raise ConfigError(f"augment.rescale must lie in (0, 1], got {list(self.augment.rescale)}")
        lo, hi = self.augment.small_face_eyes
        if not 2.0 <= lo <= hi:
            raise ConfigError(f"augment.small_face_eyes must be [low, high] px with 2 <= low <= high, got {[lo, hi]}")
        if not 0 <= self.augment.shift_px <= self.size // 8:
            raise ConfigError(f"augment.shift_px must lie in [0, {self.size // 8}] (size / 8), got {self.augment.shift_px}")
        if self.augment.picture_scale[0] <= 0 or self.augment.picture_scale[1] > 4:
            raise ConfigError(f"augment.picture_scale must lie in (0, 4], got {list(self.augment.picture_scale)}")
        if not 0 <= self.augment.picture_rotate <= 90:
            raise ConfigError(f"augment.picture_rotate must lie in [0, 90] degrees, got {self.augment.picture_rotate}")
        for name, a in (("swap", self.swap.appearance), ("blend", self.blend.appearance)):
            if a.blur_prob + a.sharpen_prob > 1.0:
                raise ConfigError(f"{name}.appearance: blur_prob + sharpen_prob must be <= 1")
            if a.rescale[0] <= 0 or a.rescale[1] > 1 or a.lowfreq_sigma[0] <= 0:
                raise ConfigError(f"{name}.appearance: rescale must lie in (0, 1] and lowfreq_sigma be > 0")
        if self.blend.donor_candidates < 1:
            raise ConfigError("blend.donor_candidates must be >= 1")


def _check_weights(weights: dict, allowed: tuple, name: str) -> None:
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f"{name} must be a non-empty mapping of name -> weight")
    for k, w in weights.items():
        if k not in allowed:
            raise ConfigError(f"{name}: unknown name {k!r} (choose from {', '.join(allowed)})")
        if not isinstance(w, (int, float)) or w < 0:
            raise ConfigError(f"{name}: weight of {k!r} must be a number >= 0, got {w!r}")
    if sum(weights.values()) <= 0:
        raise ConfigError(f"{name}: weights sum to zero")


def _walk(obj: Any, prefix: str = "synth"):
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        p = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(v):
            yield from _walk(v, p)
        else:
            yield p, v
