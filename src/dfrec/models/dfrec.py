"""The DFREC network: ISM -> SIRM (source face) and ISM -> masking -> TIRM (target face).

``DFREC(config)(x)`` takes aligned face crops ``(N, 3, 224, 224)`` in [0, 1] and returns
the recovered source and target faces, the ISM map, the real/fake logit and what the
training losses need (masked-patch predictions and indices, pooled identity vectors).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfrec.errors import CheckpointError, ConfigError, InputError
from dfrec.models.checkpoint import CONFIG_NAME, SHARD_SIZE_MB, load_state_strict, read_config, read_state_dict, save_checkpoint
from dfrec.models.config import DFRECConfig
from dfrec.models.masking import patchify as _patchify
from dfrec.models.masking import semantic_mask
from dfrec.models.sirm import SIRM
from dfrec.models.tirm import TIRM


def face_prior_mask(size: int, prior: tuple[float, ...] = (0.5, 0.55, 0.34, 0.42)) -> torch.Tensor:
    """Filled ellipse ``(1, 1, size, size)`` in {0, 1} over the face of an aligned crop.

    ``prior = (cx, cy, ax, ay)`` in fractions of the side. Replaces the ISM map in the
    "without ISM" ablation (paper §IV: a uniform face-region mask).
    """
    cx, cy, ax, ay = prior
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    return inside.float().view(1, 1, size, size)


def _dilate(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Map ``(N, 1, S, S)`` dilated by ``px`` pixels (max-pool, same size); ``px`` 0 returns it as is."""
    if px == 0:
        return mask
    return torch.nn.functional.max_pool2d(mask, 2 * px + 1, stride=1, padding=px)


