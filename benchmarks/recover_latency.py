"""Seconds per face of ``Recoverer.recover`` (CPU or CUDA), split by stage.

Stages: face detection + 68 landmarks (dlib), alignment, the DFREC model, the identity
network (forgery crop and both recovered faces), paste-back into the frame. Images are
decoded once beforehand (decoding is not counted). On CUDA every stage ends with
``torch.cuda.synchronize`` (kernels run asynchronously; without it a stage's time would be
billed to the next one that waits). Each image is run ``--repeats`` times
after one warm-up call; the table shows the mean wall-clock seconds per face of each stage
and in total, and the process CPU seconds per face (all threads). Target: <= 1 s per face
with ``--threads 2``.

On a machine shared with other busy processes, OpenMP threads that spin while waiting
inflate both columns; ``OMP_WAIT_POLICY=PASSIVE`` gives numbers closer to an idle machine.

Usage::

    python benchmarks/recover_latency.py                     # the bundled default model
    python benchmarks/recover_latency.py --preset small      # a randomly initialised preset
    python benchmarks/recover_latency.py --checkpoint DIR --repeats 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"


def default_images() -> list[Path | str]:
    """Example forgeries and the public-domain fixture photos that exist here, plus the astronaut."""
    found: list[Path | str] = sorted((ROOT / "examples").glob("*/forgery.png"))
    found += [FIXTURES / f for f in ("obama.jpg", "obama2.jpg", "biden.jpg") if (FIXTURES / f).exists()]
    return found + ["astronaut"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--checkpoint", help="checkpoint folder (default: the bundled model)")
    g.add_argument("--preset", help="benchmark a randomly initialised preset instead (e.g. tiny, small, paper)")
    ap.add_argument("--images", nargs="*", help="image files ('astronaut' = skimage's); default: examples + fixtures")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (default 2)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--detection-upsample", type=int, default=None, help="HOG upsamplings (default: the detector's, 1)")
    ap.add_argument("--max-faces", type=int, default=1, help="faces per image (default 1: the largest)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import cv2
    import numpy as np
    import torch

    from dfrec.io import read_image
    from dfrec.recover import STAGES, Recoverer

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.preset:
        from dfrec.models import create_model

        torch.manual_seed(0)
        r = Recoverer(create_model(args.preset, pretrained_init=False), device=args.device,
                      detection_upsample=args.detection_upsample)
        model_name = f"preset {args.preset} (random init)"
    else:
        r = Recoverer.from_pretrained(args.checkpoint, device=args.device, detection_upsample=args.detection_upsample)
        model_name = str(r.checkpoint)
    images = []
    for item in args.images or default_images():
        if str(item) == "astronaut":
            from skimage import data

            images.append(("astronaut", data.astronaut()))
        else:
            images.append((Path(item).parent.name + "/" + Path(item).name, read_image(item)))

    def sync() -> None:
        """On CUDA, wait for queued kernels (the Recoverer also does between its stages)."""
        if r.device.type == "cuda":
            torch.cuda.synchronize(r.device)

    r.recover(images[0][1], max_faces=args.max_faces)  # warm-up: loads dlib, identity net, allocators
    rows = []
    for name, img in images:
        per = {k: [] for k in (*STAGES, "total", "cpu")}
        n_faces = 0
        for _ in range(args.repeats):
            sync()
            c0, t0 = time.process_time(), time.perf_counter()
            faces = r.recover(img, max_faces=args.max_faces)
            sync()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            n_faces = len(faces)
            if not n_faces:
                break
            for k in STAGES:
                per[k].append(r.timings[k] / n_faces)
            per["total"].append(wall / n_faces)
            per["cpu"].append(cpu / n_faces)
        if not n_faces:
            print(f"{name}: no face found, skipped", file=sys.stderr)
            continue
        rows.append({"image": name, "size": f"{img.shape[1]}x{img.shape[0]}", "faces": n_faces,
                     **{k: float(np.mean(v)) for k, v in per.items()}})
    if not rows:
        print("no face found in any image", file=sys.stderr)
        return 1
    mean = {k: float(np.mean([row[k] for row in rows])) for k in (*STAGES, "total", "cpu")}
    info = {"model": model_name, "device": args.device, "threads": args.threads, "repeats": args.repeats,
            "detection_upsample": args.detection_upsample, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "params": int(sum(p.numel() for p in r.model.parameters())), "rows": rows, "mean": mean,
            "target_s_per_face": 1.0, "meets_target": mean["total"] <= 1.0}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model: {model_name} ({info['params'] / 1e6:.2f} M parameters), device {args.device}, "
          f"{args.threads} threads, {args.repeats} repeats, detection upsample "
          f"{1 if args.detection_upsample is None else args.detection_upsample}, seconds per face "
          f"(wall per stage; cpu = process CPU time, all threads)")
    head = f"{'image':34s} {'size':>9s} " + " ".join(f"{k:>8s}" for k in (*STAGES, "total", "cpu"))
    print(head)
    print("-" * len(head))
    for row in rows + [{"image": "mean", "size": "", **mean}]:
        print(f"{row['image'][:34]:34s} {row['size']:>9s} " + " ".join(f"{row[k]:8.3f}" for k in (*STAGES, "total", "cpu")))
    print(f"target <= 1.0 s per face: {'met' if info['meets_target'] else 'NOT met'} ({mean['total']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
