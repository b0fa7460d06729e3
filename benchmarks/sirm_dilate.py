"""Source recovery under a tight map: held-out source IDSim per ``sirm_dilate`` and SIRM weights.

    python benchmarks/sirm_dilate.py MODEL [--sirm-from OTHER_MODEL] [--dilations 0,8,16,32] [--n 48]

Scores MODEL (a saved model folder) on the held-out swaps of :func:`dfrec.train.heldout.heldout_sets`
(LFW validation identities, the gate's samples) with the SIRM's input dilated by each number of
px, with its own SIRM and, with ``--sirm-from``, with the ``sirm.*`` tensors of another model
(same preset). Prints source and target IDSim per row. docs/training.md ("History of the
bundled model") quotes it for CPU run 2's step-400 export with the 2026-11 model's SIRM.
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
    ap.add_argument("--sirm-from", default=None, help="model folder whose SIRM weights are also tried")
    ap.add_argument("--dilations", default="0,8,16,32")
    add_heldout_args(ap, n=48, sets="swap")
    a = ap.parse_args(argv)

    from dfrec.models import DFREC

    ev = heldout_evaluator(a)
    sirms = {"own": {}}
    if a.sirm_from:
        other = DFREC.from_pretrained(a.sirm_from).state_dict()
        sirms[a.sirm_from] = {k: v for k, v in other.items() if k.startswith("sirm.")}
    print("| SIRM weights | sirm_dilate px | source IDSim | target IDSim |")
    print("|---|---|---|---|")
    for name, sirm in sirms.items():
        for d in (int(v) for v in a.dilations.split(",")):
            model = DFREC.from_pretrained(a.model, overrides={"sirm_dilate": d})
            model.load_state_dict({**model.state_dict(), **sirm})
            r = ev(model)["swap"]
            print(f"| {name} | {d} | {r['idsim_source']:.3f} | {r['idsim_target']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
