"""The score branch: a real/fake classifier with its own encoder, beside the ISM.

The ISM's real/fake head reads the encoder that also draws the map, so training the score (on
compressed, rescaled or small faces, say) moves the map, and with it the recovered faces. With
``DFRECConfig.score_branch`` the model's ``logit`` comes from this branch instead: the ISM's
encoder and head architecture (an smp encoder at output stride 16, average pooling, dropout, one
linear unit), with weights of its own. :meth:`ScoreBranch.copy_from_ism` starts it as an exact copy
of the ISM's score, so adding the branch changes nothing until it is trained.
"""

from __future__ import annotations

import torch
from torch import nn

from dfrec.errors import ConfigError
from dfrec.models.ism import ISM, import_smp, input_norm_stats


class ScoreBranch(nn.Module):
    """``forward(x (N, 3, H, W) in [0, 1]) -> logit (N,)`` (> 0 means fake).

    ``encoder`` / ``input_norm`` / ``cls_dropout`` as the ISM's (:class:`dfrec.models.ism.ISM`);
    the encoder starts random: the branch is meant to start as :meth:`copy_from_ism`.
    """

    def __init__(self, encoder: str = "efficientnet-b0", input_norm: str = "none", cls_dropout: float = 0.2) -> None:
        super().__init__()
        smp = import_smp()
        try:
            self.encoder = smp.encoders.get_encoder(encoder, in_channels=3, depth=5, weights=None, output_stride=16)
        except (KeyError, ValueError) as e:
            raise ConfigError(f"score branch: cannot build encoder {encoder!r}: {e}") from None
        self.head = smp.base.ClassificationHead(in_channels=self.encoder.out_channels[-1], classes=1,
                                                pooling="avg", dropout=cls_dropout)
        mean, std = input_norm_stats(input_norm)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, 3, H, W)`` in [0, 1] -> ``logit (N,)``."""
        return self.head(self.encoder((x - self.mean) / self.std)[-1]).reshape(-1)

    @torch.no_grad()
    def copy_from_ism(self, ism: ISM) -> int:
        """Set the encoder and head to the ISM's (its encoder and ``classification_head``), so
        that ``self(x)`` equals the ISM's logit; returns the number of tensors copied. A branch
        built for another encoder raises :class:`ConfigError`."""
        pairs = ((self.encoder, ism.net.encoder), (self.head, ism.net.classification_head))
        count = 0
        for mine, theirs in pairs:
            try:
                mine.load_state_dict(theirs.state_dict(), strict=True)
            except RuntimeError as e:
                raise ConfigError(f"score branch: the ISM's weights do not fit ({str(e).splitlines()[0]})") from None
            count += len(theirs.state_dict())
        return count
