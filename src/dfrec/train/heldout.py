"""Held-out evaluation of a model: fixed forgery sets from LFW validation identities (or from test
identities other than those `dfrec evaluate` reports on).

Used to compare recipes at equal compute (``benchmarks/recipe_compare.py``) and to decide
whether a newly trained model may replace the bundled one (``scripts/model_gate.py``):
every model is scored on the same samples.

Sets (no augmentation, seeded): ``swap`` (landmark face swaps), ``gan_swap`` (swaps with the
wide appearance range — the target's low frequencies under the source's detail, resolution,
blur, noise and colour mismatches: a proxy for real GAN swaps), ``blend`` (Face X-ray
blends), ``real`` (pristine faces); on request (``names``) also ``self`` (self-swaps: two
photos of one person). Metrics per set are those of
:func:`dfrec.train.validation.validate` (IDSim, verif, PSNR/SSIM, map IoU, blockiness, ...)
plus, for the swap sets, FID of the recovered targets against the true targets (with the
forgery itself as the None reference; FID over a few dozen images is biased upwards and
only comparable between rows of one table). And, when asked for (``degraded=True``, as
``scripts/model_gate.py`` does), ``accuracy_degraded``: the fake score's
per-sample accuracy on every sample of the set once more under each of :data:`SCORE_DEGRADATIONS`
(what photos and videos from elsewhere go through: JPEG, WebP, a frame of H.264 video (needs libx264,
:mod:`dfrec.x264`), resizing, a small face, blur, noise, sharpening;
per sample, the fraction of its degraded versions called right),
since a score can hold on clean crops and fail on compressed ones (docs/training.md, "The fake
score outside LFW").
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

#: Kind mix of each set.
SETS = {"swap": {"swap": 1.0}, "gan_swap": {"swap": 1.0}, "blend": {"blend": 1.0}, "real": {"real": 1.0}}

#: Sets made only when asked for by name.
EXTRA_SETS = {"self": {"self": 1.0}}


def _score_degradations() -> dict[str, Any]:
    """name -> ``f(crop (S, S, 3) uint8, rng) -> uint8 crop``; see :data:`SCORE_DEGRADATIONS`."""
    import cv2

    from dfrec.data.synth.augment import (as_small_face, gaussian_blur, gaussian_noise, h264, jpeg,
                                          rescale_round_trip, unsharp_mask, webp)

    return {
        "JPEG 50": lambda a, g: jpeg(a, 50),
        "JPEG 30": lambda a, g: jpeg(a, 30),
        "WebP 50": lambda a, g: webp(a, 50),
        "H.264 CRF 35": lambda a, g: h264(a, 35),
        "half size, JPEG 50": lambda a, g: rescale_round_trip(a, 0.5, 50, up=cv2.INTER_CUBIC),
        "eyes 14 px apart": lambda a, g: as_small_face(a, 14),
        "blur 5": lambda a, g: gaussian_blur(a, 5),
        "noise 30": lambda a, g: gaussian_noise(a, 30, g),
        "sharpened 1.0": lambda a, g: unsharp_mask(a, 1.0),
    }


#: Names of the degradations under which ``accuracy_degraded`` scores the fake score.
SCORE_DEGRADATIONS = tuple(_score_degradations())


def degraded_accuracy(model: torch.nn.Module, forgery: torch.Tensor, is_fake: torch.Tensor, seed: int = 0,
                      per_degradation: bool = False) -> torch.Tensor:
    """Per-sample accuracy of ``model.score`` (> 0 = fake) on ``forgery (N, 3, S, S)`` in [0, 1] under
    each of the D :data:`SCORE_DEGRADATIONS`, against ``is_fake (N,)``: ``(N,)`` float64, the fraction
    of the D versions of each sample called right (one value per sample, so that two models' values
    pair up as independent samples), or ``(N, D)`` 0/1 with ``per_degradation``."""
    import numpy as np

    fns = list(_score_degradations().values())
    g = np.random.default_rng(seed)
    crops = (forgery.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    x = np.stack([f(a, g) for a in crops for f in fns])  # (N * D, S, S, 3), sample-major
    x = torch.from_numpy(x).permute(0, 3, 1, 2).to(forgery.device, torch.float32) / 255
    with torch.no_grad():
        fake = model.score(x).float().reshape(len(crops), len(fns)).cpu() > 0
    right = (fake == (is_fake.detach().float().reshape(-1, 1).cpu() > 0.5)).to(torch.float64)
    return right if per_degradation else right.mean(1)


def wide_synth() -> dict:
    """Synthesiser options with the wide appearance range on swaps and blends."""
    from dfrec.data.synth.config import WIDE_APPEARANCE

    return {"swap": {"appearance": dict(WIDE_APPEARANCE)}, "blend": {"appearance": dict(WIDE_APPEARANCE)}}


def heldout_sets(cache: str | os.PathLike, n: int = 48, seed: int = 0, split: str = "val",
                 names: tuple[str, ...] | list[str] = tuple(SETS), exclude: set[str] | None = None) -> dict[str, Any]:
    """The fixed sets from the faces of ``split`` in a landmark cache or pack: ``n`` swaps and
    GAN-like swaps, ``n // 2`` blends, self-swaps and reals (at least 8 each). ``names``: which
    sets (of :data:`SETS` and :data:`EXTRA_SETS`); a set's samples do not depend on the others.

    ``exclude``: people no sample may show. None = on the test split, the people
    ``dfrec evaluate --limit 100 --seed 0`` reports on (:func:`dfrec.data.people.reported_people`),
    so a model chosen on these sets is still measured on unseen people there; elsewhere nobody."""
    from dfrec.data.datasets import SyntheticForgeries, lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.data.people import reported_people, tally
    from dfrec.data.synth import SynthConfig

    known = {**SETS, **EXTRA_SETS}
    unknown = [x for x in names if x not in known]
    if unknown:
        raise ValueError(f"unknown held-out sets {unknown}; known: {sorted(known)}")
    everyone = open_faces(cache)
    if exclude is None:
        exclude = reported_people(tally(everyone.identities)) if "test" in split.split(",") else set()
    faces = lfw_faces(everyone, split)
    if exclude:
        faces = faces.select_identities(set(faces.identities) - set(exclude))
    if len(set(faces.identities)) < 2:
        raise ValueError(f"{cache}: fewer than two {split} people left for the held-out sets")
    sets = {}
    for name in names:
        kinds = known[name]
        synth = {"kinds": kinds, **(wide_synth() if name == "gan_swap" else {})}
        length = n if name in ("swap", "gan_swap") else max(8, n // 2)
        sets[name] = SyntheticForgeries(faces, SynthConfig.from_dict(synth), seed=seed + 101, length=length, augment=False)
    return sets


class HeldOutEvaluator:
    """``evaluator(model) -> {set: {metric: value}}`` on :func:`heldout_sets`; the references'
    FID features are computed once and reused for every model."""

    def __init__(self, sets: dict[str, Any], device: str | torch.device = "cpu", fid: bool = True,
                 batch: int = 16, identity_weights: str | None = None, degraded: bool = False) -> None:
        from dfrec.losses.total import DFRECLoss, LossConfig
        from dfrec.train.validation import identity_metric

        self.sets, self.batch, self.degraded = sets, batch, degraded
        self.device = torch.device(device)
        self.ident = identity_metric(self.device, identity_weights)
        self.loss = DFRECLoss(LossConfig(lambda_id=0, lambda_perc=0, lambda_attr=0, lambda_patch=1.0, lambda_cls=0.5))
        self.fid_ex = None
        self.ref: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if fid:
            from dfrec.metrics.fid import FIDFeatureExtractor

            self.fid_ex = FIDFeatureExtractor().to(self.device).eval()
            with torch.no_grad():
                for name in ("swap", "gan_swap"):
                    if name in sets:
                        true, forg = [], []
                        for b in self._loader(name):
                            true.append(self.fid_ex(b["target"].to(self.device)).cpu())
                            forg.append(self.fid_ex(b["forgery"].to(self.device)).cpu())
                        self.ref[name] = (torch.cat(true), torch.cat(forg))

    def _loader(self, name: str):
        from dfrec.train.setup import data_loader

        return data_loader(self.sets[name], batch_size=self.batch, shuffle=False, num_workers=0)

    def __call__(self, model: torch.nn.Module) -> dict[str, dict[str, float]]:
        return self.score(model)[0]

    @torch.no_grad()
    def score(self, model: torch.nn.Module) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, torch.Tensor]]]:
        """``(metrics, per_sample)``: the means per set and metric, and per set and metric the (N,)
        float64 per-sample scores in the sets' fixed order (NaN where undefined), so that two models
        can be compared sample by sample (:func:`dfrec.metrics.paired_difference`);
        ``accuracy_degraded`` (with ``degraded``, on models with a ``score``) is each sample's
        fraction of its degraded versions called right (:func:`degraded_accuracy`)."""
        from dfrec.metrics.fid import fid_from_features
        from dfrec.train.validation import validate

        model = model.to(self.device).eval()
        score = self.degraded and hasattr(model, "score")
        res, samples = {}, {}
        for name in self.sets:
            per: dict[str, list[torch.Tensor]] = {}
            rec: list[torch.Tensor] = []  # FID features of the recovered targets, from the same pass
            degraded: list[torch.Tensor] = []  # the score's accuracy on the same batches, degraded

            def collect(b: dict[str, Any], out: dict[str, torch.Tensor]) -> None:
                if name in self.ref:
                    rec.append(self.fid_ex(out["target"]).cpu())
                if score and "is_fake" in b:
                    degraded.append(degraded_accuracy(model, b["forgery"], b["is_fake"], seed=len(degraded)))

            metrics, _ = validate(model, self.loss, self._loader(name), self.device, contextlib.nullcontext, self.ident, 0,
                                  per_sample=per, on_outputs=collect)
            samples[name] = {k: torch.cat(v) for k, v in per.items()}
            if degraded:
                samples[name]["accuracy_degraded"] = torch.cat(degraded)
                metrics["accuracy_degraded"] = float(samples[name]["accuracy_degraded"].mean())
            if name in self.ref:
                true_f, forg_f = self.ref[name]
                metrics["fid_target"] = float(fid_from_features(torch.cat(rec), true_f))
                metrics["fid_target_none"] = float(fid_from_features(forg_f, true_f))
            res[name] = {k: float(v) for k, v in metrics.items()}
        return res, samples
