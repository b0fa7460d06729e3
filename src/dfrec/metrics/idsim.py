"""Identity similarity between faces with dfrec's identity network (dlib's ResNet port).

The one identity scorer of dfrec: training validation, ``dfrec evaluate`` and ``dfrec
recover`` all embed aligned crops with :class:`IDSim` and compare embeddings with
:func:`identity_scores`, under the same names.

Substitution (stated in every table): the paper measures IDSim with FaceNet/ArcFace
embeddings, whose weights are not available offline; dfrec uses the 128-d dlib face
recognition ResNet (:class:`dfrec.faces.identity.IdentityEncoder`) on aligned 224 crops.
Reported per pair (:data:`SCORES`):

* ``idsim`` — :func:`dfrec.faces.identity.idsim`: cosine after subtracting the mean LFW
  embedding (spreads dlib's crowded raw cosines: same person ~0.71, 0.709 on LFW's pairs; different ~0.0);
* ``cos`` — raw cosine of the embeddings (dlib: same ~0.95, different ~0.8);
* ``l2`` and ``verif`` — dlib's own rule, L2 distance < 0.6 means the same person
  (``verif`` is 1.0 for a verified pair, else 0.0).

Identity separation (:func:`separation_scores`, :data:`SEPARATION`): does a recovered target
still carry the source's identity, or a recovered source the target's? Defined for forgeries of
two different people.
"""

from __future__ import annotations

import os

import torch

from dfrec.metrics._validate import check_images

#: Names of the per-pair scores, in the order :func:`identity_scores` returns them.
SCORES = ("idsim", "cos", "l2", "verif")

#: Names of the separation scores, in the order :func:`separation_scores` returns them.
SEPARATION = ("target_source", "source_target", "pair", "pair_true")


def identity_scores(emb_a: torch.Tensor, emb_b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pair scores of embeddings ``(N, 128)`` -> dict of ``(N,)`` float: :data:`SCORES`."""
    from dfrec.faces.identity import cosine, idsim, is_same_person, l2_distance

    if emb_a.shape != emb_b.shape or emb_a.ndim != 2:
        raise ValueError(f"embeddings must both be (N, D), got {tuple(emb_a.shape)} and {tuple(emb_b.shape)}")
    d = l2_distance(emb_a, emb_b)
    return {
        "idsim": idsim(emb_a, emb_b).float(),
        "cos": cosine(emb_a, emb_b).float(),
        "l2": d.float(),
        "verif": is_same_person(d).float(),
    }


def separation_scores(
    e_target: torch.Tensor,
    e_source: torch.Tensor | None,
    e_true_source: torch.Tensor,
    e_true_target: torch.Tensor,
    two_people: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Identity separation per forgery: embeddings ``(N, 128)`` -> dict of ``(N,)`` float.

    * ``target_source`` — IDSim of the recovered target (``e_target``; the forgery's own
      embedding gives the "None" value) with the true source: lower is better;
    * ``source_target`` — IDSim of the recovered source (``e_source``) with the true target:
      lower is better (a source that kept the target's head scores high); left out when
      ``e_source`` is None;
    * ``pair`` — IDSim of the recovered target with the recovered source (``e_source``);
      left out when ``e_source`` is None (a method without a source, or the forgery, whose
      two "recovered" faces are the same image);
    * ``pair_true`` — IDSim of the true target with the true source: what a perfect recovery has.

    ``two_people``: ``(N,)`` bool, the forgeries of two different people; the scores of the
    others (self-swaps, real faces) are NaN. ``None``: every sample counts.
    """
    from dfrec.faces.identity import idsim

    pairs = {"target_source": (e_target, e_true_source), "source_target": (e_source, e_true_target),
             "pair": (e_target, e_source),
             "pair_true": (e_true_target, e_true_source)}
    out: dict[str, torch.Tensor] = {}
    for name, (a, b) in pairs.items():
        if a is None or b is None:
            continue
        if a.shape != b.shape or a.ndim != 2:
            raise ValueError(f"embeddings must both be (N, D), got {tuple(a.shape)} and {tuple(b.shape)}")
        v = idsim(a, b).float()
        if two_people is not None:
            v = torch.where(torch.as_tensor(two_people, dtype=torch.bool, device=v.device).reshape(-1),
                            v, torch.full_like(v, float("nan")))
        out[name] = v
    return out


class IDSim:
    """Identity similarity of aligned crops.

    ``IDSim(device)(x, y)`` with x, y ``(N, 3, S, S)`` in [0, 1] (crops of
    :func:`dfrec.faces.align.align_face` with side ``size`` and ``margin``) returns
    :func:`identity_scores` of their embeddings; :meth:`embed` gives ``(N, 128)``. Works
    under ``torch.no_grad`` in chunks of ``batch_size`` crops (``None``: all at once).
    ``weights``: the dlib ``.dat`` or its ``.safetensors`` export (``None``: the installed
    file); ``encoder``: a ready :class:`~dfrec.faces.identity.IdentityEncoder` instead.
    """

    description = "dlib face-recognition ResNet v1 (128-d, PyTorch port) instead of FaceNet/ArcFace"

    def __init__(self, device: str | torch.device = "cpu", batch_size: int | None = 32, encoder=None,
                 weights: str | os.PathLike | None = None, size: int = 224, margin: float | None = None) -> None:
        from dfrec.faces.dlib_resnet import IdentityNet
        from dfrec.faces.identity import IdentityEncoder

        self.device = torch.device(device)
        if encoder is None:
            encoder = IdentityEncoder(size=size, margin=margin, net=IdentityNet.from_file(weights))
        self.encoder = encoder.to(self.device).eval()
        self.batch_size = batch_size

    @property
    def size(self) -> int:
        """Side of the crops the encoder takes."""
        return self.encoder.size

    @torch.no_grad()
    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` in [0, 1] -> ``(N, 128)`` float32 on the CPU."""
        check_images(crops)
        chunks = crops.split(self.batch_size) if self.batch_size else (crops,)
        return torch.cat([self.encoder.embed(b.to(self.device, torch.float32)).float().cpu() for b in chunks])

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        check_images(x, y)
        return identity_scores(self.embed(x), self.embed(y))
