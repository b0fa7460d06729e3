"""Where a training step's compute goes, in FLOPs: per part of the step, old recipe vs the fast one.

Counts (``torch.utils.flop_counter``, convolution backward corrected, see ``_flops.py``)
one forward + backward of the model and every loss network on a batch of random crops,
attributed to the module that ran them, per image. FLOPs do not depend on the machine, so
this is the breakdown a CPU can give when no GPU is at hand (docs/training.md); wall-clock
shares on a GPU are measured by ``train_step_breakdown.py``.

    python benchmarks/train_step_flops.py [--batch 2]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from _flops import flop_counter  # noqa: E402  (benchmarks/_flops.py)

#: (name, model overrides, loss options): the paper's recipe as the bundled model was trained, and the fast one.
RECIPES = (
    ("old (paper objective)", {}, {}),
    ("fast recipe", {"compose": True, "refine_depth": 5, "masking": "map"},
     {"lambda_map": 1.0, "lambda_pix": 1.0, "lambda_sep": 1.0, "perceptual_size": 112}),
)
#: Loss networks (module attribute of DFRECLoss, weight).
NETWORKS = (("identity", "lambda_id"), ("perceptual", "lambda_perc"), ("attribute", "lambda_attr"))


def step_gflop(model_overrides: dict, loss_options: dict, batch: int) -> float:
    """GFLOP per image of one forward + backward of the model and the loss."""
    from dfrec.losses.total import DFRECLoss, LossConfig
    from dfrec.models import create_model

    torch.manual_seed(0)
    model = create_model("small", pretrained_init=False, **model_overrides).train()
    loss = DFRECLoss(LossConfig(**loss_options))
    n = batch
    b = {"forgery": torch.rand(n, 3, 224, 224), "source": torch.rand(n, 3, 224, 224), "target": torch.rand(n, 3, 224, 224),
         "mask": (torch.rand(n, 1, 224, 224) > 0.5).float(), "is_fake": torch.ones(n),
         "source_id": [f"s{i}" for i in range(n)], "target_id": [f"t{i}" for i in range(n)]}
    counter = flop_counter()
    with counter:
        loss(model(b["forgery"]), b)[0].backward()
    return counter.get_total_flops() / n / 1e9


def network_gflop(loss_options: dict, name: str, batch: int) -> float:
    """GFLOP per image of one loss network as the step uses it: its forward on the recovered
    and true faces and its backward into the recovered ones."""
    from dfrec.losses.total import DFRECLoss, LossConfig

    loss = DFRECLoss(LossConfig(**loss_options))
    net = getattr(loss, name)
    n = batch
    rec = torch.rand(2 * n, 3, 224, 224, requires_grad=True)  # recovered source and target
    true = torch.rand(2 * n, 3, 224, 224)
    counter = flop_counter()
    with counter:
        if name == "perceptual":
            d = net(rec, true, size=loss.config.perceptual_size)
        elif name == "attribute":  # the target only
            d = net(rec[n:], true[n:])
        else:
            d = net(rec, true)
        d.backward()
    return counter.get_total_flops() / n / 1e9


def breakdown(model_overrides: dict, loss_options: dict, batch: int) -> dict[str, float]:
    """The whole step; each loss network alone; the model (with the network-free terms) = the rest."""
    out = {"total": step_gflop(model_overrides, loss_options, batch)}
    for name, _ in NETWORKS:
        out[name] = network_gflop(loss_options, name, batch)
    out["model"] = out["total"] - sum(out[name] for name, _ in NETWORKS)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args(argv)
    rows = [(name, breakdown(m, lo, a.batch)) for name, m, lo in RECIPES]
    cols = ["model"] + [n for n, _ in NETWORKS] + ["total"]
    print("GFLOP per image of one training step (forward + backward), `small` preset, 224 px;")
    print("each loss network: its forward on the recovered and true faces and its backward into the recovered")
    print("ones; model: the rest (DFREC forward + backward, network-free terms, AdamW not counted)")
    print("| recipe | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, r in rows:
        print(f"| {name} | " + " | ".join(f"{r[c]:.2f} ({100 * r[c] / r['total']:.0f} %)" if c != "total" else f"{r[c]:.2f}"
                                          for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
