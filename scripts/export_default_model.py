"""Export a training run's checkpoint as dfrec's bundled default model.

    python scripts/export_default_model.py runs/small_lfw_gpu [--step N] [--ema] [--out src/dfrec/weights/default]

Writes ``config.json`` + safetensors shards (14 MiB, under 15 MB, each) into the package, with the
training command, data split, step count and the run's validation numbers in the metadata,
and absolute paths of this machine made relative. The bundled folder loads with
``DFREC.from_pretrained`` / ``Recoverer.from_pretrained()``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _relative(obj, root: str):
    if isinstance(obj, dict):
        return {k: _relative(v, root) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relative(v, root) for v in obj]
    if isinstance(obj, str):
        obj = obj.replace(root + "/", "")
        return re.sub(r"^.*/site-packages/", "<site-packages>/", obj)
    return obj


def training_history(meta: dict, history_from: Path | None) -> list[dict]:
    """The cumulative training history: the earlier model's runs, then this run's entry."""
    import datetime

    prev: list[dict] = []
    src = history_from or (Path(meta["init_from"]) if meta.get("init_from") else None)
    if src is not None and (src / "config.json").is_file():
        old = json.loads((src / "config.json").read_text()).get("metadata", {})
        prev = list(old.get("history") or [{
            "run": old.get("status") or old.get("bundled_as", "earlier run"), "device": old.get("device", "unknown"),
            "minutes": old.get("train_minutes"), "images": old.get("images_seen"), "steps": old.get("step"),
            "validation": (old.get("validation") or [{}])[-1] if isinstance(old.get("validation"), list) else old.get("validation"),
        }])
    val = meta.get("validation")
    last = val[-1] if isinstance(val, list) and val else val
    entry = {"date": datetime.date.today().isoformat(), "run": meta.get("status"), "device": meta.get("device", "unknown"),
             "minutes": meta.get("train_minutes"), "images": meta.get("images_seen"), "steps": meta.get("checkpoint_step"),
             "init_from": meta.get("init_from"), "validation": last}
    return prev + [entry]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="training run folder (holds checkpoints/ and metrics.jsonl)")
    ap.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest)")
    ap.add_argument("--ema", action="store_true", help="export the EMA weights instead of the raw weights")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "dfrec" / "weights" / "default")
    ap.add_argument("--command", default=None, help="the training command to record")
    ap.add_argument("--status", default=None, help="one line on how far the training went (recorded as is)")
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float16",
                    help="storage precision (default float16: half the size; weights load as float32)")
    ap.add_argument("--history-from", type=Path, default=None,
                    help="model folder whose training history this run continues (default: the run's model.init_from)")
    args = ap.parse_args()

    from dfrec.models import DFREC
    from dfrec.models.checkpoint import load_state_strict
    from dfrec.train.checkpointing import load_ema_weights

    ckpts = sorted((args.run / "checkpoints").glob("step_*"))
    if args.step is not None:
        ckpts = [c for c in ckpts if c.name == f"step_{args.step:08d}"]
    if not ckpts:
        print(f"no checkpoint found in {args.run}/checkpoints", file=sys.stderr)
        return 1
    ckpt = ckpts[-1]
    model = DFREC.from_pretrained(ckpt)
    if args.ema:
        ema = load_ema_weights(ckpt)  # AveragedModel's state: module.* + n_averaged
        ema = {k.removeprefix("module."): v for k, v in ema.items() if k != "n_averaged"}
        load_state_strict(model, ema, source=str(ckpt / "ema.safetensors"))
    meta = json.loads((ckpt / "config.json").read_text()).get("metadata", {})
    step = int(ckpt.name.split("_")[1])
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in rows if any(k.startswith("val") for k in r)]
    train_rows = [r for r in rows if "loss" in r and r.get("step", 0) <= step]
    batch = meta.get("data", {}).get("batch_size")
    meta.update(
        {
            "bundled_as": "dfrec default model",
            "checkpoint_step": step,
            "weights": "ema" if args.ema else "raw (EMA not used: too few steps for its horizon)",
            "images_seen": step * batch if batch else None,
            "training_command": args.command
            or meta.get("command") or f"(not recorded; run folder {args.run})",
            "data_split": "src/dfrec/data/splits/lfw.json (LFW train identities; validation on val identities)",
            "train_loss_first_last": [train_rows[0]["loss"], train_rows[-1]["loss"]] if train_rows else None,
            "validation": [r for r in val if r.get("step", 0) <= step],
            "status": args.status or f"checkpoint at step {step} of run {args.run.name}",
        }
    )
    meta["history"] = training_history(meta, args.history_from)
    meta = _relative(meta, str(ROOT))
    args.out.mkdir(parents=True, exist_ok=True)
    for old in list(args.out.glob("*.safetensors")) + list(args.out.glob("*.json")):
        old.unlink()
    model.save_pretrained(args.out, metadata=meta, shard_size_mb=14.0, dtype=args.dtype)  # 14 MiB < 15 MB
    total = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"exported {ckpt} -> {args.out} ({total:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
