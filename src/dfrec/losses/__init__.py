"""DFREC training losses: identity, perceptual, attribute, patch recovery, classification.

``DFRECLoss(LossConfig(...))`` is the one entry point for training:
``total, parts = loss_fn(outputs, batch)``; ``loss_fn.describe()`` records which networks
are used. Each term is also usable alone (see each module). Names load lazily so that
``import dfrec.losses`` does not build or import any network.
"""

from __future__ import annotations

from dfrec._lazy import lazy_getattr

_EXPORTS = {
    "DFRECLoss": "dfrec.losses.total",
    "LossConfig": "dfrec.losses.total",
    "IdentityLoss": "dfrec.losses.identity",
    "PerceptualLoss": "dfrec.losses.perceptual",
    "AttributeLoss": "dfrec.losses.attribute",
    "AttributeNet": "dfrec.losses.attribute",
    "AppearanceAttributeNet": "dfrec.losses.attribute",
    "patch_loss": "dfrec.losses.patch",
    "classification_loss": "dfrec.losses.classification",
    "VGG19Features": "dfrec.losses.backbones",
    "EfficientNetLite0Features": "dfrec.losses.backbones",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
