"""The held-out-set options and evaluator shared by the benchmarks that score one saved model on
the gate's forgeries (``compose_dilate.py``, ``sirm_dilate.py``, ``inference_variants.py``):
the same samples as ``scripts/model_gate.py`` (:func:`dfrec.train.heldout.heldout_sets`)."""

from __future__ import annotations

import argparse


def add_heldout_args(ap: argparse.ArgumentParser, n: int = 48, sets: str = "swap,gan_swap,blend") -> None:
    """``--sets``, ``--cache``, ``--n``, ``--split`` and ``--threads`` with these defaults."""
    ap.add_argument("--sets", default=sets, help=f"held-out sets to score (default {sets})")
    ap.add_argument("--cache", default=".cache/lfw_index", help="landmark cache or pack with the LFW faces")
    ap.add_argument("--n", type=int, default=n, help=f"swaps per set (blends and reals: half; default {n})")
    ap.add_argument("--split", default="val", choices=("val", "test"),
                    help="identities (test: those `dfrec evaluate --limit 100` does not report on)")
    ap.add_argument("--threads", type=int, default=2)


def heldout_evaluator(a: argparse.Namespace):
    """A CPU :class:`dfrec.train.heldout.HeldOutEvaluator` (no FID) on ``a.sets`` of the held-out
    sets that ``a`` (from :func:`add_heldout_args`) names; sets torch's thread count."""
    import torch

    from dfrec.train.heldout import HeldOutEvaluator, heldout_sets

    torch.set_num_threads(a.threads)
    names = [s for s in a.sets.split(",") if s]
    sets = heldout_sets(a.cache, a.n, split=a.split, names=names)
    return HeldOutEvaluator(sets, device="cpu", fid=False)
