"""Identity similarity between faces with dfrec's identity network (dlib's ResNet port).

Substitution (stated in every table): the paper measures IDSim with FaceNet/ArcFace
embeddings, whose weights are not available offline; dfrec uses the 128-d dlib face
recognition ResNet (:class:`dfrec.faces.identity.IdentityEncoder`) on aligned 224 crops.
Reported per pair:

* ``idsim`` — :func:`dfrec.faces.identity.idsim`: cosine after subtracting the mean LFW
  embedding (spreads dlib's crowded raw cosines: same person ~0.75, different ~0.0);
* ``cosine`` — raw cosine of the embeddings (dlib: same ~0.95, different ~0.8);
* ``l2`` and ``verified`` — dlib's own rule, L2 distance < 0.6 means the same person.
"""

from __future__ import annotations

import torch

from dfrec.evaluation.metrics._validate import check_images


def identity_scores(emb_a: torch.Tensor, emb_b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pair scores of embeddings ``(N, 128)`` -> dict of ``(N,)``: idsim, cosine, l2, verified."""
    from dfrec.faces.identity import cosine, idsim, is_same_person, l2_distance

    if emb_a.shape != emb_b.shape or emb_a.ndim != 2:
        raise ValueError(f"embeddings must both be (N, D), got {tuple(emb_a.shape)} and {tuple(emb_b.shape)}")
    d = l2_distance(emb_a, emb_b)
    return {
        "idsim": idsim(emb_a, emb_b).float(),
        "cosine": cosine(emb_a, emb_b).float(),
        "l2": d.float(),
        "verified": is_same_person(d).float(),
    }


class IDSim:
    """Identity similarity of aligned crops.

    ``IDSim(device)(x, y)`` with x, y ``(N, 3, 224, 224)`` in [0, 1] returns
    :func:`identity_scores` of their embeddings; :meth:`embed` gives ``(N, 128)``.
    Batches internally (``batch_size``) under ``torch.no_grad``.
    """

    description = "dlib face-recognition ResNet v1 (128-d, PyTorch port) instead of FaceNet/ArcFace"

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 32, encoder=None) -> None:
        from dfrec.faces.identity import IdentityEncoder

        self.device = torch.device(device)
        self.encoder = (encoder or IdentityEncoder()).to(self.device).eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 224, 224)`` in [0, 1] -> ``(N, 128)`` float32 on the CPU."""
        check_images(crops)
        out = [self.encoder.embed(b.to(self.device, torch.float32)).float().cpu()
               for b in crops.split(self.batch_size)]
        return torch.cat(out)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        check_images(x, y)
        return identity_scores(self.embed(x), self.embed(y))
