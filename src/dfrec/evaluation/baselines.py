"""Baselines that share DFREC's tables: classical inpainting and a direct U-Net (the DFI idea).

* :func:`inpaint_faces` — "what a method with no identity knowledge recovers": the face
  region (convex hull of the 68 landmarks, dilated a little) of the *forgery* is filled
  by OpenCV inpainting (Telea 2004, or Navier–Stokes) from the surrounding hair, ears,
  neck and background. Recovers only a target.
* :class:`DirectUNet` — a plain U-Net mapping the forgery straight to the target face
  (the idea of DFI: learn the inverse of the swap end-to-end, no segmentation, no
  masking, no identity fusion). Trained with dfrec's own training loop
  (:func:`train_direct_unet`, the same Trainer, data and schedule; loss = L1 +
  (1 − SSIM) on the target). Saved as safetensors + config.json.
* The "MAE without identity fusion" and "no ISM" rows are the DFREC model itself with its
  switches (:mod:`dfrec.evaluation.variants`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from dfrec.errors import CheckpointError
from dfrec.io import atomic_path, to_float, to_uint8, write_json_atomic

INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


# ------------------------------------------------------------------------------------------
# classical inpainting


def face_hull_mask(landmarks: np.ndarray, size: tuple[int, int], dilate: int = 5) -> np.ndarray:
    """``(H, W) uint8`` mask (255 inside) of the convex hull of 68 landmarks, dilated by
    ``dilate`` pixels so the blend seam of a swap is covered too."""
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(landmarks, np.float32)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, k)
    return mask


def inpaint_face(image: np.ndarray, landmarks: np.ndarray, method: str = "telea", radius: int = 5,
                 dilate: int = 5) -> np.ndarray:
    """Fill the landmark hull of ``image`` ``(H, W, 3) uint8`` RGB by inpainting; same shape out."""
    if method not in INPAINT_METHODS:
        raise ValueError(f"inpainting method must be one of {sorted(INPAINT_METHODS)}, got {method!r}")
    img = np.ascontiguousarray(image, dtype=np.uint8)
    mask = face_hull_mask(landmarks, img.shape[:2], dilate)
    return cv2.inpaint(img, mask, radius, INPAINT_METHODS[method])


def inpaint_faces(images: torch.Tensor, landmarks: np.ndarray, method: str = "telea") -> torch.Tensor:
    """Batch form: ``(N, 3, H, W)`` in [0, 1] and landmarks ``(N, 68, 2)`` -> ``(N, 3, H, W)``."""
    out = []
    for img, lm in zip(images, landmarks):
        arr = to_uint8(img.permute(1, 2, 0).cpu().numpy())
        out.append(to_float(torch.from_numpy(inpaint_face(arr, lm, method)).permute(2, 0, 1)))
    return torch.stack(out).to(images.device)


# ------------------------------------------------------------------------------------------
# direct U-Net (DFI idea)


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


class DirectUNet(nn.Module):
    """U-Net forgery -> target: ``forward(x (N, 3, S, S) in [0, 1])`` returns a dict in the
    DFREC output contract: ``target`` (N, 3, S, S) in [0, 1] (predicted), ``source`` = the
    input (this baseline recovers no source), ``mask`` zeros (N, 1, S, S), ``logit`` zeros
    (N,). ``S`` must be divisible by ``2 ** (len(widths) - 1)``. A residual formulation
    (output = sigmoid(logit(x) + delta)) makes the untrained network start at identity."""

    kind = "direct_unet"

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.down = nn.ModuleList()
        cin = 3
        for w in self.widths:
            self.down.append(_Block(cin, w))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w in reversed(self.widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
            self.dec.append(_Block(2 * w, w))
            cin = w
        self.head = nn.Conv2d(cin, 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            h = dec(torch.cat([up(h), skip], 1))
        base = torch.logit(x.clamp(1e-3, 1 - 1e-3))
        target = torch.sigmoid(base + self.head(h))
        return {"target": target, "source": x, "mask": x.new_zeros(n, 1, *x.shape[-2:]), "logit": x.new_zeros(n)}

    def save_pretrained(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        write_json_atomic(folder / "config.json", {"model": self.kind, "widths": list(self.widths),
                                                   "metadata": metadata or {}})
        return folder

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "DirectUNet":
        """Load a folder written by :meth:`save_pretrained`; raises :class:`CheckpointError`."""
        folder = Path(path)
        try:
            cfg = json.loads((folder / "config.json").read_text())
            if cfg.get("model") != cls.kind:
                raise CheckpointError(f"{folder}: not a direct U-Net baseline (model={cfg.get('model')!r})")
            model = cls(tuple(cfg["widths"]))
            model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{folder}: cannot load the direct U-Net baseline ({str(e).splitlines()[0]})") from None
        model.checkpoint_metadata = cfg.get("metadata", {})
        return model.to(map_location).eval()


class DirectLoss(nn.Module):
    """Loss of :class:`DirectUNet`: L1 + (1 − SSIM) between predicted and true target.

    ``loss(outputs, batch) -> (total, parts)`` as the training loop expects."""

    def __init__(self, ssim_weight: float = 1.0) -> None:
        super().__init__()
        self.ssim_weight = ssim_weight

    def forward(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from dfrec.evaluation.metrics.psnr_ssim import ssim

        pred, true = out["target"].float(), batch["target"].float()
        l1 = (pred - true).abs().mean()
        s = ssim(pred.clamp(0, 1), true.clamp(0, 1)).float()
        total = l1 + self.ssim_weight * (1 - s)
        return total, {"l1": l1.detach(), "ssim": s.detach()}

    def describe(self) -> dict[str, Any]:
        return {"loss": "L1 + (1 - SSIM) on the target", "ssim_weight": self.ssim_weight}


def train_direct_unet(cfg: Any, widths: tuple[int, ...] = (32, 64, 128, 256), build_datasets=None,
                      **trainer_kwargs: Any) -> dict[str, Any]:
    """Train :class:`DirectUNet` with dfrec's training loop (``dfrec.train.Trainer``): same
    config (data, steps, optimiser, schedule, EMA, checkpoints), only the model and loss
    differ (``cfg.model`` is ignored). The final model lands in ``<cfg.output.dir>/model``
    (load it with :meth:`DirectUNet.from_pretrained`, pass it to ``dfrec evaluate
    --baseline-unet``). ``build_datasets``: the data factory (default: dfrec's)."""
    from dfrec.train.components import Components
    from dfrec.train.components import build_datasets as default_datasets
    from dfrec.train.loop import Trainer

    comps = Components(build_model=lambda _cfg: DirectUNet(widths), build_loss=lambda _cfg: DirectLoss(),
                       build_datasets=build_datasets or default_datasets)
    return Trainer(cfg, components=comps, **trainer_kwargs).fit()


def main(argv: list[str] | None = None) -> int:
    """``python -m dfrec.evaluation.baselines CONFIG.yaml [key=value ...] [--device D]``:
    train the direct U-Net baseline with a ``dfrec train`` config."""
    import argparse

    from dfrec.train.config import load_config

    ap = argparse.ArgumentParser(prog="python -m dfrec.evaluation.baselines",
                                 description="Train the direct U-Net (DFI idea) baseline with dfrec's training loop.")
    ap.add_argument("config", help="a dfrec train YAML config (data, steps, optimiser, output.dir)")
    ap.add_argument("overrides", nargs="*", help="key=value overrides, as for dfrec train")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--widths", default="32,64,128,256", help="U-Net widths per level")
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.overrides)
    widths = tuple(int(w) for w in a.widths.split(","))
    result = train_direct_unet(cfg, widths, device=a.device)
    print(json.dumps({k: v for k, v in result.items() if isinstance(v, (int, float, str))}, default=str))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
