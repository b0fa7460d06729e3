"""TIRM, the Target Identity Recovery Module: an identity-aware masked autoencoder.

A ViT encoder (timm ``Block``s) sees only the visible patches of the input (chosen by
:mod:`dfrec.models.masking`); each visible token's encoding is concatenated with its row
of the SIRM's target-identity map ``f_t`` (identity fusion) and linearly embedded to the
decoder width; mask tokens fill the masked positions; a transformer decoder with
positional embeddings and a linear + sigmoid head predicts the masked patches' pixels.
The recovered target = the input's visible patches + the predicted masked patches.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.models.vision_transformer import Block
from torch import nn

from dfrec.models.masking import patchify, unpatchify


def _blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.Sequential:
    norm = partial(nn.LayerNorm, eps=1e-6)
    return nn.Sequential(*[Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth)])


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x (N, L, D)``, ``idx (N, M)`` -> ``(N, M, D)``."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class TIRM(nn.Module):
    """Masked autoencoder with identity fusion.

    ``forward(x, idx_keep, idx_mask, f_t_rows)``: ``x (N, 3, H, W)`` in [0, 1], ``idx_keep
    (N, K)``, ``idx_mask (N, L-K)`` patch indices, ``f_t_rows (N, K, fusion_dim)`` or
    ``None`` (no fusion) -> ``(target (N, 3, H, W) in [0, 1], pred (N, L-K, p*p*3) in [0, 1])``.

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
            return self.enc_norm(self.encoder(_gather(seq, idx_keep)))
        h = torch.cat((seq[:, :1], _gather(seq[:, 1:], idx_keep)), dim=1)
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
        return torch.sigmoid(self.head(_gather(out, idx_mask)))

    def forward(
        self, x: torch.Tensor, idx_keep: torch.Tensor, idx_mask: torch.Tensor, f_t_rows: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self.decode(self.encode(x, idx_keep), idx_keep, idx_mask, f_t_rows)
        patches = patchify(x, self.patch_size)
        idx = idx_mask.unsqueeze(-1).expand(-1, -1, patches.shape[-1])
        target = unpatchify(patches.scatter(1, idx, pred.to(patches.dtype)), self.patch_size)
        return target, pred
