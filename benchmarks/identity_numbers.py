"""The numbers docs/identity.md states about the PyTorch port of dlib's face-recognition ResNet.

* parity: max |dfrec - dlib| of the 128-d embedding, ``IdentityNet`` vs
  ``dlib.face_recognition_model_v1.compute_face_descriptor`` on dlib's own chip of the
  public-domain fixtures (obama, obama2, biden; ``scripts/fetch_fixtures.py``) and the
  astronaut, fp32 on ``--device``;
* the same with TF32 matmuls/convolutions and under bf16 autocast (CUDA only), and with the
  fp16 safetensors export (max abs and L2);
* the crop path: L2 between ``IdentityEncoder`` on the 224 aligned crop (what recover and
  evaluate use) and dlib's chip embedding, over the fixtures, the astronaut and 12 LFW
  images (the first image of the first 12 test-split identities, sorted) when LFW is found;
* speed: CPU milliseconds per chip (process CPU time, ``--threads``, batch 1), and with ``--device cuda``
  images/s of ``IdentityEncoder.features`` + backward at batch 128 of 224 crops (fp32).

Usage: ``python benchmarks/identity_numbers.py [--device cpu|cuda] [--threads 1] [--lfw DIR] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))


def _faces(lfw: Path | None) -> tuple[list[tuple[str, np.ndarray]], int]:
    """(name, image) of the fixtures + astronaut (+ 12 LFW test images); count of parity faces."""
    from skimage import data

    from dfrec.io import read_image

    faces = [(n, read_image(FIXTURES / f"{n}.jpg")) for n in ("obama", "obama2", "biden")]
    faces.append(("astronaut", data.astronaut()))
    n_parity = len(faces)
    if lfw is not None and (lfw / "images_deepfunneled").is_dir():
        from dfrec.data.datasets.lfw import split_identities

        root = lfw / "images_deepfunneled"
        people = sorted(split_identities("test"))[:12]
        faces += [(p, read_image(sorted((root / p).glob("*.jpg"))[0])) for p in people]
    return faces, n_parity


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for the speed row (default 1)")
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import dlib
    import face_recognition_models as frm
    import torch

    from dfrec.faces.align import align_face
    from dfrec.faces.identity import IdentityEncoder, IdentityNet

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(frm.pose_predictor_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    faces, n_parity = _faces(args.lfw)
    chips, refs, crops = [], [], []
    for name, img in faces:
        rects = det(img, 1)
        if not rects:
            print(f"{name}: dlib found no face, left out", file=sys.stderr)
            continue
        shape = sp(img, max(rects, key=lambda r: r.area()))
        chip = np.asarray(dlib.get_face_chip(img, shape, 150, 0.25))
        chips.append(chip)
        refs.append(np.array(rec.compute_face_descriptor(chip), np.float32))
        lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        crops.append(align_face(img, lm, size=224).image)
    x_chip = torch.from_numpy(np.stack(chips).astype(np.float32) / 255).permute(0, 3, 1, 2).contiguous().to(dev)
    x_crop = torch.from_numpy(np.stack(crops).astype(np.float32) / 255).permute(0, 3, 1, 2).contiguous().to(dev)
    ref = torch.from_numpy(np.stack(refs)).to(dev)
    net = IdentityNet.from_file().to(dev).eval()
    out: dict = {"device": str(dev), "faces_parity": n_parity, "faces_crop_path": len(chips)}
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        e32 = net(x_chip)
        out["parity_max_abs"] = float((e32[:n_parity] - ref[:n_parity]).abs().max())
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            out["tf32_max_abs"] = float((net(x_chip[:n_parity]) - ref[:n_parity]).abs().max())
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            eb = net(x_chip[:n_parity]).float()
        out["bf16_autocast_max_abs"] = float((eb - ref[:n_parity]).abs().max())
        out["bf16_autocast_max_l2"] = float((eb - ref[:n_parity]).norm(dim=1).max())
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = net.cpu().save_safetensors(Path(d) / "id16.safetensors", torch.float16)
            out["fp16_export_mb"] = p.stat().st_size / 1e6
            e16 = IdentityNet.from_file(p).to(dev).eval()(x_chip[:n_parity])
            net.to(dev)
        out["fp16_export_max_abs"] = float((e16 - ref[:n_parity]).abs().max())
        out["fp16_export_max_l2"] = float((e16 - ref[:n_parity]).norm(dim=1).max())
        enc = IdentityEncoder(net=net).to(dev).eval()
        l2 = (enc.embed(x_crop) - ref).norm(dim=1).cpu().numpy()
        out["crop_vs_dlib_chip_l2_mean"], out["crop_vs_dlib_chip_l2_max"] = float(l2.mean()), float(l2.max())
    if dev.type == "cpu":
        one = x_chip[:1]
        with torch.no_grad():
            for _ in range(3):
                net(one)
            t = time.process_time()  # CPU time of this process: holds on a machine shared with other jobs
            reps = 30
            for _ in range(reps):
                net(one)
        out["cpu_ms_per_chip"] = 1000 * (time.process_time() - t) / reps
        out["cpu_threads"] = args.threads
    else:
        batch = x_crop[torch.arange(128) % len(x_crop)].clone().requires_grad_(True)
        enc = IdentityEncoder(net=net).to(dev)

        def step():
            feats = enc.features(batch)
            sum(f.float().mean() for f in feats).backward()

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            step()
        torch.cuda.synchronize()
        out["gpu_features_backward_img_per_s"] = 128 * 10 / (time.perf_counter() - t)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for k, v in out.items():
        print(f"{k:34s} {v:.3g}" if isinstance(v, float) else f"{k:34s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
