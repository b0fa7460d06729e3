"""Equal-compute comparison of training recipes (prints a Markdown table; writes JSON).

Each recipe trains the same model (`small` preset, 224 px, batch 8, LFW train identities,
the same seed and data stream) for the same budget of **CPU seconds of this process**
(``time.process_time``: data synthesis, model, losses and optimiser, all threads), so
recipes that spend less compute per step get more steps — what the recipe issue asks. The
CPU clock rather than the wall clock keeps the comparison fair on a shared machine.
Every recipe then runs on the same held-out evaluation sets (LFW validation identities,
never trained on): plain landmark swaps, "GAN-like" swaps (the target's low frequencies
kept under the source's detail, resolution/blur/noise/colour mismatches: a proxy for real
GAN swaps, which no recipe trains on exclusively), Face X-ray blends, and real faces.

    python benchmarks/recipe_compare.py --cache .cache/lfw_index --budget 900 \
        --recipes old,compose,refine,map_masking,separation,cheap_losses,appearance,combined \
        --out runs/recipe_compare

``--init bundled`` (default) starts every recipe from the bundled model's weights (new
modules fresh), as the next GPU run will; ``--init scratch`` from random weights.
A recipe whose result JSON exists in ``--out`` is not rerun (``--force`` reruns).

``--steps N`` instead trains every recipe for N steps (the same images): equal compute in
FLOPs where the recipes cost the same per image (``benchmarks/train_step_flops.py``: old
33.75, fast 33.09 GFLOP per training image). The CPU-seconds budget turned out to depend on
the machine's other load even with idle OpenMP threads asleep, so the documented table uses
``--steps``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Idle OpenMP threads sleep instead of spinning: spinning is billed as CPU time, and how much
# of it there is depends on what else the machine runs, which would tilt the budget.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: Each recipe = overrides of the base config (model overrides, loss, synth), applied in order.
RECIPES: dict[str, dict[str, Any]] = {
    "old": {},
    # 1. composite output + a supervised ISM map (what makes the composite meaningful)
    "compose": {"model": {"compose": True}, "loss": {"lambda_map": 1.0}},
    # 3. no patch grid: refinement convolutions + L1 on the composed image
    "refine": {"model": {"refine_depth": 5}, "loss": {"lambda_pix": 1.0}},
    # 2. masking by the map itself (its border as the top-up), consistent in training and inference
    "map_masking": {"model": {"masking": "map"}},
    # 6. identity separation
    "separation": {"loss": {"lambda_sep": 1.0}},
    # 4. cheaper losses: the perceptual network at 112 px
    "cheap_losses": {"loss": {"perceptual_size": 112}},
    # 7. generality: the wide appearance range of the pasted face
    "appearance": {"synth": "wide"},
    "combined": {
        "model": {"compose": True, "refine_depth": 5, "masking": "map"},
        "loss": {"lambda_map": 1.0, "lambda_pix": 1.0, "lambda_sep": 1.0, "perceptual_size": 112},
        "synth": "wide",
    },
    # the combination with the composite's map binarised at 0.5 (an unsure map repaints nothing)
    # and the squared-difference loss on neighbour differences (patch steps)
    # the fixed deblocking filter alone (models/tirm.deblock, 8 px)
    "deblock": {"model": {"deblock": 8}},
    # the combination with the deblocking filter: the fast recipe
    "combined_deblock": {
        "model": {"compose": True, "refine_depth": 5, "masking": "map", "deblock": 8},
        "loss": {"lambda_map": 1.0, "lambda_pix": 1.0, "lambda_sep": 1.0, "perceptual_size": 112},
        "synth": "wide",
    },
    "combined_grad": {
        "model": {"compose": True, "compose_threshold": 0.5, "refine_depth": 5, "masking": "map"},
        "loss": {"lambda_map": 1.0, "lambda_pix": 1.0, "lambda_grad": 20.0, "lambda_sep": 1.0, "perceptual_size": 112},
        "synth": "wide",
    },
}


def base_config(cache: str, out: Path, budget_s: float | None, seed: int, batch: int, init: str,
                steps: int | None = None) -> dict:
    """The shared starting point: the bundled model's recipe at CPU scale."""
    init_from = str(ROOT / "src" / "dfrec" / "weights" / "default") if init == "bundled" else None
    return {
        "model": {"preset": "small", "overrides": {}, "init_from": init_from, "init_strict": False},
        "data": {"dataset": "lfw", "cache": cache, "train_split": "train", "val_split": "val", "batch_size": batch,
                 "workers": 0, "samples_per_epoch": 100000, "val_samples": 0,
                 "synth": {"kinds": {"swap": 0.6, "blend": 0.1, "self": 0.1, "real": 0.2}}},
        "loss": {"lambda_id": 2.0, "lambda_perc": 0.5, "lambda_attr": 0.5, "lambda_patch": 2.0, "lambda_cls": 0.5},
        "optim": {"lr": 3e-4, "weight_decay": 1e-5, "warmup_steps": 10, "schedule": "cosine", "min_lr_ratio": 0.05},
        "train": {"steps": steps or 1_000_000, "max_minutes": None if steps else budget_s / 60.0, "seed": seed,
                  "precision": "fp32",
                  "grad_clip": 1.0, "ema": {"enabled": False}, "checkpoint_every": 1_000_000,
                  "keep_last": 1, "val_every": 1_000_000, "log_every": 10, "val_images": 0},
        "output": {"dir": str(out)},
    }


