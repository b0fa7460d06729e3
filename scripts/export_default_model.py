"""Export a training run's checkpoint as dfrec's bundled default model.

    python scripts/export_default_model.py runs/small_lfw_gpu [--step N] [--ema] [--out src/dfrec/weights/default]
    python scripts/export_default_model.py runs/X --ema --average 560 590 620 --out runs/candX   # weight average

``--average`` exports the uniform mean of several checkpoints' weights (each the EMA with
``--ema``; checkpoints under ``checkpoints/`` or ``kept/``), a checkpoint average over a longer
horizon than the EMA's. The new files are written to a folder beside the output and moved in
only when complete, so a failed export leaves the old model in place.

Writes ``config.json`` + safetensors shards (14 MiB, under 15 MB, each) into the package, with the
training command, data split, step count and the run's validation numbers in the metadata,
and absolute paths of this machine made relative. The bundled folder loads with
``DFREC.from_pretrained`` / ``Recoverer.from_pretrained()``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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


def training_history(meta: dict, history_from: Path | None, since_step: int | None = None) -> list[dict]:
    """The cumulative training history: the earlier model's runs, then this run's entry.

    ``since_step``: this run resumed the checkpoint at that step from which the earlier model
    was exported, so that model's entry already holds the run's first ``since_step`` steps; the
    new entry counts only the steps, images and minutes after it."""
    from dfrec.models.card import history_entry

    prev: list[dict] = []
    old: dict = {}
    src = history_from or (Path(meta["init_from"]) if meta.get("init_from") else None)
    if src is not None and (src / "config.json").is_file():
        old = json.loads((src / "config.json").read_text()).get("metadata", {})
        prev = list(old.get("history") or [{
            "run": old.get("status") or old.get("bundled_as", "earlier run"), "device": old.get("device", "unknown"),
            "minutes": old.get("train_minutes"), "images": old.get("images_seen"), "steps": old.get("step"),
            "validation": (old.get("validation") or [{}])[-1] if isinstance(old.get("validation"), list) else old.get("validation"),
        }])
    val = meta.get("validation")
    last = (val[-1] if val else None) if isinstance(val, list) else val  # a run without validation: None
    minutes, images, steps = meta.get("train_minutes"), meta.get("images_seen"), meta.get("checkpoint_step")
    if since_step:
        if old.get("checkpoint_step") != since_step or old.get("train_minutes") is None:
            raise ValueError(f"--since-step {since_step}: the earlier model ({src}) was not exported at step "
                             f"{since_step} of this run (its checkpoint_step: {old.get('checkpoint_step')})")
        batch = (meta.get("data") or {}).get("batch_size") or 0
        steps = steps - since_step
        minutes = round(minutes - float(old["train_minutes"]), 3) if minutes is not None else None
        images = steps * batch if batch else None
    entry = history_entry(meta.get("status"), device=meta.get("device", "unknown"), minutes=minutes, images=images,
                          steps=steps, init_from=meta.get("init_from"), validation=last)
    if since_step:
        entry["resumed_at_step"] = since_step
    return prev + [entry]


def checkpoint_weights(ckpt: Path, ema: bool) -> dict:
    """The model's state dict in checkpoint folder ``ckpt``: its raw weights, or its EMA weights."""
    from dfrec.models.checkpoint import read_state_dict
    from dfrec.train.checkpointing import load_ema_weights

    if not ema:
        return read_state_dict(ckpt)
    state = load_ema_weights(ckpt)  # AveragedModel's state: module.* + n_averaged
    return {k.removeprefix("module."): v for k, v in state.items() if k != "n_averaged"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="training run folder (holds checkpoints/ and metrics.jsonl)")
    ap.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest)")
    ap.add_argument("--ema", action="store_true", help="export the EMA weights instead of the raw weights")
    ap.add_argument("--average", type=int, nargs="+", default=None, metavar="STEP",
                    help="export the mean of these checkpoints' weights (the newest gives the metadata)")
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "dfrec" / "weights" / "default")
    ap.add_argument("--command", default=None, help="the training command to record")
    ap.add_argument("--status", default=None, help="one line on how far the training went (recorded as is)")
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float16",
                    help="storage precision (default float16: half the size; weights load as float32)")
    ap.add_argument("--history-from", type=Path, default=None,
                    help="model folder whose training history this run continues (default: the run's model.init_from)")
    ap.add_argument("--since-step", type=int, default=None, metavar="N",
                    help="the run resumed, at step N, the checkpoint that --history-from was exported from: "
                         "the new history entry counts only what came after step N")
    args = ap.parse_args(argv)

    from dfrec.models import DFREC
    from dfrec.models.checkpoint import average_states, load_state_strict

    found = {c.name: c for d in ("kept", "checkpoints") for c in (args.run / d).glob("step_*")}
    ckpts = [found[k] for k in sorted(found)]
    if args.average:
        want = {f"step_{n:08d}" for n in args.average}
        ckpts = [c for c in ckpts if c.name in want]
        if len(ckpts) != len(want):
            have = ", ".join(sorted(found)) or "none"
            print(f"--average: not all of {sorted(args.average)} found in {args.run} (have: {have})", file=sys.stderr)
            return 1
    elif args.step is not None:
        ckpts = [c for c in ckpts if c.name == f"step_{args.step:08d}"]
    if not ckpts:
        print(f"no checkpoint found in {args.run}/checkpoints", file=sys.stderr)
        return 1
    ckpt = ckpts[-1]
    model = DFREC.from_pretrained(ckpt)
    if args.average:
        # newest first: its counters (non-floating tensors) are kept, as its config is
        load_state_strict(model, average_states([checkpoint_weights(c, args.ema) for c in reversed(ckpts)]),
                          source=f"mean of {len(ckpts)} checkpoints of {args.run}")
    elif args.ema:
        load_state_strict(model, checkpoint_weights(ckpt, True), source=str(ckpt / "ema.safetensors"))
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
            "weights": ("ema" if args.ema else "raw (EMA not used: too few steps for its horizon)")
            + (f", uniform mean of steps {sorted(args.average)}" if args.average else ""),
            "images_seen": step * batch if batch else None,
            "training_command": args.command
            or meta.get("command") or f"(not recorded; run folder {args.run})",
            "data_split": "src/dfrec/data/splits/lfw.json (LFW train identities; validation on val identities)",
            "train_loss_first_last": [train_rows[0]["loss"], train_rows[-1]["loss"]] if train_rows else None,
            "validation": [r for r in val if r.get("step", 0) <= step],
            "status": args.status or f"checkpoint at step {step} of run {args.run.name}",
        }
    )
    try:
        meta["history"] = training_history(meta, args.history_from, args.since_step)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    meta = _relative(meta, str(ROOT))
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, metadata=meta, dtype=args.dtype)  # shards of 14 MiB < 15 MB
    if args.out.exists():  # keep anything else in the folder (e.g. a README); replace the model files
        for f in list(args.out.glob("*.safetensors")) + list(args.out.glob("*.json")):
            f.unlink()
        for f in tmp.iterdir():
            f.replace(args.out / f.name)
        tmp.rmdir()
    else:
        tmp.replace(args.out)
    total = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"exported {ckpt} -> {args.out} ({total:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
