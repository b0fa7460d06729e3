"""PSNR and SSIM between image batches, functional and ``nn.Module`` forms.

SSIM follows Wang et al. (2004) with the settings scikit-image uses when called as
``structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=...)``: an 11x11 Gaussian window
with sigma 1.5 (scipy's truncate 3.5 gives radius 5), K1 = 0.01, K2 = 0.03, population
(not sample) covariances, SSIM averaged over the "valid" region (5 border pixels
excluded) and then over channels. The test suite checks equality with scikit-image
within 1e-4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dfrec.metrics._validate import check_images, reduce

#: SSIM window settings (stated in every table that reports SSIM).
SSIM_KERNEL_SIZE = 11
SSIM_SIGMA = 1.5


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean",
         eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB.

    x, y: ``(N, C, H, W)`` in ``[0, data_range]``. Returns ``(N,)`` for ``reduction='none'``,
    else a scalar. MSE is taken over C, H, W per image; identical images give
    ``10·log10(data_range² / eps)`` (100 dB at the defaults) rather than infinity.
    """
    check_images(x, y, data_range=data_range)
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    values = 10.0 * torch.log10(data_range**2 / (mse + eps))
    return reduce(values.to(x.dtype), reduction)


def gaussian_kernel(size: int = SSIM_KERNEL_SIZE, sigma: float = SSIM_SIGMA,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian window, shape ``(size,)``."""
    if size % 2 != 1 or size < 3:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    return k / k.sum()


def _filter(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter per channel: (N, C, H, W) -> (N, C, H-s+1, W-s+1)."""
    c = x.shape[1]
    kh = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    return F.conv2d(F.conv2d(x, kh, groups=c), kw, groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, kernel_size: int = SSIM_KERNEL_SIZE,
             sigma: float = SSIM_SIGMA, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Local SSIM, ``(N, C, H-10, W-10)`` at the default window (valid region only).

    Computed in float64 for float64 inputs, else float32 (agrees with scikit-image's
    float64 result to ~1e-6 on [0, 1] images).
    """
    check_images(x, y, data_range=data_range)
    if min(x.shape[-2:]) < kernel_size:
        raise ValueError(f"images must be at least {kernel_size}x{kernel_size}, got {tuple(x.shape[-2:])}")
    dtype = torch.float64 if x.dtype == torch.float64 or y.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    k = gaussian_kernel(kernel_size, sigma).to(x.device, dtype)
    ux, uy = _filter(x, k), _filter(y, k)
    vx = _filter(x * x, k) - ux * ux
    vy = _filter(y * y, k) - uy * uy
    vxy = _filter(x * y, k) - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean",
         kernel_size: int = SSIM_KERNEL_SIZE, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Structural similarity in [-1, 1] (1 = identical).

    x, y: ``(N, C, H, W)`` in ``[0, data_range]``, H, W >= ``kernel_size``. Returns ``(N,)``
    for ``reduction='none'`` (mean over the valid region and channels), else a scalar.
    """
    values = ssim_map(x, y, data_range, kernel_size, sigma).flatten(1).mean(1)
    return reduce(values.to(x.dtype), reduction)


class PSNR(nn.Module):
    """Module form of :func:`psnr` (``forward(x, y)`` -> dB)."""

    def __init__(self, data_range: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.data_range, self.reduction = data_range, reduction

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return psnr(x, y, self.data_range, self.reduction)


class SSIM(nn.Module):
    """Module form of :func:`ssim` (Gaussian window 11, sigma 1.5)."""

    def __init__(self, data_range: float = 1.0, reduction: str = "mean", kernel_size: int = SSIM_KERNEL_SIZE,
                 sigma: float = SSIM_SIGMA) -> None:
        super().__init__()
        self.data_range, self.reduction = data_range, reduction
        self.kernel_size, self.sigma = kernel_size, sigma

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ssim(x, y, self.data_range, self.reduction, self.kernel_size, self.sigma)
