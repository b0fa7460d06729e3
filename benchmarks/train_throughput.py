#!/usr/bin/env python
"""Training throughput per model preset: images/s, and on CUDA the achieved TFLOP/s.

One training step = model forward + the full DFREC loss (identity, perceptual, attribute,
patch, classification; offline substitutes as configured) + backward + AdamW step, on a
random batch already on the device (data loading is not timed). FLOPs are counted once per
preset with ``torch.utils.flop_counter.FlopCounterMode`` over forward + backward (matrix
multiplies and convolutions, the work that matters; element-wise ops are not counted).
torch's formula counts the weight gradient of a grouped (e.g. depthwise) convolution as if
it were dense, ``groups`` times too much, which would inflate EfficientNet's count ~40x;
:func:`grouped_conv_backward_flop` corrects it.

    python benchmarks/train_throughput.py                       # CPU: tiny, small
    python benchmarks/train_throughput.py --device cuda          # tiny, small, paper at batch 64, bf16
    python benchmarks/train_throughput.py --device cuda --presets paper --batch 128 --compile --channels-last

Prints a table (``--json`` for machine-readable output); ``--time-limit`` bounds the whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--presets", default=None, help="comma list (default: tiny,small on CPU; tiny,small,paper on CUDA)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default: 2 on CPU, 64 on CUDA)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per preset (default: 3 on CPU, 20 on CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1 on CPU, 5 on CUDA)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto", help="auto = bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--loss", choices=["full", "cheap"], default="full",
                   help="full DFREC loss, or only the network-free patch + classification terms")
    p.add_argument("--identity-weights", default=None, help="dlib .dat or its .safetensors export (identity loss)")
    p.add_argument("--vgg19-weights", default=None, help="torchvision VGG19 weights for the paper's perceptual loss")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds for the whole run (presets left over are skipped)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    return p.parse_args(argv)


def grouped_conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                               output_padding, groups, output_mask, out_shape=None, **_):
    """FLOPs of ``aten.convolution_backward``: the input gradient and the weight gradient
    each cost one forward convolution (whose weight shape already holds ``C_in / groups``)."""
    from torch.utils.flop_counter import conv_flop_count

    fwd = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed=bool(transposed))
    return fwd * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flop_counter():
    """``FlopCounterMode`` with the grouped-convolution backward fix."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop})


def build_loss(args, device, image_size: int):
    """The DFREC loss; a term whose network is unavailable here is dropped (and reported)."""
    from dfrec.losses.total import DFRECLoss, LossConfig

    if args.loss == "cheap":
        cfg = dict(lambda_id=0.0, lambda_perc=0.0, lambda_attr=0.0)
    else:
        cfg = dict(identity_weights=args.identity_weights, vgg19_weights=args.vgg19_weights)
    cfg["image_size"] = image_size
    dropped = []
    for term in ("lambda_id", "lambda_attr", "lambda_perc", None):
        try:
            return DFRECLoss(LossConfig(**cfg)).to(device), dropped
        except Exception as e:  # e.g. no dlib model file on this machine
            if term is None:
                raise
            print(f"note: loss term {term} dropped ({e.__class__.__name__}: {e})", file=sys.stderr)
            cfg[term] = 0.0
            dropped.append(term.replace("lambda_", ""))
    raise AssertionError


def bench_preset(preset: str, args, device: torch.device, deadline: float) -> dict:
    from dfrec.models import create_model

    torch.manual_seed(0)
    model = create_model(preset).to(device)
    size = model.config.image_size
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn, dropped = build_loss(args, device, size)
    loss_fn.eval()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
    run = torch.compile(model) if args.compile else model
    use_bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
    n = args.batch
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    g = torch.Generator(device="cpu").manual_seed(0)
    batch = {
        "forgery": torch.rand(n, 3, size, size, generator=g).to(device).contiguous(memory_format=fmt),
        "source": torch.rand(n, 3, size, size, generator=g).to(device),
        "target": torch.rand(n, 3, size, size, generator=g).to(device),
        "is_fake": (torch.arange(n) % 2).float().to(device),
    }

    def step():
        with autocast():
            out = run(batch["forgery"])
            total, _ = loss_fn(out, batch)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return total

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    # FLOPs of forward + backward, counted on the eager model (one step, not timed)
    counter = flop_counter()
    with counter:
        with autocast():
            out = model(batch["forgery"])
            total, _ = loss_fn(out, batch)
        total.backward()
    opt.zero_grad(set_to_none=True)
    flops_per_img = counter.get_total_flops() / n

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.steps):
        if time.perf_counter() > deadline and times:
            break
        t = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t)
    sec = sorted(times)[len(times) // 2]  # median step time
    ips = n / sec
    row = {
        "preset": preset,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "batch": n,
        "precision": "bf16" if use_bf16 else "fp32",
        "compile": bool(args.compile),
        "channels_last": bool(args.channels_last),
        "loss_terms_dropped": dropped,
        "steps_timed": len(times),
        "ms_per_step": sec * 1e3,
        "images_per_s": ips,
        "gflop_per_image": flops_per_img / 1e9,
        "tflop_per_s": flops_per_img * ips / 1e12,
        "loss": float(loss.detach()),
        "finite": math.isfinite(float(loss.detach())),
    }
    if device.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    from dfrec.device import select_device

    device = select_device(args.device)
    cuda = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = (args.presets or ("tiny,small,paper" if cuda else "tiny,small")).split(",")
    args.batch = args.batch or (64 if cuda else 2)
    args.steps = args.steps or (20 if cuda else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    deadline = time.perf_counter() + args.time_limit
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    rows = []
    for preset in presets:
        if time.perf_counter() > deadline:
            rows.append({"preset": preset, "skipped": "time limit"})
            continue
        try:
            rows.append(bench_preset(preset.strip(), args, device, deadline))
        except torch.cuda.OutOfMemoryError:
            rows.append({"preset": preset, "skipped": f"out of memory at batch {args.batch}"})
            torch.cuda.empty_cache()
        print(f"done: {preset}", file=sys.stderr)
    if args.json:
        print(json.dumps({"device": name, "torch": torch.__version__, "results": rows}, indent=2))
        return 0
    print(f"device: {name}, torch {torch.__version__}, loss: {args.loss}")
    head = f"{'preset':<9}{'params M':>9}{'batch':>6}{'prec':>6}{'img/s':>10}{'ms/step':>10}{'GFLOP/img':>10}{'TFLOP/s':>9}{'mem GiB':>8}  notes"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "skipped" in r:
            print(f"{r['preset']:<9}  skipped: {r['skipped']}")
            continue
        notes = []
        if r["compile"]:
            notes.append("compile")
        if r["channels_last"]:
            notes.append("channels_last")
        if r["loss_terms_dropped"]:
            notes.append("no " + "/".join(r["loss_terms_dropped"]) + " loss")
        mem = f"{r['peak_mem_gib']:.1f}" if "peak_mem_gib" in r else "-"
        print(
            f"{r['preset']:<9}{r['params_m']:>9.1f}{r['batch']:>6}{r['precision']:>6}{r['images_per_s']:>10.2f}"
            f"{r['ms_per_step']:>10.0f}{r['gflop_per_image']:>10.1f}{r['tflop_per_s']:>9.2f}{mem:>8}  {', '.join(notes)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
