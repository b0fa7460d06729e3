"""Recovery accuracy (Acc): the paper's real/fake rule on the recovered target.

Rule (DFREC §IV): an input is called *real* when ``IDSim(input, recovered target) > τ``,
else *fake*: a model that recovers a genuine face returns it unchanged, while for a face
swap the recovered target is a different person from the swapped face. The paper's
τ = 0.9 belongs to its FaceNet embeddings; dfrec recalibrates τ for its own embedder
(the dlib ResNet port) on real faces with :func:`calibrate_threshold`: τ is the
``quantile`` (default 5 %) of IDSim between real faces and a *faithful copy* of each
(a JPEG-75 round trip plus a 0.5x down/up-sampling, i.e. what a perfect reconstruction
loses to resampling), so 95 % of perfect recoveries of real faces count as real. The
calibrated value ships in ``dfrec/assets/eval_threshold.json`` with its provenance;
:func:`load_threshold` reads it.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dfrec.io import to_float, to_uint8

#: Stored calibration (asset file name inside ``dfrec.assets``).
THRESHOLD_ASSET = "eval_threshold.json"
#: Paper's FaceNet threshold, for reference only.
PAPER_TAU = 0.9


def predict_real(scores: np.ndarray | torch.Tensor, tau: float) -> np.ndarray:
    """Boolean ``(N,)``: True where ``IDSim(input, recovered target) > tau`` (called real)."""
    return np.asarray(scores, dtype=np.float64) > tau


def recovery_accuracy(scores: np.ndarray | torch.Tensor, is_fake: np.ndarray | torch.Tensor,
                      tau: float) -> dict[str, float]:
    """Acc of the paper's rule: ``acc_real`` (real inputs called real), ``acc_fake`` (fakes
    called fake), ``acc`` (all), with the counts. ``scores``, ``is_fake``: ``(N,)``.
    A subset with no samples reports NaN."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    f = np.asarray(is_fake).astype(bool).reshape(-1)
    if s.shape != f.shape:
        raise ValueError(f"scores and is_fake differ in length: {s.shape} vs {f.shape}")
    correct = predict_real(s, tau) != f
    nan = float("nan")
    return {
        "acc_real": float(correct[~f].mean()) if (~f).any() else nan,
        "acc_fake": float(correct[f].mean()) if f.any() else nan,
        "acc": float(correct.mean()) if len(s) else nan,
        "n_real": int((~f).sum()),
        "n_fake": int(f.sum()),
        "tau": float(tau),
    }


def faithful_copy(images: torch.Tensor, jpeg_quality: int = 75, scale: float = 0.5) -> torch.Tensor:
    """What a perfect reconstruction of ``images`` ``(N, 3, H, W)`` in [0, 1] looks like after
    resampling and compression: bilinear down/up-sampling by ``scale`` then a JPEG round trip."""
    h, w = images.shape[-2:]
    small = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
    x = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
    out = []
    for img in x:
        buf = io.BytesIO()
        Image.fromarray(to_uint8(img.permute(1, 2, 0).cpu().numpy())).save(buf, format="JPEG", quality=jpeg_quality)
        dec = to_float(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        out.append(torch.from_numpy(dec).permute(2, 0, 1))
    return torch.stack(out).to(images.device, images.dtype)


def calibrate_threshold(real_scores: np.ndarray, quantile: float = 0.05) -> float:
    """τ = ``quantile`` of IDSim(real face, faithful copy) over real faces ``(N,)``."""
    s = np.asarray(real_scores, dtype=np.float64).reshape(-1)
    if s.size < 2:
        raise ValueError("need at least 2 real-face scores to calibrate the threshold")
    if not 0.0 < quantile < 0.5:
        raise ValueError(f"quantile must be in (0, 0.5), got {quantile}")
    return float(np.quantile(s, quantile))


def load_threshold() -> dict[str, Any]:
    """The stored calibration: ``{"tau": float, ...provenance}``; raises if not shipped."""
    path = resources.files("dfrec").joinpath("assets", THRESHOLD_ASSET)
    return json.loads(path.read_text(encoding="utf-8"))
