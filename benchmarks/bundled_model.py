"""What the bundled model's own files say about it: size, training run and held-out validation.

Reads ``src/dfrec/weights/default`` (or ``--checkpoint DIR``): parameter count, file sizes,
and from ``config.json``'s metadata the steps, batch, forgeries seen, first/last training
loss and the validation rows (IDSim and PSNR of recovered vs true source and target, and
of the forgery itself vs the true target). Nothing is recomputed: these are the numbers the
training run recorded; the README's bundled-model paragraph quotes them.

Usage: ``python benchmarks/bundled_model.py [--checkpoint DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "src" / "dfrec" / "weights" / "default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    doc = json.loads((args.checkpoint / "config.json").read_text())
    meta = doc.get("metadata", {})
    from dfrec.report.provenance import training_summary

    summary = training_summary(args.checkpoint)  # the history as reports show it, with its totals
    history = summary.get("history", [])
    files = sorted(args.checkpoint.glob("*.safetensors"))
    val = meta.get("validation", [])
    val = val if isinstance(val, list) else [val]
    train = meta.get("train", {})
    data = meta.get("data", {})
    out = {
        "preset": doc.get("preset"), "num_parameters": doc.get("num_parameters"),
        "weights_files": len(files), "weights_mb": sum(f.stat().st_size for f in files) / 1e6,
        "weights": meta.get("weights"), "step": meta.get("checkpoint_step", meta.get("step")),
        "batch_size": data.get("batch_size"), "images_seen": meta.get("images_seen"),
        "max_minutes": train.get("max_minutes"), "train_loss_first_last": meta.get("train_loss_first_last"),
        "status": meta.get("status"), "command": meta.get("training_command", meta.get("command")),
        "validation": [{k.removeprefix("val/"): v for k, v in row.items()} for row in val],
        "history": history,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"preset {out['preset']}: {out['num_parameters'] / 1e6:.2f} M parameters, {out['weights_files']} safetensors "
          f"files, {out['weights_mb']:.1f} MB, {out['weights']} weights")
    print(f"training: {out['step']:,} steps x batch {out['batch_size']} = {out['images_seen']:,} forgeries; "
          f"time budget {out['max_minutes']} min; loss {out['train_loss_first_last'][0]:.2f} -> "
          f"{out['train_loss_first_last'][1]:.2f}")
    print(f"command: {out['command']}")
    print("| step | source IDSim | target IDSim | target IDSim of the forgery itself | the same, two-person forgeries "
          "only | PSNR source / target | samples |")
    print("|---|---|---|---|---|---|---|")
    for r in out["validation"]:
        if "idsim_target" in r:
            note = f" ({r['note']})" if r.get("note") else ""
            two = (f"{r['idsim_target_two_people']:.3f} vs {r['idsim_target_none_two_people']:.3f}"
                   if "idsim_target_two_people" in r else "–")
            print(f"| {r['step']}{note} | {r['idsim_source']:.3f} | {r['idsim_target']:.3f} | {r['idsim_target_none']:.3f} | "
                  f"{two} | {r['psnr_source']:.1f} / {r['psnr_target']:.1f} dB | {int(r.get('samples', 0))} |")
    if history:
        def num(v, fmt):
            return format(v, fmt) if isinstance(v, (int, float)) else "–"

        print("\ntraining history (cumulative, config.json metadata.history):")
        print("| date | device | minutes | forgeries | steps | run |")
        print("|---|---|---|---|---|---|")
        for h in history:
            print(f"| {h.get('date', '–')} | {h.get('device', '–')} | {num(h.get('minutes'), '.1f')} | "
                  f"{num(h.get('images'), ',')} | {num(h.get('steps'), ',')} | {h.get('run', '')} |")
        print(f"in all: {summary['images_total']:,} forgeries, {summary['minutes_total']:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