def recipe_config(name: str, base: dict) -> dict:
    import copy

    cfg = copy.deepcopy(base)
    r = RECIPES[name]
    cfg["model"]["overrides"].update(r.get("model", {}))
    cfg["loss"].update(r.get("loss", {}))
    if r.get("synth") == "wide":
        from dfrec.train.heldout import wide_synth

        cfg["data"]["synth"].update(wide_synth())
    return cfg


def train_recipe(cfg_dict: dict, log_every_s: float = 60.0) -> dict:
    """Train under a CPU-seconds budget (``train.max_minutes`` measured on ``time.process_time``)."""
    from dfrec.train.config import Config, from_dict
    from dfrec.train.loop import Trainer

    class CPUBudgetTrainer(Trainer):
        def fit(self):  # the clock starts with the training, not at its first reading
            self._cpu0 = time.process_time()
            return super().fit()

        def _elapsed(self) -> float:  # the budget counts this process's CPU time, all threads
            cpu0 = getattr(self, "_cpu0", None)  # None while the trainer is still being set up
            return self.train_seconds + (time.process_time() - cpu0 if cpu0 is not None else 0.0)

    cfg = from_dict(Config, cfg_dict)
    trainer = CPUBudgetTrainer(cfg, device="cpu", progress=False, command="benchmarks/recipe_compare.py")
    t0 = time.perf_counter()
    summary = trainer.fit()
    summary["wall_s"] = time.perf_counter() - t0
    summary["images"] = summary["step"] * cfg.data.batch_size
    return summary


def row(name: str, r: dict) -> dict[str, Any]:
    e = r["eval"]
    s, g, b, rl = e["swap"], e["gan_swap"], e["blend"], e["real"]
    return {
        "recipe": name, "steps": r["train"]["step"], "images": r["train"]["images"],
        "cpu_min": r["train"]["train_minutes"],
        "swap_IDSim_T": s.get("idsim_target"), "swap_verif_T": s.get("verif_target"),
        "swap_None": s.get("idsim_target_none"),
        "gan_IDSim_T": g.get("idsim_target"), "gan_None": g.get("idsim_target_none"),
        "blend_IDSim_T": b.get("idsim_target"), "blend_None": b.get("idsim_target_none"),
        "swap_IDSim_S": s.get("idsim_source"), "real_IDSim": rl.get("idsim_target"),
        "block_T": s.get("blockiness_target"), "IoU_swap": s.get("map_iou"), "IoU_blend": b.get("map_iou"),
        "fp_real": rl.get("map_fp_real"), "acc": (s.get("accuracy", math.nan) + rl.get("accuracy", math.nan)) / 2,
        "FID_T": s.get("fid_target"), "FID_None": s.get("fid_target_none"),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}")
        return str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "lfw_index"), help="LFW landmark cache or pack")
    ap.add_argument("--budget", type=float, default=720.0, help="CPU seconds of training per recipe (default 720)")
    ap.add_argument("--steps", type=int, default=None, help="train each recipe N steps instead of a CPU budget")
    ap.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, from: {', '.join(RECIPES)}")
    ap.add_argument("--init", choices=("bundled", "scratch"), default="bundled")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eval-samples", type=int, default=48, help="swaps per evaluation set (blends/reals: half)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fid", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "runs" / "recipe_compare"))
    ap.add_argument("--force", action="store_true", help="rerun recipes whose result exists")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = [n.strip() for n in a.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; known: {', '.join(RECIPES)}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import shutil

    from dfrec.io import write_text_atomic
    from dfrec.models import DFREC
    from dfrec.train.heldout import HeldOutEvaluator, heldout_sets

    sets = heldout_sets(a.cache, a.eval_samples, a.seed)
    evaluator = None
    results = {}
    if a.init == "bundled":  # the starting point of every recipe: the slope is measured from it
        start = out / "start.json"
        if not start.exists() or a.force:
            evaluator = HeldOutEvaluator(sets, fid=not a.no_fid)
            ev = evaluator(DFREC.from_pretrained(ROOT / "src" / "dfrec" / "weights" / "default"))
            write_text_atomic(start, json.dumps({"train": {"step": 0, "images": 0, "train_minutes": 0.0}, "eval": ev}))
        results["start"] = json.loads(start.read_text())
    for name in names:
        res_file = out / f"{name}.json"
        if res_file.exists() and not a.force:
            results[name] = json.loads(res_file.read_text())
            print(f"{name}: cached", file=sys.stderr)
            continue
        run_dir = out / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = recipe_config(name, base_config(a.cache, run_dir, a.budget, a.seed, a.batch, a.init, a.steps))
        print(f"{name}: training for " + (f"{a.steps} steps" if a.steps else f"{a.budget:.0f} CPU s"), file=sys.stderr)
        summary = train_recipe(cfg)
        model = DFREC.from_pretrained(run_dir / "model").eval()
        t0 = time.perf_counter()
        evaluator = evaluator or HeldOutEvaluator(sets, fid=not a.no_fid)
        ev = evaluator(model)
        results[name] = {"recipe": RECIPES[name], "config": cfg, "train": summary, "eval": ev,
                         "eval_s": time.perf_counter() - t0, "init": a.init,
                         "budget_cpu_s": None if a.steps else a.budget, "steps": a.steps}
        write_text_atomic(res_file, json.dumps(results[name], indent=1, default=str))
        print(markdown([row(name, results[name])]), file=sys.stderr)
    rows = [row(n, results[n]) for n in (["start"] if "start" in results else []) + names]
    table = markdown(rows)
    print(table)
    write_text_atomic(out / "table.md", table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