def dilate_and_feather(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Map ``(N, 1, S, S)`` in [0, 1] dilated by ``px`` pixels (max-pool) and feathered over as many
    (box blur, same size), in [0, 1]; ``px`` 0 returns it as is. The composite's blend weight."""
    if px == 0:
        return mask
    return torch.nn.functional.avg_pool2d(_dilate(mask, px), 2 * px + 1, stride=1, padding=px, count_include_pad=False)


class DFREC(nn.Module):
    """DeepFake identity recovery network (ISM + SIRM + TIRM), configured by :class:`DFRECConfig`.

    Build with :func:`dfrec.models.create_model` (a preset) or ``DFREC(config)``; save and
    load with :meth:`save_pretrained` / :meth:`from_pretrained` (safetensors, no pickle).
    ``pretrained_init=False`` skips loading ImageNet encoder weights (used when a
    checkpoint will overwrite them anyway).
    """

    def __init__(self, config: DFRECConfig, pretrained_init: bool = True) -> None:
        super().__init__()
        self.config = config
        #: the ``metadata`` of the checkpoint the weights came from (training run, data,
        #: validation); empty for a model built in memory
        self.checkpoint_metadata: dict[str, Any] = {}
        #: submodules whose weights are fixed (:meth:`freeze`)
        self.frozen: tuple[str, ...] = ()
        c = self.config
        if c.use_ism:
            from dfrec.models.ism import ISM

            self.ism = ISM(
                encoder=c.ism_encoder,
                encoder_weights=c.ism_encoder_weights,
                input_norm=c.ism_input_norm,
                decoder_channels=c.ism_decoder_channels,
                cls_dropout=c.ism_cls_dropout,
                pretrained_init=pretrained_init,
            )
        else:
            self.ism = None
            self.register_buffer("prior", face_prior_mask(c.image_size, c.face_prior), persistent=False)
        self.scorer = None
        if c.score_branch:
            self._build_scorer(copy_ism=pretrained_init)
        self.sirm = SIRM(c.sirm_widths, n_keep=c.n_keep)
        self.tirm = TIRM(
            image_size=c.image_size,
            patch_size=c.patch_size,
            enc_dim=c.enc_dim,
            enc_depth=c.enc_depth,
            enc_heads=c.enc_heads,
            enc_mlp_ratio=c.enc_mlp_ratio,
            dec_dim=c.dec_dim,
            dec_depth=c.dec_depth,
            dec_heads=c.dec_heads,
            dec_mlp_ratio=c.dec_mlp_ratio,
            fusion_dim=c.fusion_dim if c.use_fusion else None,
            token_shift=c.official_token_shift,
            refine_depth=c.refine_depth,
            refine_width=c.refine_width,
            deblock=c.deblock,
            deblock_in_training=c.deblock_in_training,
            refine_sees_masked=c.refine_sees_masked,
            antialias=c.antialias,
        )

    # ------------------------------------------------------------------------------------
    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, L, p*p*C)`` in raster order; the patch-loss targets for ``pred_patches``."""
        return _patchify(images, self.config.patch_size)

    def segment(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ISM map ``(N, 1, H, W)`` in [0, 1] and the ISM head's logit ``(N,)``; the face-ellipse
        prior (logit 0) without ISM."""
        if self.ism is not None:
            return self.ism(x)
        return self.prior.expand(x.shape[0], -1, -1, -1).to(x.dtype), x.new_zeros(x.shape[0])

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The real/fake logit ``(N,)`` of ``x (N, 3, S, S)`` in [0, 1] (> 0 means fake): the score
        branch's with ``score_branch``, else the ISM head's (one ISM pass; use :meth:`forward`
        when the map is wanted too)."""
        if self.scorer is not None:
            return self.scorer(x)
        return self.segment(x)[1]

    def choose_patches(self, mask: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Semantic-guided masking of the config's variant: ``(idx_keep (N, K), idx_mask (N, L-K))``."""
        c = self.config
        return semantic_mask(
            mask,
            c.patch_size,
            c.mask_ratio,
            c.masking,
            generator=generator,
            threshold=c.released_threshold,
            low=c.released_low,
            noise=c.map_noise if self.training else 1e-3,
        )

    def sirm_weight(self, mask: torch.Tensor) -> torch.Tensor:
        """What multiplies the input of the SIRM: the map ``(N, 1, S, S)`` itself, or dilated by
        ``sirm_dilate`` px (max-pool), in [0, 1]."""
        return _dilate(mask, int(self.config.sirm_dilate))

    def blend_weight(self, mask: torch.Tensor) -> torch.Tensor:
        """Weight of the TIRM output in the composite: the map ``(N, 1, S, S)`` (binarised at
        ``compose_threshold`` when set) dilated by ``compose_dilate`` px (max-pool) and feathered
        over as many px (box blur), in [0, 1]."""
        if self.config.compose_threshold is not None:
            mask = (mask > self.config.compose_threshold).to(mask.dtype)
        return dilate_and_feather(mask, int(self.config.compose_dilate))

    def composite(self, raw: torch.Tensor, mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The recovered target of ``compose``: the TIRM's output ``raw`` ``(N, 3, S, S)`` inside the
        map ``mask`` ``(N, 1, S, S)`` (as :meth:`blend_weight` makes it), the input ``x`` outside it."""
        w = self.blend_weight(mask).to(raw.dtype)
        return w * raw + (1.0 - w) * x.to(raw.dtype)

    def _check(self, x: torch.Tensor) -> None:
        s = self.config.image_size
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != s or x.shape[3] != s:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise InputError(f"DFREC expects a (N, 3, {s}, {s}) tensor in [0, 1], got {shape}")

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        map_override: torch.Tensor | None = None,
        fuse: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Recover source and target faces from aligned crops ``x (N, 3, S, S)`` in [0, 1].

        Returns a dict: ``source``, ``target`` ``(N, 3, S, S)`` in [0, 1]; ``mask`` ``(N, 1, S, S)``
        in [0, 1] (ISM map m); ``logit`` ``(N,)`` (> 0 means fake); ``pred_patches`` ``(N, L-K,
        p*p*3)`` in [0, 1] (TIRM predictions of the masked patches, compare with
        ``patchify(true_target)`` gathered at ``mask_indices``); ``mask_indices`` ``(N, L-K)``
        and ``keep_indices`` ``(N, K)`` long raster patch indices; ``f_s``, ``f_t``
        ``(N, id_dim)`` pooled source / target identity features. With ``compose`` the
        ``target`` is the composite and ``target_raw`` the TIRM's own output.

        With ``score_branch`` the ``logit`` is the branch's and ``ism_logit`` ``(N,)`` the ISM
        head's (both trained by the classification loss).

        ``generator`` makes the masking noise reproducible. Ablation switches (paper Table VI):
        ``map_override`` ``(N or 1, 1, S, S)`` in [0, 1] replaces the ISM map downstream (the
        logit is kept); ``fuse=False`` feeds zeros in place of the SIRM's identity rows.
        """
        self._check(x)
        m, logit = self.segment(x)
        extra = {}
        if self.scorer is not None:
            extra["ism_logit"], logit = logit, self.scorer(x)
        if map_override is not None:
            m = map_override.to(device=x.device, dtype=m.dtype).expand_as(m)
        source, rows, f_s, f_t = self.sirm(self.sirm_weight(m) * x)
        idx_keep, idx_mask = self.choose_patches(m, generator)
        if not self.config.use_fusion:
            rows = None
        elif not fuse:
            rows = torch.zeros_like(rows)
        elif self.config.fusion_detach:
            rows = rows.detach()
        raw, pred = self.tirm(x, idx_keep, idx_mask, rows)
        target = raw
        if self.config.compose:
            target = self.composite(raw, m, x)
            extra["target_raw"] = raw
        return {
            **extra,
            "source": source,
            "target": target,
            "mask": m,
            "logit": logit,
            "pred_patches": pred,
            "mask_indices": idx_mask,
            "keep_indices": idx_keep,
            "f_s": f_s,
            "f_t": f_t,
        }

    def _build_scorer(self, copy_ism: bool) -> int:
        """Set ``self.scorer`` to a :class:`~dfrec.models.score_branch.ScoreBranch` of the ISM's kind,
        on the ISM's device and in the model's mode, its weights copied from the ISM when ``copy_ism``;
        returns the number of tensors copied."""
        from dfrec.models.score_branch import ScoreBranch

        c = self.config
        self.scorer = ScoreBranch(encoder=c.ism_encoder, input_norm=c.ism_input_norm, cls_dropout=c.ism_cls_dropout)
        self.scorer.to(next(self.ism.parameters()).device).train(self.training)
        return self.scorer.copy_from_ism(self.ism) if copy_ism else 0

    def add_score_branch(self) -> int:
        """Give a model without one a score branch (``score_branch: true``) that starts as a copy
        of the ISM's encoder and head, so its scores stay what they were until it is trained; returns
        the number of tensors copied (0 when it has one). A model without an ISM raises :class:`ConfigError`."""
        if self.scorer is not None:
            return 0
        self.config = self.config.replace(score_branch=True)
        return self._build_scorer(copy_ism=True)

    # ------------------------------------------------------------------------------------
    def freeze(self, names: list[str] | tuple[str, ...]) -> int:
        """Fix the weights of the named submodules (``ism``, ``sirm``, ``tirm`` or dotted paths such
        as ``tirm.refiner``) for fine-tuning: no gradients, and kept in eval mode by :meth:`train`
        so BatchNorm statistics and dropout stay as trained. Returns the number of parameters
        frozen; an unknown name raises ``ConfigError`` listing the modules there are."""
        names = tuple(dict.fromkeys(names))
        count = 0
        for name in names:
            try:
                mod = self.get_submodule(name)
            except AttributeError:
                known = ", ".join(n for n, _ in self.named_children())
                raise ConfigError(f"cannot freeze {name!r}: no such module (top-level modules: {known})") from None
            if mod is self:
                raise ConfigError("cannot freeze the whole model; name its modules (ism, sirm, tirm)")
            for p in mod.parameters():
                count += p.numel() if p.requires_grad else 0
                p.requires_grad_(False)
        self.frozen = tuple(dict.fromkeys(self.frozen + names))
        self.train(self.training)
        return count

    def train(self, mode: bool = True) -> "DFREC":
        """``nn.Module.train``, except that :meth:`freeze`-d submodules stay in eval mode."""
        super().train(mode)
        for name in self.frozen:
            self.get_submodule(name).eval()
        return self

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts per module and in total."""
        counts = {name: sum(p.numel() for p in mod.parameters()) for name, mod in self.named_children()}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts

    def save_pretrained(
        self,
        path: str | os.PathLike,
        metadata: dict[str, Any] | None = None,
        shard_size_mb: float = SHARD_SIZE_MB,
        dtype: str = "float32",
    ) -> None:
        """Write ``config.json`` + ``model.safetensors`` (or shards + index) into folder ``path``.

        ``metadata`` (training data, metrics, ...) goes into ``config.json``; ``dtype``
        "float16" halves the file (weights are cast back to float32 on load).
        """
        save_checkpoint(path, self.config.to_dict(), self.state_dict(), metadata=metadata,
                        num_parameters=sum(p.numel() for p in self.parameters()),
                        shard_size_mb=shard_size_mb, dtype=dtype)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu",
                        overrides: dict[str, Any] | None = None) -> "DFREC":
        """Load a model saved by :meth:`save_pretrained` (no pickle; weights as float32), with
        its ``checkpoint_metadata``; a missing, corrupt or mismatched folder raises ``CheckpointError``.

        ``overrides`` changes settings of the saved config before the weights load, e.g.
        ``{"compose_dilate": 0}`` (settings without tensors: inference options); an invalid value
        raises ``ConfigError``, one that changes the architecture fails the strict load with a
        ``CheckpointError`` naming the keys."""
        folder = Path(path)
        doc = read_config(folder)
        try:
            config = DFRECConfig.from_dict(doc["config"])
        except ConfigError as e:
            raise CheckpointError(f"{folder / CONFIG_NAME}: invalid model config ({e})") from None
        if overrides:
            config = DFRECConfig.from_dict({**config.to_dict(), **overrides})
        model = cls(config, pretrained_init=False)
        load_state_strict(model, read_state_dict(folder), source=str(folder))
        model.checkpoint_metadata = dict(doc.get("metadata") or {})
        return model.to(map_location).eval()
