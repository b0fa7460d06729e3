"""Cost of each DFREC preset: parameters, GFLOP per image, CPU latency, GPU bf16 throughput.

    python benchmarks/model_cost.py                      # tiny and small on CPU (2 threads)
    python benchmarks/model_cost.py --presets paper --batches 1
    python benchmarks/model_cost.py --presets small paper official --gpu [--compile]

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions,
2 FLOP per multiply-add). The training step is forward + backward of the recovery losses'
shape (L1 on the source, L2 on the masked patches, BCE on the logit) plus an AdamW step.
Prints a table (or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from _flops import flop_counter  # benchmarks/_flops.py

from dfrec.models import create_model


def _loss(model, out, x):
    p = out["pred_patches"]
    idx = out["mask_indices"].unsqueeze(-1).expand(-1, -1, p.shape[-1])
    target = torch.gather(model.patchify(x), 1, idx)
    return (
        (out["source"] - x).abs().mean()
        + F.mse_loss(p.float(), target.float())
        + F.binary_cross_entropy_with_logits(out["logit"].float(), torch.ones_like(out["logit"].float()))
    )


def count_flops(model, train: bool, batch: int = 2) -> float:
    """GFLOP per image for inference (``train=False``) or one training forward+backward."""
    x = torch.rand(batch, 3, model.config.image_size, model.config.image_size)
    model.train(train)
    counter = flop_counter()
    with counter:
        if train:
            _loss(model, model(x), x).backward()
        else:
            with torch.no_grad():
                model(x)
    model.zero_grad(set_to_none=True)
    model.eval()
    return counter.get_total_flops() / batch / 1e9


def cpu_latency(model, batch: int, repeats: int) -> float:
    """Median seconds per image of CPU inference at ``batch``."""
    x = torch.rand(batch, 3, model.config.image_size, model.config.image_size)
    model.eval()
    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times) / batch


def cpu_train_step(model, batch: int, repeats: int) -> float:
    """Median seconds of one CPU training step (forward, backward, AdamW) at ``batch``."""
    x = torch.rand(batch, 3, model.config.image_size, model.config.image_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _loss(model, model(x), x).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    model.eval()
    return statistics.median(times)


def gpu_throughput(model, batch: int, train: bool, compile_: bool, steps: int = 10) -> tuple[float, float]:
    """(images/s, peak GiB) on CUDA with bf16 autocast."""
    dev = torch.device("cuda")
    model = model.to(dev).train(train)
    model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_ else model
    x = torch.rand(batch, 3, model.config.image_size, model.config.image_size, device=dev).contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True) if train else None

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            if train:
                opt.zero_grad(set_to_none=True)
                loss = _loss(model, fwd(x), x)
                loss.backward()
                opt.step()
            else:
                with torch.no_grad():
                    fwd(x)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    model.cpu().eval()
    return batch * steps / dt, torch.cuda.max_memory_allocated() / 2**30


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="CPU latency batch sizes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-cpu", action="store_true", help="skip CPU timings")
    ap.add_argument("--no-flops", action="store_true", help="skip FLOP counting (it runs the model on CPU)")
    ap.add_argument("--train-step", action="store_true", help="also time a CPU training step at batch 2")
    ap.add_argument("--gpu", action="store_true", help="also measure CUDA bf16 throughput")
    ap.add_argument("--gpu-batch", type=int, default=64)
    ap.add_argument("--compile", action="store_true", help="torch.compile for the GPU runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.presets:
        torch.manual_seed(0)
        model = create_model(name).eval()
        counts = model.num_parameters()
        row = {
            "preset": name,
            "params_M": round(counts["total"] / 1e6, 2),
            "params_M_ism_sirm_tirm": [round(counts[k] / 1e6, 2) for k in ("ism", "sirm", "tirm")],
            "weights_MB_fp32": round(sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20, 1),
        }
        if not args.no_flops:
            row["gflop_infer"] = round(count_flops(model, train=False), 2)
            row["gflop_train"] = round(count_flops(model, train=True), 2)
        if not args.no_cpu:
            for b in args.batches:
                row[f"cpu_s_per_img_b{b}"] = round(cpu_latency(model, b, args.repeats), 4)
            if args.train_step:
                row["cpu_train_step_s_b2"] = round(cpu_train_step(model, 2, args.repeats), 3)
        if args.gpu and torch.cuda.is_available():
            row["gpu"] = torch.cuda.get_device_name()
            ips, mem = gpu_throughput(model, args.gpu_batch, train=False, compile_=args.compile)
            row["gpu_infer_img_s"], row["gpu_infer_peak_GiB"] = round(ips, 1), round(mem, 2)
            ips, mem = gpu_throughput(model, args.gpu_batch, train=True, compile_=args.compile)
            row["gpu_train_img_s"], row["gpu_train_peak_GiB"] = round(ips, 1), round(mem, 2)
            row["gpu_batch"], row["compiled"] = args.gpu_batch, args.compile
        rows.append(row)
        print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        del model
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
