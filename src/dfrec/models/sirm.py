"""SIRM, the Source Identity Recovery Module: an attention U-Net with a split bottleneck.

Layout (the authors' released code): encoder conv blocks at ``widths`` (paper 32, 64, 128,
256, 1024) with 2x2 max-pooling between levels; the bottleneck is split in two halves —
channels ``[:C/2]`` are the source identity features fed to the decoder, ``[C/2:]`` the
target identity features, turned by one more conv block into ``f_t`` with K channels
(K = visible MAE tokens) and flattened to ``(N, K, bottleneck_h * bottleneck_w)``. Each
decoder skip passes a self-gated attention gate ``x * (psi + q)``.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """Two 3x3 conv + BatchNorm + ReLU: ``(N, c_in, H, W) -> (N, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class UpConv(nn.Sequential):
    """Nearest 2x upsampling then 3x3 conv + BatchNorm + ReLU: ``(N, c_in, H, W) -> (N, c_out, 2H, 2W)``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class AttentionGate(nn.Module):
    """Self-gated attention gate on a skip: ``x * (psi + q)``, output shaped like ``x``.

    ``psi = sigmoid(BN(conv1x1(relu(BN(conv(g)) + BN(conv(x))))))`` is the additive
    attention of Attention U-Net (gating ``g`` from the decoder); ``q =
    sigmoid(conv1x1(BN(conv1x1(x))))`` gates the skip on itself. Both are ``(N, 1, H, W)``
    in [0, 1], so the gain lies in [0, 2].
    """

    def __init__(self, c_gate: int, c_skip: int, c_inter: int) -> None:
        super().__init__()
        self.gate_g = nn.Sequential(nn.Conv2d(c_gate, c_inter, 1), nn.BatchNorm2d(c_inter))
        self.gate_x = nn.Sequential(nn.Conv2d(c_skip, c_inter, 1), nn.BatchNorm2d(c_inter))
        self.psi = nn.Sequential(nn.Conv2d(c_inter, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())
        self.self_in = nn.Sequential(nn.Conv2d(c_skip, c_inter, 1), nn.BatchNorm2d(c_inter))
        self.self_out = nn.Conv2d(c_inter, 1, 1, bias=False)

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``g (N, c_gate, H, W)``, ``x (N, c_skip, H, W)`` -> gated ``x``."""
        psi = self.psi(torch.relu(self.gate_g(g) + self.gate_x(x)))
        q = torch.sigmoid(self.self_out(self.self_in(x)))
        return x * (psi + q)


class SIRM(nn.Module):
    """Attention U-Net recovering the source face from the source-segmented image ``m * x``.

    ``forward(x (N, 3, H, W) in [0, 1]) -> (source (N, 3, H, W) in [0, 1], f_t_rows (N, K, h*w),
    f_s (N, C/2), f_t (N, C/2))`` where ``C = widths[-1]``, ``h = w = H / 2**(len(widths)-1)``
    and ``f_s`` / ``f_t`` are the globally average-pooled source / target halves of the
    bottleneck.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256, 1024), n_keep: int = 98, in_ch: int = 3) -> None:
        super().__init__()
        widths = tuple(widths)
        half = widths[-1] // 2
        self.enc = nn.ModuleList(ConvBlock(c_in, c_out) for c_in, c_out in zip((in_ch,) + widths[:-1], widths))
        self.pool = nn.MaxPool2d(2, 2)
        dec_in = (half,) + widths[-2:0:-1]  # channels entering each up-step
        skips = widths[-2::-1]  # skip widths, deepest first
        self.up = nn.ModuleList(UpConv(ci, co) for ci, co in zip(dec_in, skips))
        self.gates = nn.ModuleList(AttentionGate(c, c, max(1, c // 2)) for c in skips)
        self.dec = nn.ModuleList(ConvBlock(2 * c, c) for c in skips)
        self.head = nn.Conv2d(widths[0], 3, 1)
        self.target_head = ConvBlock(half, n_keep)
        self.half = half

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = []
        h = x
        for i, block in enumerate(self.enc):
            h = block(h if i == 0 else self.pool(h))
            feats.append(h)
        f_src, f_tgt = h[:, : self.half], h[:, self.half :]
        d = f_src
        for up, gate, dec, skip in zip(self.up, self.gates, self.dec, feats[-2::-1]):
            d = up(d)
            d = dec(torch.cat((gate(d, skip), d), dim=1))
        source = torch.sigmoid(self.head(d))
        rows = self.target_head(f_tgt).flatten(2)
        return source, rows, f_src.mean(dim=(2, 3)), f_tgt.mean(dim=(2, 3))
