"""Attribute loss: smooth-L1 between attribute vectors of the recovered and the true target.

The paper compares CelebA-40 attribute predictions. **No CelebA attribute model exists
offline**, so the attribute network is pluggable (:class:`AttributeNet`, registry
:data:`ATTRIBUTE_NETS`) and the default, ``appearance``, is an honest, differentiable
substitute that measures *appearance attributes that are not identity*, on the canonical
aligned crop of :mod:`dfrec.faces.align`:

* **colour and illumination per facial region** — mean and standard deviation of luma and
  two chroma channels (YCbCr) inside soft masks of eleven regions placed from the
  canonical 68 landmarks: left/right cheek, upper/lower face skin, eyes, brows, nose,
  mouth, hair band above the brows, background beside the head, neck/clothing below
  the chin. This captures skin tone, make-up, lip colour, hair colour, lighting direction
  (left vs right, top vs bottom), background and clothing colour, and partly expression
  (open mouth, teeth, closed eyes change the mouth/eye statistics).
* **coarse luminance layout** — the crop's luma average-pooled to 4×4 (head pose and
  lighting layout at a resolution too coarse to carry identity).
* **low-level texture** — per-region means of the first two stages of the ImageNet
  EfficientNet-Lite0 (strides 2 and 4; edges and colour blobs: beard, glasses, wrinkles,
  hair texture), which the frozen network computes before any identity-specific shape.

It does **not** predict named attributes (gender, age, smiling, eyeglasses …) and is not
invariant to the alignment: it assumes both images are canonical aligned crops of the same
size. Every dimension is divided by its spread over 400 aligned LFW faces (the asset
``dfrec/assets/attribute_appearance.json``, built by :mod:`dfrec.losses.attribute_asset` (``scripts/build_attribute_asset.py``),
which also holds the measured mean face the regions are placed from), so one unit is one
population standard deviation; without the asset, fixed per-group scales are used (0.05 for
colour statistics and the luma layout, 0.25 for texture means) and ``describe()`` says so.
:class:`AttributeLoss` compares the vectors with smooth-L1 (``beta`` 1 unit by default),
averaged within each group (colour, layout, texture), then over groups.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dfrec.errors import ConfigError

#: Region names of the ``appearance`` attribute vector, in order.
REGIONS = ("cheek_left", "cheek_right", "skin_upper", "skin_lower", "eyes", "brows", "nose", "mouth",
           "hair", "background", "neck")

# YCbCr (ITU-R BT.601) rows, offsets dropped (they cancel in differences)
_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


class AttributeNet(nn.Module):
    """Interface: ``forward(x (N, 3, H, W) in [0, 1]) -> (N, D)`` attribute vector, differentiable.

    Implementations are frozen (no trainable parameters) and state in ``describe()`` what
    the vector measures.
    """

    name = ""

    def describe(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def train(self, mode: bool = True) -> "AttributeNet":  # noqa: ARG002 - loss networks stay in eval
        return super().train(False)


def _poly(mask: np.ndarray, pts: np.ndarray) -> None:
    import cv2

    cv2.fillPoly(mask, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 1.0)


def region_masks(landmarks: np.ndarray, size: int, soften: float | None = None) -> np.ndarray:
    """Soft masks ``(R, size, size)`` float32 in [0, 1] of :data:`REGIONS` from 68 landmarks ``(68, 2)`` (x, y).

    Regions are built from dlib-68 index groups on a canonical crop: jaw 0–16, brows 17–26,
    nose 27–35, eyes 36–47, lips 48–59. ``soften`` = Gaussian σ in pixels (default size/112).
    """
    import cv2

    L = np.asarray(landmarks, dtype=np.float64)
    if L.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {L.shape}")
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5
    brow_y = L[17:27, 1].mean()
    chin_y = L[8, 1]
    face_h = chin_y - brow_y
    face_w = L[16, 0] - L[0, 0]
    mid_x = L[27:31, 0].mean()
    nose_tip_y = L[30, 1]
    rad = max(1, int(round(0.02 * face_w)))
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1, 2 * rad + 1))

    def filled(*pts_list: np.ndarray) -> np.ndarray:
        m = np.zeros((s, s), np.float32)
        for pts in pts_list:
            _poly(m, pts)
        return m

    lift = np.array([0.0, 0.12 * face_h])
    face = filled(np.concatenate([L[0:17], L[26:16:-1] - lift]))
    eyes = cv2.dilate(filled(L[36:42], L[42:48]), kern, iterations=2)
    brows = cv2.dilate(filled(np.concatenate([L[17:22], L[21:16:-1] - lift / 2]),
                              np.concatenate([L[22:27], L[26:21:-1] - lift / 2])), kern, iterations=1)
    half = np.array([0.25 * (L[35, 0] - L[31, 0]), 0.0])
    nose = cv2.dilate(filled(np.stack([L[27] - half, L[27] + half, *L[35:30:-1]])), kern, iterations=1)
    mouth = cv2.dilate(filled(L[48:60]), kern, iterations=1)
    skin = np.clip(face - eyes - brows - nose - mouth, 0, 1)
    left = (xx < mid_x).astype(np.float32)  # image left = subject's right side
    cheek_band = ((yy > L[36:48, 1].max()) & (yy < L[48:60, 1].min())).astype(np.float32)
    cheek_left = skin * left * cheek_band
    cheek_right = skin * (1 - left) * cheek_band
    skin_upper = skin * (yy < nose_tip_y)
    skin_lower = skin * (yy >= nose_tip_y)
    # hair band: above the brows up to ~0.9 face heights, within the head's width, outside the face
    top = brow_y - 0.9 * face_h
    hair = ((yy > top) & (yy < brow_y) & (xx > L[0, 0] - 0.05 * face_w) & (xx < L[16, 0] + 0.05 * face_w))
    hair = np.clip(hair.astype(np.float32) - cv2.dilate(face, kern, iterations=2), 0, 1)
    # background: beside/above the head (outside an ellipse around face + hair), above the chin
    cx, cy = (L[0, 0] + L[16, 0]) / 2, (top + chin_y) / 2
    ax, ay = 0.5 * face_w * 1.25, 0.5 * (chin_y - top) * 1.1
    outside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 > 1.0
    background = (outside & (yy < L[4:13, 1].min())).astype(np.float32)
    neck = ((yy > chin_y + 0.05 * face_h) & (np.abs(xx - cx) < 0.6 * face_w)).astype(np.float32)
    masks = np.stack([cheek_left, cheek_right, skin_upper, skin_lower, eyes, brows, nose, mouth, hair,
                      background, neck]).astype(np.float32)
    sigma = soften if soften is not None else s / 112.0
    if sigma > 0:
        masks = np.stack([cv2.GaussianBlur(m, (0, 0), sigma) for m in masks])
    return np.clip(masks, 0, 1)


ASSET = "attribute_appearance.json"


def load_asset() -> dict | None:
    """The calibration asset (mean aligned landmarks and per-dimension scales), or None if absent."""
    from importlib import resources

    f = resources.files("dfrec").joinpath("assets", ASSET)
    if not f.is_file():
        return None
    return json.loads(f.read_text(encoding="utf-8"))


def template_landmarks(size: int = 224, margin: float | None = None, asset: dict | None = None) -> np.ndarray:
    """(68, 2) mean landmarks of aligned crops (``size`` px, ``margin``) in crop pixels.

    From the asset's mean face measured on aligned LFW faces (template units of
    :mod:`dfrec.faces.align`) when present, else :func:`dfrec.faces.align.canonical_landmarks`.
    """
    from dfrec.faces.align import DEFAULT_MARGIN, canonical_landmarks

    m = DEFAULT_MARGIN if margin is None else float(margin)
    if asset is not None and "mean_face" in asset:
        t = np.asarray(asset["mean_face"], dtype=np.float64)
        return ((m + t) / (2.0 * m + 1.0) * size).astype(np.float32)
    return np.asarray(canonical_landmarks(size, m), dtype=np.float32)


class AppearanceAttributeNet(AttributeNet):
    """Appearance attributes of a canonical aligned crop (see the module docstring).

    ``forward(x (N, 3, size, size) in [0, 1]) -> (N, D)`` in scaled units, D = 11·6 colour
    + 16 layout (+ 11·40 texture) = 82 (522). Other input sizes are resized bilinearly.
    ``groups`` names the slices of the vector (``color``, ``layout``, ``texture``).
    ``calibrate``: divide by the asset's per-dimension LFW spread (True, when the asset
    exists) or by the fixed group scales (False).
    """

    name = "appearance"
    COLOR_SCALE = 0.05
    LAYOUT_SCALE = 0.05
    TEXTURE_SCALE = 0.25

    def __init__(self, size: int = 224, margin: float | None = None, landmarks: np.ndarray | None = None,
                 texture: bool = True, calibrate: bool = True, texture_weights: str | None = None) -> None:
        super().__init__()
        self.size = size
        asset = load_asset() if (calibrate or landmarks is None) else None
        lm = template_landmarks(size, margin, asset) if landmarks is None else np.asarray(landmarks)
        masks = torch.from_numpy(region_masks(lm, size))  # (R, S, S)
        if (masks.flatten(1).sum(1) < 1.0).any():
            empty = [r for r, m in zip(REGIONS, masks) if m.sum() < 1.0]
            raise ConfigError(f"attribute regions {empty} fall outside the {size}px crop (margin too small)")
        self.register_buffer("masks", masks.unsqueeze(1), persistent=False)  # (R, 1, S, S)
        self.register_buffer("ycbcr", torch.tensor(_YCBCR), persistent=False)
        self.texture = None
        if texture:
            from dfrec.losses.backbones import EfficientNetLite0Features

            self.texture = EfficientNetLite0Features(n_stages=2, weights=texture_weights)
        r = len(REGIONS)
        n_col, n_lay = 6 * r, 16
        n_tex = 40 * r if texture else 0
        self.groups = {"color": slice(0, n_col), "layout": slice(n_col, n_col + n_lay)}
        if texture:
            self.groups["texture"] = slice(n_col + n_lay, n_col + n_lay + n_tex)
        dim = n_col + n_lay + n_tex
        fixed = torch.cat([torch.full((n_col,), self.COLOR_SCALE), torch.full((n_lay,), self.LAYOUT_SCALE),
                           torch.full((n_tex,), self.TEXTURE_SCALE)])
        self.calibrated = bool(calibrate and asset is not None and "scales" in asset
                               and len(asset["scales"]) >= dim and landmarks is None)
        scales = torch.tensor(asset["scales"][:dim], dtype=torch.float32) if self.calibrated else fixed
        self.register_buffer("scales", scales, persistent=False)
        self.asset_info = {k: asset.get(k) for k in ("source", "n_images", "seed", "margin")} if self.calibrated else None

    @staticmethod
    def _region_pool(feat: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``feat (N, C, h, w)``, ``masks (R, 1, S, S)`` → weighted mean and std ``(N, R, C)``."""
        m = F.adaptive_avg_pool2d(masks, feat.shape[-2:]) if masks.shape[-1] != feat.shape[-1] else masks
        w = (m / m.flatten(1).sum(1).clamp_min(1e-6).view(-1, 1, 1, 1)).flatten(1)  # (R, hw)
        f = feat.flatten(2)  # (N, C, hw)
        mean = torch.einsum("nck,rk->nrc", f, w)
        sq = torch.einsum("nck,rk->nrc", f * f, w)
        std = (sq - mean * mean).clamp_min(0).add(1e-6).sqrt()
        return mean, std

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled attribute vector ``(N, D)`` of images ``(N, 3, H, W)`` in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"attribute net needs (N, 3, H, W) images, got {tuple(x.shape)}")
        x = x.float()
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        feats = self.texture.features(x) if self.texture is not None else []  # may run in bf16 under autocast
        with torch.autocast(device_type=x.device.type, enabled=False):  # statistics in fp32
            # contiguous: CUDA adaptive pooling on the einsum's permuted view crashed on an H200 (torch 2.11)
            ycc = torch.einsum("dc,nchw->ndhw", self.ycbcr.float(), x).contiguous()
            mean, std = self._region_pool(ycc, self.masks.float())
            parts = [torch.cat([mean, std], -1).flatten(1), F.adaptive_avg_pool2d(ycc[:, :1].contiguous(), 4).flatten(1)]
            for f in feats:
                parts.append(self._region_pool(f.float(), self.masks.float())[0].flatten(1))
            return torch.cat(parts, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.raw(x) / self.scales.float()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "measures": "per-region YCbCr mean/std (11 landmark regions), 4x4 luma layout"
                        + (", per-region EfficientNet-Lite0 stage-1/2 means" if self.texture is not None else ""),
            "regions": list(REGIONS),
            "groups": {k: [v.start, v.stop] for k, v in self.groups.items()},
            "scaling": ("per-dimension spread on aligned LFW train faces" if self.calibrated else
                        {"color": self.COLOR_SCALE, "layout": self.LAYOUT_SCALE, "texture": self.TEXTURE_SCALE}),
            "calibration": self.asset_info,
            "substitute_for_paper": "CelebA-40 attribute classifier (none exists offline)",
            "size": self.size,
        }


