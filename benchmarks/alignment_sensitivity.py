"""What an alignment error costs the recovered faces: held-out scores with the crop shifted.

    python benchmarks/alignment_sensitivity.py [--checkpoint DIR] [--shifts 2,4,8] [--n 96] [--json]

A face found and aligned in another photo (another detector, a video frame, a re-encoded copy)
sits a few pixels off the template the model was trained on. This scores a saved model folder
(default: the bundled model) on the gate's held-out swaps (:func:`dfrec.train.heldout.heldout_sets`) with every
input moved ``d`` px down and right, and ``d`` px up (edges repeated), the recovered faces
moved back before they meet the true faces, and prints per shift the target and source IDSim,
the verification rate, and their paired differences to the unshifted crop (the same forgeries:
mean ± standard error, z). docs/training.md ("Alignment errors") quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _heldout import add_heldout_args, heldout_evaluator  # noqa: E402  (benchmarks/_heldout.py)

#: the per-sample scores compared with the unshifted crop
PAIRED = ("idsim_target", "idsim_source", "verif_target")


def shifted(model, dy: int, dx: int):
    """``model`` seen through a crop moved ``dy`` px down and ``dx`` px right: the input is
    moved, the recovered faces and the map are moved back (float tensors ``(N, C, S, S)``)."""
    import torch

    from dfrec.evaluation.paper_tables import translate_crops

    def move(t: torch.Tensor, y: int, x: int) -> torch.Tensor:
        return translate_crops(t.cpu(), y, x).to(t.device)

    class Shifted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x, *args, **kwargs):
            out = self.inner(move(x, dy, dx), *args, **kwargs)
            for key in ("target", "target_raw", "source", "mask"):
                if key in out:
                    out[key] = move(out[key], -dy, -dx)
            return out

        def __getattr__(self, name):  # patchify, config, ... of the model inside
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.inner, name)

    return Shifted()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--shifts", default="2,4,8", help="px, comma-separated")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_heldout_args(ap, n=96, sets="swap")
    a = ap.parse_args(argv)

    from dfrec.metrics import paired_difference
    from dfrec.models import DFREC
    from dfrec.recover import DEFAULT_CHECKPOINT

    ev = heldout_evaluator(a)
    model = DFREC.from_pretrained(a.checkpoint or DEFAULT_CHECKPOINT).eval()
    base, base_samples = ev.score(model)
    rows = []
    for name, r in base.items():
        rows.append({"set": name, "shift": "none", **{k: r[k] for k in PAIRED}})
    for d in (int(v) for v in a.shifts.split(",")):
        for label, dy, dx in ((f"{d} px down+right", d, d), (f"{d} px up", -d, 0)):
            res, samples = ev.score(shifted(model, dy, dx))
            for name, r in res.items():
                row = {"set": name, "shift": label, **{k: r[k] for k in PAIRED}}
                for k in PAIRED:
                    p = paired_difference(base_samples[name][k], samples[name][k])
                    row[f"{k}_diff"], row[f"{k}_z"] = float(p["mean"]), float(p["z"])
                rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; {a.split} identities, n = {a.n}")
    print("| set | shift | target IDSim | paired | verif | source IDSim | paired |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        dt = f"{r['idsim_target_diff']:+.3f} (z {r['idsim_target_z']:+.1f})" if "idsim_target_diff" in r else "–"
        ds = f"{r['idsim_source_diff']:+.3f} (z {r['idsim_source_z']:+.1f})" if "idsim_source_diff" in r else "–"
        print(f"| {r['set']} | {r['shift']} | {r['idsim_target']:.3f} | {dt} | {r['verif_target']:.2f} "
              f"| {r['idsim_source']:.3f} | {ds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
