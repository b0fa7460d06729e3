"""TIRM, the Target Identity Recovery Module: an identity-aware masked autoencoder.

A ViT encoder (timm ``Block``s) sees only the visible patches of the input (chosen by
:mod:`dfrec.models.masking`); each visible token's encoding is concatenated with its row
of the SIRM's target-identity map ``f_t`` (identity fusion) and linearly embedded to the
decoder width; mask tokens fill the masked positions; a transformer decoder with
positional embeddings and a linear + sigmoid head predicts the masked patches' pixels.
The recovered target = the input's visible patches + the predicted masked patches.

Optionally (``refine_depth > 0``) a light convolutional refinement runs over that
un-patchified image, the input and the map of masked patches, and adds a residual: it
sees across the 16-px patch borders, so the recovered target carries no patch grid. Its
last convolution starts at zero, so a new refinement starts as the identity. With
``refine_sees_masked=False`` its view of the input is blanked on the masked patches, so it
cannot copy the forgery's (the source's) features there into the recovered target.

Optionally (``deblock > 0``) a fixed deblocking filter runs first, as video codecs have
at block edges: independently predicted patches differ by small offsets, which read as a
16-px grid; at each patch border next to a predicted patch the step beyond the
neighbours' slope is spread as ramps over ``deblock`` px on both sides (:func:`deblock`).
It runs in eval mode (inference, validation) and, with ``deblock_in_training``, in training.

Optionally (``antialias=True``) the predicted patches of the output pass, last, through a
fixed 3x3 binomial low-pass (:func:`binomial_blur`), in training and at inference, and then
(where the deblocking filter runs) through the deblocking filter once more: the linear head
writes every pixel of a patch independently, and trained models leave a 2-px checkerboard
there (at the Nyquist frequency, about 2,400 times the forgery's power) that the identity
network does not read and that hid the patches' offsets from the first deblocking pass
(docs/training.md, CPU run 28). The visible patches stay the input's.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.models.vision_transformer import Block
from torch import nn
from torch.nn import functional as F

from dfrec.models.masking import gather_patches, patchify, unpatchify


def _blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.Sequential:
    norm = partial(nn.LayerNorm, eps=1e-6)
    return nn.Sequential(*[Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth)])


def start_as_identity(block: Block) -> None:
    """Make a timm ViT ``Block`` compute the identity: zero its attention and MLP output projections
    (weights and biases), so both residual branches add 0. The branches' inputs still carry
    gradients, so training grows them from there (used to deepen a trained TIRM without changing
    what it computes: ``model.init_grow``)."""
    for proj in (block.attn.proj, block.mlp.fc2):
        nn.init.zeros_(proj.weight)
        nn.init.zeros_(proj.bias)


class Refiner(nn.Module):
    """Residual convolutional refinement of an un-patchified MAE output.

    ``forward(raw, x, holes)``: ``raw`` ``(N, 3, H, W)`` in [0, 1] (visible input patches +
    predicted masked patches), ``x`` the input, ``holes`` ``(N, 1, H, W)`` in {0, 1} (1 on
    masked patches) -> ``(N, 3, H, W)`` in [0, 1]. ``depth`` 3x3 convolutions of ``width``
    channels with dilations 1, 2, 4, 8, 1, ... (receptive field 31 px at depth 5), ReLU
    between them, the last one zero-initialised.
    """

    def __init__(self, depth: int = 5, width: int = 16) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"refinement depth must be >= 2, got {depth}")
        dil = [1, 2, 4, 8]
        layers: list[nn.Module] = []
        c_in = 7
        for i in range(depth - 1):
            d = dil[i % len(dil)]
            layers += [nn.Conv2d(c_in, width, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
            c_in = width
        last = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.net = nn.Sequential(*layers)

    def forward(self, raw: torch.Tensor, x: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        h = torch.cat((raw, x.to(raw.dtype), holes.to(raw.dtype)), dim=1)
        return (raw + self.net(h)).clamp(0.0, 1.0)


def _border_profile(n: int, patch_size: int, band: int, like: torch.Tensor) -> torch.Tensor:
    """``(B, n)`` with B = n // patch_size - 1 interior borders: for the border between pixels
    ``c-1`` and ``c``, ``+½(1 − d/band)`` at ``c-1-d`` and ``−½(1 − d/band)`` at ``c+d``, d < band."""
    borders = torch.arange(patch_size, n, patch_size, device=like.device)
    m = like.new_zeros(len(borders), n)
    rows = torch.arange(len(borders), device=like.device)
    for d in range(band):
        w = 0.5 * (1.0 - d / band)
        m[rows, borders - 1 - d] = w
        m[rows, borders + d] = -w
    return m


def _deblock_columns(img: torch.Tensor, holes: torch.Tensor, patch_size: int, band: int) -> torch.Tensor:
    """Remove the excess steps across the vertical patch borders of ``img (N, C, H, W)``."""
    w = img.shape[-1]
    c = torch.arange(patch_size, w, patch_size, device=img.device)
    left, right = img[..., c - 1], img[..., c]
    natural = 0.5 * ((img[..., c + 1] - right) + (left - img[..., c - 2]))  # the neighbours' slope
    excess = (right - left) - natural  # (N, C, H, B)
    # the patches' offset, not texture: the excess averaged along each patch's side
    n, ch, h, b = excess.shape
    excess = excess.reshape(n, ch, h // patch_size, patch_size, b).mean(3, keepdim=True)
    excess = excess.expand(-1, -1, -1, patch_size, -1).reshape(n, ch, h, b)
    gate = torch.maximum(holes[..., c - 1], holes[..., c]).to(img.dtype)  # next to a predicted patch
    return img + (excess * gate) @ _border_profile(w, patch_size, band, img)


def deblock(img: torch.Tensor, holes: torch.Tensor, patch_size: int, band: int) -> torch.Tensor:
    """Deblock ``img (N, C, H, W)`` along the ``patch_size`` grid where a border touches a
    predicted patch (``holes (N, 1, H, W)``, 1 on predicted patches): the step across the
    border beyond the slope of its neighbours (averaged along each patch's side: the
    patches' offset) is spread as two linear ramps of ``band`` px, half on each
    side, so the border keeps the neighbours' slope and the texture is kept. Columns, then
    rows; ``band`` in [1, patch_size // 2] (0 returns ``img``)."""
    if band <= 0:
        return img
    out = _deblock_columns(img, holes, patch_size, band)
    return _deblock_columns(out.transpose(-1, -2), holes.transpose(-1, -2), patch_size, band).transpose(-1, -2)


def binomial_blur(img: torch.Tensor) -> torch.Tensor:
    """``img (N, C, H, W)`` through the 3x3 binomial filter ``[1, 2, 1]/4`` in each direction,
    replicate-padded: zero response at the Nyquist frequency (a 2-px checkerboard or stripes),
    half at a 4-px period, 0.85 at 8 px."""
    k = img.new_tensor([0.25, 0.5, 0.25])
    k2 = (k[:, None] * k[None, :]).expand(img.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k2, groups=img.shape[1])


class TIRM(nn.Module):
    """Masked autoencoder with identity fusion.

    ``forward(x, idx_keep, idx_mask, f_t_rows)``: ``x (N, 3, H, W)`` in [0, 1], ``idx_keep
    (N, K)``, ``idx_mask (N, L-K)`` patch indices, ``f_t_rows (N, K, fusion_dim)`` or
    ``None`` (no fusion) -> ``(target (N, 3, H, W) in [0, 1], pred (N, L-K, p*p*3) in [0, 1])``;
    ``pred`` is the decoder's raw patch prediction (before any refinement).

    A class token is prepended to the encoder sequence. With ``token_shift=True`` (the
    authors' released code, for their weights only) patch index ``i`` addresses position
    ``i`` of the 1+L sequence that starts with the class token, in encoder and decoder
    alike, as lightly's MAE is called there without the usual +1 shift.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        enc_dim: int = 768,
        enc_depth: int = 12,
        enc_heads: int = 12,
        enc_mlp_ratio: float = 4.0,
        dec_dim: int = 512,
        dec_depth: int = 8,
        dec_heads: int = 16,
        dec_mlp_ratio: float = 4.0,
        fusion_dim: int | None = 196,
        token_shift: bool = False,
        refine_depth: int = 0,
        refine_width: int = 16,
        deblock: int = 0,
        deblock_in_training: bool = False,
        refine_sees_masked: bool = True,
        antialias: bool = False,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.num_patches = (image_size // patch_size) ** 2
        self.token_shift = token_shift
        self.patch_embed = nn.Conv2d(3, enc_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, enc_dim))
        self.pos_embed = nn.Parameter(torch.empty(1, self.num_patches + 1, enc_dim).normal_(std=0.02))
        self.encoder = _blocks(enc_dim, enc_depth, enc_heads, enc_mlp_ratio)
        self.enc_norm = nn.LayerNorm(enc_dim, eps=1e-6)
        self.fusion_dim = fusion_dim or 0
        self.decoder_embed = nn.Linear(enc_dim + self.fusion_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        dec_len = self.num_patches + (1 if token_shift else 0)
        self.dec_pos_embed = nn.Parameter(torch.empty(1, dec_len, dec_dim).normal_(std=0.02))
        self.decoder = _blocks(dec_dim, dec_depth, dec_heads, dec_mlp_ratio)
        self.dec_norm = nn.LayerNorm(dec_dim, eps=1e-6)
        self.head = nn.Linear(dec_dim, patch_size * patch_size * 3)
        self._init_weights()
        self.refiner = Refiner(refine_depth, refine_width) if refine_depth else None
        self.deblock = deblock
        self.deblock_in_training = deblock_in_training
        self.refine_sees_masked = refine_sees_masked
        self.antialias = antialias

    def _init_weights(self) -> None:
        fan_in = self.patch_embed.in_channels * self.patch_size**2
        nn.init.trunc_normal_(self.patch_embed.weight, std=(1.0 / fan_in) ** 0.5)
        nn.init.zeros_(self.patch_embed.bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor, idx_keep: torch.Tensor) -> torch.Tensor:
        """Encode the visible patches: ``(N, 3, H, W)``, ``(N, K)`` -> ``(N, K, enc_dim)``."""
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        seq = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1) + self.pos_embed
        if self.token_shift:
            return self.enc_norm(self.encoder(gather_patches(seq, idx_keep)))
        h = torch.cat((seq[:, :1], gather_patches(seq[:, 1:], idx_keep)), dim=1)
        return self.enc_norm(self.encoder(h))[:, 1:]

    def decode(self, enc: torch.Tensor, idx_keep: torch.Tensor, idx_mask: torch.Tensor, f_t_rows: torch.Tensor | None) -> torch.Tensor:
        """Fuse, fill mask tokens, decode; returns masked-patch predictions ``(N, L-K, p*p*3)`` in [0, 1]."""
        if self.fusion_dim:
            if f_t_rows is None:
                raise ValueError("this TIRM was built with identity fusion: pass f_t_rows")
            enc = torch.cat((enc, f_t_rows.to(enc.dtype)), dim=2)
        emb = self.decoder_embed(enc)
        n, dec_len = emb.shape[0], self.dec_pos_embed.shape[1]
        full = self.mask_token.to(emb.dtype).expand(n, dec_len, -1)
        full = full.scatter(1, idx_keep.unsqueeze(-1).expand(-1, -1, emb.shape[-1]), emb)
        out = self.dec_norm(self.decoder(full + self.dec_pos_embed))
        return torch.sigmoid(self.head(gather_patches(out, idx_mask)))

    def forward(
        self, x: torch.Tensor, idx_keep: torch.Tensor, idx_mask: torch.Tensor, f_t_rows: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self.decode(self.encode(x, idx_keep), idx_keep, idx_mask, f_t_rows)
        patches = patchify(x, self.patch_size)
        idx = idx_mask.unsqueeze(-1).expand(-1, -1, patches.shape[-1])
        target = unpatchify(patches.scatter(1, idx, pred.to(patches.dtype)), self.patch_size)
        deblocking = self.deblock and (self.deblock_in_training or not self.training)
        if deblocking or self.refiner is not None or self.antialias:
            holes = self.holes(idx_mask, x)
            if deblocking:
                target = deblock(target, holes, self.patch_size, self.deblock).clamp(0.0, 1.0)
            if self.refiner is not None:
                seen = x if self.refine_sees_masked else x * (1.0 - holes.to(x.dtype))
                target = self.refiner(target, seen, holes)
            if self.antialias:
                target = target + (binomial_blur(target) - target) * holes.to(target.dtype)
                if deblocking:  # the checkerboard hid the patches' offsets from the first pass
                    target = deblock(target, holes, self.patch_size, self.deblock).clamp(0.0, 1.0)
        return target, pred

    def holes(self, idx_mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` in {0, 1}: 1 on the masked patches ``idx_mask (N, M)``, shaped like ``like``."""
        n, length, p = like.shape[0], self.num_patches, self.patch_size
        flags = like.new_zeros(n, length, p * p)
        flags.scatter_(1, idx_mask.unsqueeze(-1).expand(-1, -1, p * p), 1.0)
        return unpatchify(flags, p, channels=1)
