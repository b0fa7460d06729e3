"""Inference-only ways to use a trained model's TIRM, scored against its plain forward.

    python benchmarks/inference_variants.py MODEL [--variants flip,twopass] [--n 96] [--split val]

Scores MODEL (a saved model folder; weights unchanged) on the gate's held-out sets
(:func:`dfrec.train.heldout.heldout_sets`: swaps, GAN-like swaps, blends, real faces) with:

- ``plain``: the model's forward (what ``dfrec recover`` runs);
- ``flip``: test-time mirroring: the TIRM's output for the crop and for its mirror image (mirrored
  back) averaged, then composited by the map as usual;
- ``twopass``: the recovered target fed through the model again with the first pass's map
  (``map_override``), so the refinement sees the first recovery, not the pasted face, under the
  masked patches;
- ``source_greyNN`` / ``source_forgeryNN``: the recovered source kept inside the map dilated and
  feathered by NN px, mid-grey / the forgery outside it, instead of what the SIRM paints round
  the face (a darker, smeared head).

Prints per set and variant the means and the paired differences against ``plain`` on the same
forgeries (mean, z; :func:`dfrec.metrics.paired_difference`). docs/training.md ("Inference-time
variants") quotes it.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _heldout import add_heldout_args, heldout_evaluator  # noqa: E402  (benchmarks/_heldout.py)

METRICS = (("idsim_target", "target IDSim"), ("verif_target", "verif"), ("idsim_target_source", "target vs true source"),
           ("idsim_source", "source IDSim"), ("verif_source", "source verif"), ("psnr_source", "source PSNR"),
           ("psnr_target", "PSNR dB"), ("ssim_target", "SSIM"), ("blockiness_target", "blockiness"))


def variant_model(model, kind: str):
    """``model`` wrapped to run inference variant ``kind`` (``plain``, ``flip``, ``twopass``,
    ``source_greyNN``, ``source_forgeryNN``); the wrapper returns the model's output dict with
    ``target`` (or, for the ``source_`` variants, ``source``) replaced."""
    import torch

    from dfrec.models.dfrec import dilate_and_feather

    class Variant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.config = model, model.config

        def forward(self, x: torch.Tensor, generator=None) -> dict:
            out = self.model(x, generator=generator)
            if kind == "plain":
                return out
            if kind == "flip":
                if "target_raw" not in out:
                    raise ValueError("the flip variant needs a model with compose: true")
                mirrored = self.model(x.flip(-1), generator=generator)
                raw = (out["target_raw"] + mirrored["target_raw"].flip(-1)) / 2
                return {**out, "target": self.model.composite(raw, out["mask"], x), "target_raw": raw}
            for prefix in ("source_grey", "source_forgery"):
                if kind.startswith(prefix) and kind[len(prefix):].isdigit():
                    w = dilate_and_feather(out["mask"], int(kind[len(prefix):]))
                    fill = torch.full_like(out["source"], 0.5) if prefix == "source_grey" else x
                    return {**out, "source": w * out["source"] + (1 - w) * fill}
            if kind == "twopass":
                again = self.model(out["target"], generator=generator, map_override=out["mask"])
                return {**out, "target": again["target"]}
            raise ValueError(f"unknown variant {kind!r}")

    return Variant()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--variants", default="flip,twopass")
    add_heldout_args(ap, n=96, sets="swap,gan_swap,blend,real")
    a = ap.parse_args(argv)

    from dfrec.metrics import paired_difference
    from dfrec.models import DFREC

    ev = heldout_evaluator(a)
    model = DFREC.from_pretrained(a.model)
    base, base_per = ev.score(variant_model(model, "plain"))
    print(f"model: {a.model}; {a.split} identities, n = {a.n} swaps per set; paired differences against plain")
    print("| set | variant | " + " | ".join(name for _, name in METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for name, r in base.items():
        print(f"| {name} | plain | " + " | ".join(f"{r.get(k, float('nan')):.3f}" for k, _ in METRICS) + " |", flush=True)
    for kind in (v for v in a.variants.split(",") if v and v != "plain"):
        res, per = ev.score(variant_model(model, kind))
        for name, r in res.items():
            cells = []
            for k, _ in METRICS:
                d = paired_difference(base_per[name][k], per[name][k]) if k in per[name] else None
                z = f" ({d['mean']:+.3f}, z {d['z']:+.1f})" if d and d["n"] > 1 else ""
                cells.append(f"{r.get(k, float('nan')):.3f}{z}")
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
