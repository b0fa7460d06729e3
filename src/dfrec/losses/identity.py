"""Multi-layer identity loss (paper eqs. 2–4) with the dlib face-recognition ResNet.

The paper compares features of a face-recognition network at several depths between the
recovered and the true source face, and between the recovered and the true target face.
Here the network is the PyTorch port of dlib's ResNet (:class:`dfrec.faces.identity.IdentityEncoder`):
aligned crops ``(N, 3, 224, 224)`` in [0, 1] → differentiable 150×150 dlib chip →
feature maps at four depths + the 128-d embedding. For each of these five layers the
distance is ``1 − cos`` of the flattened features (in [0, 2]); layers are averaged with
``layer_weights``, by default doubling with depth, (1, 2, 4, 8, 16)/31:

    L_id = w_s · mean_l (1 − cos(F_l(Ŝ), F_l(S))) + w_t · mean_l (1 − cos(F_l(T̂), F_l(T)))

Why doubling weights: the shallow maps mostly encode pose and lighting. Over all pairs of
60 aligned LFW photos of 30 people, the area under the ROC curve separating same-person
from different-person pairs is 0.71, 0.70, 0.82, 0.98, 0.98 for the five layers alone,
0.85 for equal weights and 0.97 for (1, 2, 4, 8, 16) (mean distance 0.083 same person,
0.162 different people; ``python benchmarks/identity_layer_auc.py``), which keeps the
shallow layers' structure term while staying an identity loss.

The network is frozen (eval, ``requires_grad=False``); gradients reach the recovered images.
Identical inputs give 0; two photos of the same person give less than two people.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from dfrec.errors import ConfigError

#: Default per-layer weights (four depths + embedding), normalised to sum 1.
DEFAULT_LAYER_WEIGHTS = (1.0, 2.0, 4.0, 8.0, 16.0)


def build_identity_encoder(weights: str | os.PathLike | None = None, size: int = 224,
                           margin: float | None = None) -> nn.Module:
    """The frozen dlib-ResNet :class:`IdentityEncoder` for aligned crops of ``size`` px and ``margin``.

    ``weights``: dlib ``.dat`` or its ``.safetensors`` export; None = face_recognition_models' file.
    """
    from dfrec.faces.dlib_resnet import IdentityNet
    from dfrec.faces.identity import IdentityEncoder

    enc = IdentityEncoder(size=size, margin=margin, net=IdentityNet.from_file(weights))
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def layer_distances(fa: Sequence[torch.Tensor], fb: Sequence[torch.Tensor]) -> torch.Tensor:
    """``1 − cos`` per layer of two feature lists → ``(N, L)`` in [0, 2]."""
    return torch.stack([(1.0 - F.cosine_similarity(a.float().flatten(1), b.float().flatten(1), dim=1, eps=1e-8)).clamp_min(0)
                        for a, b in zip(fa, fb)], 1)


class IdentityLoss(nn.Module):
    """Multi-layer identity distance of face crops; see the module docstring.

    ``forward(x, y)``: images ``(N, 3, 224, 224)`` in [0, 1] → scalar (or ``(N,)`` with
    ``reduction="none"``) in [0, 2]; :class:`dfrec.losses.total.DFRECLoss` applies it to
    (recovered source, source) and (recovered target, target), the two terms of eqs. 2–4.
    """

    def __init__(self, encoder: nn.Module | None = None, weights: str | os.PathLike | None = None,
                 layer_weights: Sequence[float] | None = None, size: int = 224, margin: float | None = None) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else build_identity_encoder(weights, size, margin)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()
        self.weights_file = str(weights) if weights is not None else None
        self._layer_weights = None if layer_weights is None else [float(v) for v in layer_weights]
        if self._layer_weights is not None and (min(self._layer_weights) < 0 or sum(self._layer_weights) <= 0):
            raise ConfigError(f"identity layer_weights must be non-negative with a positive sum, got {self._layer_weights}")

    def train(self, mode: bool = True) -> "IdentityLoss":  # noqa: ARG002 - the encoder stays in eval
        super().train(False)
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Five feature tensors (four depths + embedding) of crops ``x (N, 3, 224, 224)`` in [0, 1].

        Runs in fp32 even under autocast: same-person distances (~0.04 on the embedding) are
        below bf16's resolution of cosines; the network is small (≈2 GFLOP per face).
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            return list(self.encoder.features(x.float()))

    def _weights(self, n_layers: int, device: torch.device) -> torch.Tensor:
        w = list(DEFAULT_LAYER_WEIGHTS) if self._layer_weights is None else self._layer_weights
        if len(w) != n_layers:
            raise ConfigError(f"identity layer_weights has {len(w)} values; the identity network gives {n_layers} layers")
        t = torch.tensor(w, device=device)
        return t / t.sum()

    def distance(self, fx: Sequence[torch.Tensor], fy: Sequence[torch.Tensor]) -> torch.Tensor:
        """Layer-weighted ``1 − cos`` of two :meth:`features` lists → ``(N,)`` in [0, 2]."""
        d = layer_distances(fx, [f.detach() for f in fy])  # (N, L)
        return (d * self._weights(d.shape[1], d.device)).sum(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"identity loss needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
        if y.requires_grad:
            n = x.shape[0]
            feats = self.features(torch.cat([x, y], 0))
            fx, fy = [f[:n] for f in feats], [f[n:] for f in feats]
        else:  # the reference needs no graph: one no-grad pass, half the backward work
            fx = self.features(x)
            with torch.no_grad():
                fy = self.features(y)
        d = self.distance(fx, fy)
        return d.mean() if reduction == "mean" else d

    def describe(self) -> dict:
        return {
            "network": "dlib_face_recognition_resnet_model_v1 (PyTorch port, frozen)",
            "layers": "four depths + 128-d embedding",
            "distance": "1 - cosine of flattened features, averaged over layers",
            "layer_weights": self._layer_weights or list(DEFAULT_LAYER_WEIGHTS),
            "weights_file": self.weights_file,
        }
