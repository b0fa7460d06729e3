"""Forgery synthesis throughput per CPU core at 224 px, for each kind.

Single process, one OpenCV/torch thread; rates are samples per CPU-second of this process
(``time.process_time``), i.e. per core, so they hold on a machine shared with other jobs
(wall-clock rates are printed too). Two numbers per kind:
``synth`` = the synthesiser on crops already in memory (with the default post-augmentations);
``item`` = a full dataset item (JPEG decode of the crops + synthesis + tensors), what a
DataLoader worker does. Target: >= 50 samples/s per core (16 cores feed >= 800 img/s).

    python benchmarks/synth_throughput.py [--faces PACK_OR_CACHE_OR_FOLDER] [-n 200] [--json]
        [--config configs/small_lfw_gpu.yaml]   # that recipe's synthesiser (kind mix, appearance, augmentation)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np
    import torch

    from dfrec.data.build import faces_from
    from dfrec.data.datasets.synthetic import SyntheticForgeries
    from dfrec.data.synth import KINDS, SynthConfig, Synthesizer

    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", default=str(here.parent / "shared" / "data" / "lfw" / "images_deepfunneled"),
                    help="face pack, landmark cache or image folder (default: LFW beside the project)")
    ap.add_argument("--pool", type=int, default=64, help="faces to use (default 64)")
    ap.add_argument("-n", type=int, default=200, help="samples per kind (default 200)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--config", default=None,
                    help="a training config (its data.synth) or a synthesiser YAML; default: SynthConfig()")
    args = ap.parse_args(argv)

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    faces = faces_from(args.faces, max_faces=args.pool, progress=False)
    crops = [faces.crop(i).resized(args.size) for i in range(len(faces))]
    cfg = _synth_config(args.config, args.size)
    synth = Synthesizer(cfg)
    m = len(crops)
    ids = np.array([c.identity for c in crops])
    rows = []
    for kind in KINDS:
        # synthesis only (crops in memory)
        rng = np.random.default_rng(0)
        for i in range(5):  # warm-up
            synth(crops[i % m], crops[(i + 1) % m], kind=kind, rng=i, donors=crops[:8])
        t, w = time.process_time(), time.perf_counter()
        for i in range(args.n):
            j = (i + 1 + int(rng.integers(m - 1))) % m
            if ids[j] == ids[i % m]:
                j = (j + 1) % m
            donors = [crops[(i + k) % m] for k in range(1, cfg.blend.donor_candidates + 1)] if kind == "blend" else None
            synth(crops[i % m], crops[j], kind=kind, rng=i, donors=donors)
        synth_rate = args.n / (time.process_time() - t)
        synth_wall = args.n / (time.perf_counter() - w)
        # full dataset item
        ds = SyntheticForgeries(faces, cfg.with_kinds([kind]), seed=0, length=args.n)
        ds[0]
        t, w = time.process_time(), time.perf_counter()
        for i in range(args.n):
            ds[i]
        item_rate = args.n / (time.process_time() - t)
        item_wall = args.n / (time.perf_counter() - w)
        rows.append({"kind": kind, "synth_per_s": round(synth_rate, 1), "item_per_s": round(item_rate, 1),
                     "synth_per_s_wall": round(synth_wall, 1), "item_per_s_wall": round(item_wall, 1)})
    mean_mix = 1.0 / sum(w / sum(cfg.kinds.values()) / r["item_per_s"] for r, w in zip(rows, [cfg.kinds.get(r["kind"], 0) for r in rows]))
    result = {"config": args.config, "size": args.size, "faces": len(faces), "face_size": faces.size, "samples_per_kind": args.n,
              "rows": rows, "default_mix_item_per_s": round(mean_mix, 1), "cpu": _cpu_name()}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"synthesis throughput per CPU core, {args.size} px, {len(faces)} faces stored at {faces.size} px, "
              f"{args.n} samples per kind ({result['cpu']})")
        print(f"{'kind':<6} {'synth/s':>8} {'item/s':>8}   (per CPU-second; wall-clock: synth/s item/s)")
        for r in rows:
            print(f"{r['kind']:<6} {r['synth_per_s']:>8.1f} {r['item_per_s']:>8.1f}   "
                  f"({r['synth_per_s_wall']:.1f} {r['item_per_s_wall']:.1f})")
        print(f"{'the config' if args.config else 'default'} mix {cfg.kinds}: {mean_mix:.1f} items/s per core")
    return 0


def _synth_config(path: str | None, size: int):
    """``SynthConfig`` of ``path`` (a training config's ``data.synth``, or a synthesiser YAML) at ``size``."""
    import dataclasses

    import yaml

    from dfrec.data.synth import SynthConfig

    if path is None:
        return SynthConfig(size=size)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if isinstance(data.get("data"), dict):
        data = data["data"].get("synth") or {}
    elif set(data) == {"synth"}:
        data = data["synth"]
    return dataclasses.replace(SynthConfig.from_dict(data), size=size)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
