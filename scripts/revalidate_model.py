"""Re-run a saved model's held-out validation the way training runs it, and optionally record it.

    python scripts/revalidate_model.py src/dfrec/weights/default --cache .cache/lfw_index \\
        --note "deblock 8 added after training" --write

Builds the validation set from the model's own training metadata (data section: split,
synthesiser, ``val_samples`` forgeries of the validation identities, seed ``train.seed + 1``;
``--seed`` picks another run's ``train.seed``, e.g. the model it replaces, for the same forgeries)
with ``--cache`` in place of the training machine's face cache, and scores the model with
the training loss and :func:`dfrec.train.validation.validate` (PSNR/SSIM, IDSim against the
true faces and the forgery's own ``*_none``, blockiness, map IoU, accuracy). Prints the
numbers; ``--write`` appends them as a validation row (with ``note`` and the date) to the
model's ``config.json`` metadata, atomically, so reports ("About this model") describe the
model as it now runs, e.g. after a change of an inference option such as ``model.deblock``;
when the newest entry of the training history has no validation (a run with
``data.val_samples: 0``), the row fills it.
A different face cache gives different crops: the row says which cache it used.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="model folder (config.json + safetensors)")
    ap.add_argument("--cache", required=True, help="face cache or pack with the LFW validation identities")
    ap.add_argument("--samples", type=int, default=None, help="forgeries (default: the training run's val_samples)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="model config override for this run, e.g. deblock=8 (recorded with --write)")
    ap.add_argument("--seed", type=int, default=None,
                    help="train.seed whose validation forgeries to build (default: the model's own run's); "
                         "give the earlier model's to compare two models on the same forgeries")
    ap.add_argument("--note", default="", help="what changed (recorded with --write)")
    ap.add_argument("--write", action="store_true", help="append the row to the model's config.json metadata")
    a = ap.parse_args(argv)

    from torch.utils.data import DataLoader, Subset

    from dfrec.config import from_dict
    from dfrec.io import write_text_atomic
    from dfrec.models import DFREC
    from dfrec.train import distributed as D
    from dfrec.train.components import build_datasets, build_loss
    from dfrec.train.config import Config
    from dfrec.train.setup import collate
    from dfrec.train.validation import identity_metric, validate

    cfg_file = a.model / "config.json"
    doc = json.loads(cfg_file.read_text())
    meta = doc.get("metadata") or {}
    data = dict(meta.get("data") or {})
    if not data:
        ap.error(f"{cfg_file} records no training data section")
    data.update(cache=a.cache, root=None, val_samples=a.samples or data.get("val_samples") or 384, workers=0)
    losses = dict((meta.get("losses") or {}).get("config") or {})
    losses.pop("identity_weights", None)  # the training machine's file; the installed one here
    cfg = from_dict(Config, {"model": {"preset": meta.get("preset", "small")}, "data": data, "loss": losses,
                             "train": {"seed": a.seed if a.seed is not None else (meta.get("train") or {}).get("seed", 0)}})
    _, val = build_datasets(cfg)
    n = min(len(val), cfg.data.val_samples)
    subset = Subset(D.SeededDataset(val, cfg.train.seed + 1), list(range(n)))
    loader = DataLoader(subset, batch_size=a.batch, shuffle=False, collate_fn=collate)

    overrides = {}
    for kv in a.set:
        k, _, v = kv.partition("=")
        overrides[k] = json.loads(v)
    # the saved weights under the (possibly overridden) config: an override that changes the
    # architecture fails the strict load with a CheckpointError naming the keys
    model = DFREC.from_pretrained(a.model, map_location=a.device, overrides=overrides)
    device = torch.device(a.device)
    loss = build_loss(cfg).to(device)
    metrics, _ = validate(model, loss, loader, device, contextlib.nullcontext, identity_metric(device))
    row = {"step": meta.get("checkpoint_step", meta.get("step")),
           **{f"val/{k}": v for k, v in metrics.items()},
           "note": a.note, "date": dt.date.today().isoformat(), "cache": str(a.cache), "samples": n,
           "train_seed": cfg.train.seed,  # the validation forgeries are drawn with train_seed + 1
           "model_overrides": overrides}
    keys = ("idsim_target", "idsim_target_none", "idsim_target_two_people", "idsim_target_none_two_people",
            "idsim_source", "blockiness_target", "ssim_target", "psnr_target", "map_iou", "accuracy")
    print(" ".join(f"{k} {metrics[k]:.3f}" for k in keys if k in metrics), f"(n {n})")
    if a.write:
        if overrides:
            doc["config"].update(overrides)
        val_rows = meta.get("validation")
        meta["validation"] = (val_rows if isinstance(val_rows, list) else [val_rows] if val_rows else []) + [row]
        history = meta.get("history")
        if isinstance(history, list) and history and not history[-1].get("validation"):
            history[-1]["validation"] = row  # a run that did not validate (val_samples 0): measured now
        doc["metadata"] = meta
        write_text_atomic(cfg_file, json.dumps(doc, indent=2) + "\n")
        print(f"recorded in {cfg_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
