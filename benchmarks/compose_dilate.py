"""How much of the forgery the TIRM repaints: held-out target IDSim and blockiness per ``compose_dilate``.

    python benchmarks/compose_dilate.py MODEL [--dilations 0,2,4,8] [--n 48]

Scores MODEL (a saved model folder) on the gate's held-out sets (:func:`dfrec.train.heldout.heldout_sets`:
LFW validation identities; swaps, GAN-like swaps, blends) with the composite's weight (the ISM map,
dilated and feathered by ``compose_dilate`` px) set to each value. Everything else, weights included,
stays as saved. Prints target IDSim, verification rate, PSNR and blockiness per set, next to the
forgery itself (None). docs/training.md ("History of the bundled model") quotes it.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _heldout import add_heldout_args, heldout_evaluator  # noqa: E402  (benchmarks/_heldout.py)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--dilations", default="0,2,4,8")
    add_heldout_args(ap, n=48)
    a = ap.parse_args(argv)

    from dfrec.models import DFREC

    ev = heldout_evaluator(a)
    saved = DFREC.from_pretrained(a.model).config.compose_dilate
    print(f"model: {a.model} (saved with compose_dilate {saved})")
    print("| set | compose_dilate px | target IDSim | verif | PSNR dB | blockiness |")
    print("|---|---|---|---|---|---|")
    none: dict[str, dict[str, float]] = {}
    for d in (int(v) for v in a.dilations.split(",")):
        model = DFREC.from_pretrained(a.model, overrides={"compose_dilate": d})
        for name, r in ev(model).items():
            none[name] = r
            print(f"| {name} | {d} | {r['idsim_target']:.3f} | {r['verif_target']:.2f} | {r['psnr_target']:.2f} "
                  f"| {r['blockiness_target']:.3f} |", flush=True)
    for name, r in none.items():
        print(f"| {name} | None (the forgery) | {r['idsim_target_none']:.3f} | {r['verif_target_none']:.2f} | – "
              f"| {r['blockiness_target_none']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
