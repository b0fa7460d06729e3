"""Paired comparison of two models scored on the same samples.

When two models recover the same forgeries, most of the spread of a per-sample score (how hard
each forgery is) is shared, so the per-sample differences tell a small change from noise far
sooner than the two means do. ``paired_difference(old, new)`` gives the mean difference
``new - old``, its standard error and ``z = mean / se``; \\|z\\| < 2 reads as "not
distinguishable from noise at this n".
"""

from __future__ import annotations

import math

import torch


def paired_difference(old: torch.Tensor, new: torch.Tensor) -> dict[str, float]:
    """Paired statistics of ``new - old``.

    Args:
        old, new: (N,) per-sample scores of two models on the same N samples, in the same order;
            NaN marks a sample where a score is not defined (it is dropped from both).

    Returns:
        ``{"mean", "se", "z", "n", "higher", "lower"}``: mean difference, its standard error
        (sample standard deviation / sqrt(n); NaN when n < 2), ``mean / se`` (±inf when every
        difference is the same nonzero value, 0 when all are 0), the number of samples used, and
        the fraction of them where ``new`` is above / below ``old`` (whether that is better
        depends on the metric: lower is better for a separation score).
    """
    old = torch.as_tensor(old, dtype=torch.float64).reshape(-1)
    new = torch.as_tensor(new, dtype=torch.float64).reshape(-1)
    if old.shape != new.shape:
        raise ValueError(f"paired scores need the same samples: got {old.numel()} and {new.numel()}")
    d = (new - old)[~(torch.isnan(old) | torch.isnan(new))]
    n = d.numel()
    if n == 0:
        return {"mean": math.nan, "se": math.nan, "z": math.nan, "n": 0, "higher": math.nan, "lower": math.nan}
    mean = float(d.mean())
    if n < 2:
        se = z = math.nan
    else:
        se = float(d.std(unbiased=True) / math.sqrt(n))
        z = mean / se if se > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return {"mean": mean, "se": se, "z": z, "n": n,
            "higher": float((d > 0).double().mean()), "lower": float((d < 0).double().mean())}