#: Attribute networks by name: ``name -> factory(size, margin, efficientnet_lite0_weights) -> AttributeNet``.
ATTRIBUTE_NETS: dict[str, Callable[..., AttributeNet]] = {
    "appearance": lambda size=224, margin=None, efficientnet_lite0_weights=None: AppearanceAttributeNet(
        size, margin, texture_weights=efficientnet_lite0_weights),
    "appearance_color": lambda size=224, margin=None, efficientnet_lite0_weights=None: AppearanceAttributeNet(
        size, margin, texture=False),
}


def build_attribute_net(name: str, size: int = 224, margin: float | None = None,
                        efficientnet_lite0_weights: str | None = None) -> AttributeNet:
    """Construct the attribute network registered as ``name`` (see :data:`ATTRIBUTE_NETS`)."""
    if name not in ATTRIBUTE_NETS:
        raise ConfigError(f"attribute network must be one of {', '.join(ATTRIBUTE_NETS)}; got {name!r}")
    return ATTRIBUTE_NETS[name](size=size, margin=margin, efficientnet_lite0_weights=efficientnet_lite0_weights)


class AttributeLoss(nn.Module):
    """``loss(recovered, target)``: smooth-L1 between attribute vectors, images ``(N, 3, H, W)`` in [0, 1].

    The element-wise smooth-L1 is averaged within each group of the net's vector (colour,
    layout, texture), then over groups, so each kind of attribute weighs the same. Scalar
    (batch mean) or ``(N,)`` with ``reduction="none"``; 0 for identical images.
    """

    def __init__(self, net: AttributeNet | str = "appearance", beta: float = 1.0, size: int = 224,
                 margin: float | None = None, efficientnet_lite0_weights: str | None = None) -> None:
        super().__init__()
        self.net = build_attribute_net(net, size, margin, efficientnet_lite0_weights) if isinstance(net, str) else net
        if beta <= 0:
            raise ConfigError(f"attribute smooth-L1 beta must be > 0, got {beta}")
        self.beta = float(beta)

    def describe(self) -> dict:
        return {**self.net.describe(), "distance": f"smooth-L1 (beta {self.beta})"}

    def forward(self, recovered: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        n = recovered.shape[0]
        a = self.net(torch.cat([recovered, target], 0))
        e = F.smooth_l1_loss(a[:n], a[n:].detach(), beta=self.beta, reduction="none")
        groups = getattr(self.net, "groups", None) or {"all": slice(0, e.shape[1])}
        d = torch.stack([e[:, g].mean(1) for g in groups.values()], 1).mean(1)
        return d.mean() if reduction == "mean" else d
