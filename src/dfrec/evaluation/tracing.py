"""Identity tracing: does a recovered face lead back to the right person?

For the test identities a *gallery* is built from other photos of each person (never the
photos used to make the forgeries). Each gallery identity is represented by the mean of
its photos' embeddings (mean-centred with the LFW mean embedding, as
:func:`dfrec.faces.identity.idsim`). A probe (a recovered source or target face, or the
raw forgery) is ranked against every identity by that similarity; top-k accuracy is the
fraction of probes whose true identity is among the k best. The raw forgery is the
reference row: an investigator without dfrec would search with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class Gallery:
    """Identity gallery: ``names`` (P,), ``centroids`` (P, 128) unit vectors (centred space),
    ``counts`` (P,) photos per identity."""

    names: list[str]
    centroids: torch.Tensor
    counts: list[int]

    @classmethod
    def from_embeddings(cls, embeddings: torch.Tensor, identities: list[str]) -> "Gallery":
        """Build from photo embeddings ``(M, 128)`` and their identities (length M)."""
        from dfrec.faces.identity import mean_embedding

        if len(identities) != len(embeddings):
            raise ValueError("one identity per gallery embedding expected")
        if len(embeddings) == 0:
            raise ValueError("empty gallery")
        e = F.normalize(embeddings.float() - mean_embedding(), dim=-1)
        names = sorted(set(identities))
        index = {n: i for i, n in enumerate(names)}
        idx = torch.tensor([index[n] for n in identities])
        sums = torch.zeros(len(names), e.shape[1]).index_add_(0, idx, e)
        counts = torch.bincount(idx, minlength=len(names))
        return cls(names, F.normalize(sums / counts[:, None], dim=-1), counts.tolist())

    def similarities(self, probes: torch.Tensor) -> torch.Tensor:
        """``(N, 128)`` probe embeddings -> ``(N, P)`` similarities to each identity."""
        from dfrec.faces.identity import mean_embedding

        p = F.normalize(probes.float() - mean_embedding(), dim=-1)
        return p @ self.centroids.T

    def ranks(self, probes: torch.Tensor, true_names: list[str]) -> np.ndarray:
        """0-based rank of each probe's true identity ``(N,)`` (-1 if not in the gallery)."""
        sims = self.similarities(probes)
        index = {n: i for i, n in enumerate(self.names)}
        order = sims.argsort(dim=1, descending=True)
        out = np.full(len(true_names), -1, dtype=np.int64)
        for i, name in enumerate(true_names):
            if name in index:
                out[i] = int((order[i] == index[name]).nonzero()[0, 0])
        return out


def topk_accuracy(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Fraction of probes ranked within the top k, for each k (probes absent from the
    gallery, rank -1, count as misses)."""
    r = np.asarray(ranks)
    if r.size == 0:
        return {f"top{k}": float("nan") for k in ks}
    return {f"top{k}": float(((r >= 0) & (r < k)).mean()) for k in ks}
