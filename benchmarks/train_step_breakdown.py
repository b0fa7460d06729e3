#!/usr/bin/env python
"""Where a training step's time goes: the DataLoader alone, then the model plus one loss term at a time.

Builds the training set and model of a config (default ``configs/small_lfw_gpu.yaml``), times
the DataLoader (``--workers`` processes, pinned and unpinned), then on one real synthesised
batch times model forward/backward + AdamW with the classification loss, and with each other
loss term added alone (identity separation together with the identity term it needs), and
with the full loss (bf16 autocast on CUDA; the model eager, without torch.compile). Prints a table.

    python benchmarks/train_step_breakdown.py --device cuda --batch 96 --workers 15 \\
        --set data.cache=pack/lfw_trainval_160 --set loss.identity_weights=identity.safetensors
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


#: Row names of the loss terms.
LABELS = {"lambda_id": "identity", "lambda_perc": "perceptual", "lambda_attr": "attribute", "lambda_patch": "patch",
          "lambda_map": "ISM map", "lambda_pix": "pixel L1 of the composite",
          "lambda_pix_source": "pixel L1 of the source"}


def loss_variants(loss: dict) -> list[tuple[str, dict]]:
    """The rows' loss settings from a config's ``loss`` section: the classification loss alone,
    then each other weighted term added alone (identity separation rides with the identity
    term, which it needs), then the full loss. Each dict is complete ``LossConfig`` keywords."""
    from dfrec.losses.total import NEEDS_IDENTITY, LossConfig

    terms = tuple(f.name for f in dataclasses.fields(LossConfig) if f.name.startswith("lambda_"))
    full = {k: loss.get(k, getattr(LossConfig(), k)) for k in terms}
    other = {k: v for k, v in loss.items() if k not in terms}
    cls = {**other, **{k: 0.0 for k in terms}, "lambda_cls": full["lambda_cls"]}
    variants = [("model + AdamW + classification", cls)]
    sep = NEEDS_IDENTITY  # the separation terms ride with the identity term
    for key in terms:
        if key == "lambda_cls" or key in sep or not full[key]:
            continue
        extra = {k: full[k] for k in sep} if key == "lambda_id" else {}
        name = "+ " + LABELS.get(key, key[len("lambda_"):]) + (" and separation" if any(extra.values()) else "")
        variants.append((name, {**cls, key: full[key], **extra}))
    variants.append(("full loss", {**other, **full}))
    return variants


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/small_lfw_gpu.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=96)
    p.add_argument("--workers", type=int, default=min(15, os.cpu_count() or 1))
    p.add_argument("--steps", type=int, default=10, help="timed steps per row (after 3 warm-up steps)")
    args = p.parse_args(argv)

    from dfrec.losses.total import DFRECLoss, LossConfig
    from dfrec.train.components import default_components
    from dfrec.train.config import load_config
    from dfrec.train.setup import data_loader, to_device

    cfg = load_config(args.config, args.set)
    comp = default_components()
    dev = torch.device(args.device)
    train_ds, _ = comp.build_datasets(cfg)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    # each row printed as it is measured: a call cut off by its time limit still shows what it got
    print(f"device: {name}, torch {torch.__version__}, preset {cfg.model.preset}, batch {args.batch}")
    print(f"{'what':48s} {'ms/batch':>9s} {'img/s':>8s}", flush=True)

    def row(what: str, seconds: float) -> None:
        print(f"{what:48s} {seconds * 1e3:9.1f} {args.batch / seconds:8.1f}", flush=True)

    batch = None
    for pin in (True, False):
        dl = data_loader(train_ds, batch_size=args.batch, num_workers=args.workers,
                         pin_memory=pin and dev.type == "cuda", shuffle=True)
        it = iter(dl)
        for _ in range(3):
            batch = next(it)
        t = time.perf_counter()
        n = 2 * args.steps
        for _ in range(n):
            batch = next(it)
        dt = (time.perf_counter() - t) / n
        row(f"DataLoader, {args.workers} workers, pin_memory={pin and dev.type == 'cuda'}", dt)
        del it, dl

    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = comp.build_model(cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b = to_device(batch, dev)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dev.type == "cuda" else contextlib.nullcontext
    variants = loss_variants(dict(cfg.loss))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for what, lam in variants:
        loss_fn = DFRECLoss(LossConfig(**lam)).to(dev).eval()
        for q in loss_fn.parameters():
            q.requires_grad_(False)

        def step():
            with autocast():
                out = model(b["forgery"])
                total, _ = loss_fn(out, b)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()

        for _ in range(3):
            step()
        sync()
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        dt = (time.perf_counter() - t) / args.steps
        row(what, dt)

    if dev.type == "cuda":
        print(f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
