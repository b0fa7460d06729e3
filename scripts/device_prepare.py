"""Prepare what a GPU training run takes to the device machine, and check it fits.

    python scripts/device_prepare.py            # build .device/ and print what would travel
    python scripts/device_prepare.py --check    # dry run: print what would travel and the total, build nothing

The device machine receives the git working tree plus the paths a call carries, 64 MiB in
all, and has neither dlib, segmentation-models-pytorch nor the EfficientNet-Lite0 package.
``.device/`` (git-ignored) holds exactly what ``scripts/device_train.sh`` needs beside the tree:

* ``pack/``  LFW train + val identities as a face pack (WebP crops + landmarks), at most
  ``--max-per-identity`` faces per person so every person fits (3 at WebP quality 70, lowered by 5
  at a time until 2 MiB of the limit are left: since 2026-12-07, as the tree grows; 70 since the
  bundled model's score branch made the tree 6 MiB heavier, 2026-12-06, 65 while libx264 joined
  and the loss weights were not yet xz-compressed, 2026-12-07; 5 at 75 before); a pack built with
  other settings is rebuilt;
* ``identity.safetensors.xz``  the dlib face-recognition ResNet in fp16 (identity loss, IDSim),
  xz-compressed (8.8 MiB of its 10.7);
* ``efficientnet-lite0-trunk.pth.xz``  the ImageNet Lite0 weights in fp16 without the classifier
  head, which no training run uses (perceptual/attribute networks, a from-scratch ISM; 5.7 MiB
  instead of the whole network's 9.0), xz-compressed (5.1 MiB). ``scripts/device_env.sh``
  unpacks both (half a second) before a run; xz gave the call 2.6 MiB back (2026-12-07);
* ``whl/``  the segmentation-models-pytorch wheel (pure Python);
* ``libx264.so.xz``  libx264 (xz, 0.6 MiB of its 2.2), for the training chain's H.264 round trips
  (``augment.h264_prob``; :mod:`dfrec.x264`): the device has no PyAV and OpenCV's FFmpeg no H.264
  encoder. Taken from PyAV's wheel (the test extra); ``scripts/device_env.sh`` unpacks it.

Exit code 1 when the total would exceed the limit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / ".device"
LIMIT = 64 * 2**20
#: The loss networks' weights, xz-compressed (``scripts/device_env.sh`` unpacks them by these names,
#: less the ``.xz``).
IDENTITY_FILE = "identity.safetensors.xz"
LITE0_FILE = "efficientnet-lite0-trunk.pth.xz"
#: what .device held before, uncompressed; left there, they would travel too
STALE = ("efficientnet-lite0.pth", "identity.safetensors", "efficientnet-lite0-trunk.pth")
#: libx264, xz-compressed (``scripts/device_env.sh`` unpacks it and sets ``DFREC_LIBX264``).
X264_FILE = "libx264.so.xz"
#: The pack's WebP quality, and how far it is lowered (by 5 at a time) to keep SPARE bytes of the
#: call's limit free for the tree's growth until the next GPU session.
QUALITY, MIN_QUALITY, SPARE = 70, 50, 2 * 2**20


def tree_bytes() -> int:
    """Bytes of what git sends: tracked files plus untracked files that are not ignored."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.split(b"\0")
    total = 0
    for f in files:
        p = ROOT / f.decode()
        if f and p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def folder_bytes(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0


def build_index(cache: Path, lfw: Path) -> None:
    """The LFW landmark cache (dlib detection + 68 landmarks per image): about 12-40 min on 2 cores."""
    images = lfw / "images_deepfunneled"
    if not images.is_dir():
        raise SystemExit(f"{images}: LFW not found (set --lfw); needed to build the landmark cache {cache}")
    subprocess.run([sys.executable, "-m", "dfrec", "data", "index", str(images), "--cache", str(cache),
                    "--workers", "2", "--no-progress"], check=True)


def build_pack(cache: Path, size: int, quality: int, per_identity: int, dest: Path = DEVICE) -> None:
    """``dest/pack``: the LFW train + val identities of ``cache``, at most ``per_identity`` faces each."""
    from dfrec.data.cache import write_pack
    from dfrec.data.datasets.lfw import split_identities
    from dfrec.data.faceset import open_faces

    faces = open_faces(cache).select_identities(split_identities("train,val")).cap_per_identity(per_identity)
    write_pack(faces, dest / "pack", size=size, quality=quality, codec="webp", progress=False,
               extra_meta={"split": "train,val", "max_per_identity": per_identity})


def pack_changes(pack: Path, size: int, quality: int | None, per_identity: int) -> str:
    """How the settings of the pack at ``pack`` differ from those asked for (``"quality 75 -> 70"``;
    ``quality`` None: any), or ``""`` when they agree or there is no pack."""
    meta_file = pack / "meta.json"
    if not meta_file.exists():
        return ""
    meta = json.loads(meta_file.read_text())
    want = {"size": size, "quality": quality, "max_per_identity": per_identity}
    return ", ".join(f"{k} {meta.get(k)} -> {v}" for k, v in want.items() if v is not None and meta.get(k) != v)


def call_bytes() -> int:
    """What a call carrying ``.device`` takes: the working tree and everything in ``.device``."""
    return tree_bytes() + sum(folder_bytes(p) for p in DEVICE.iterdir()) if DEVICE.exists() else tree_bytes()


def write_xz(src: Path, dest: Path) -> None:
    """``dest``: ``src`` xz-compressed (the most the format does), written atomically."""
    import lzma

    from dfrec.io import atomic_path

    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as fout:
            shutil.copyfileobj(fin, fout)


def build_weights(dest: Path = DEVICE) -> None:
    """``dest/identity.safetensors.xz`` and ``dest/efficientnet-lite0-trunk.pth.xz``: both in fp16,
    xz-compressed (:func:`main` removes the uncompressed files of earlier builds, :data:`STALE`)."""
    import tempfile

    import torch

    from dfrec.faces.identity import IdentityNet
    from dfrec.models.ism import write_lite0_trunk

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp)
        IdentityNet.from_file().save_safetensors(plain / "identity.safetensors", dtype=torch.float16)
        write_lite0_trunk(plain / "efficientnet-lite0-trunk.pth", dtype=torch.float16)
        write_xz(plain / "identity.safetensors", dest / IDENTITY_FILE)
        write_xz(plain / "efficientnet-lite0-trunk.pth", dest / LITE0_FILE)


def build_wheels(dest: Path = DEVICE) -> None:
    """``dest/whl``: the segmentation-models-pytorch wheel this environment uses (the device lacks it)."""
    from importlib.metadata import version

    whl = dest / "whl"
    whl.mkdir(parents=True, exist_ok=True)
    for old in whl.glob("*.whl"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(whl),
                    f"segmentation-models-pytorch=={version('segmentation-models-pytorch')}"], check=True)


def build_x264(dest: Path = DEVICE) -> None:
    """``dest/libx264.so.xz``: the libx264 :func:`dfrec.x264.find_library` finds here, checked to load."""
    from dfrec.x264 import library

    lib = library()  # X264Error, saying how to get it, when there is none
    write_xz(Path(lib.path), dest / X264_FILE)
    print(f"{dest / X264_FILE}: {lib.path} (x264 build {lib.build})", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="dry run: print what would travel and the total")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "lfw_index", help="LFW landmark cache")
    ap.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw",
                    help="LFW folder, to build the cache when it is missing")
    ap.add_argument("--size", type=int, default=160, help="pack crop side (default 160)")
    ap.add_argument("--quality", type=int, default=None,
                    help=f"WebP quality (default {QUALITY}, lowered by 5 down to {MIN_QUALITY} until the call keeps "
                         f"{SPARE >> 20} MiB to spare, as the tree grows)")
    ap.add_argument("--max-per-identity", type=int, default=3,
                    help="faces per person in the pack (default 3)")
    a = ap.parse_args(argv)
    if not a.check:
        DEVICE.mkdir(exist_ok=True)
        changed = pack_changes(DEVICE / "pack", a.size, a.quality, a.max_per_identity)
        if changed:
            print(f".device/pack was built with other settings ({changed}): rebuilding it", flush=True)
            shutil.rmtree(DEVICE / "pack")
        if not (DEVICE / "pack" / "meta.json").exists():
            if not (a.cache / "index.jsonl").exists():
                build_index(a.cache, a.lfw)
            build_pack(a.cache, a.size, QUALITY if a.quality is None else a.quality, a.max_per_identity)
        if not (DEVICE / IDENTITY_FILE).exists() or not (DEVICE / LITE0_FILE).exists():
            build_weights()
        if not list((DEVICE / "whl").glob("*.whl")):
            build_wheels()
        if not (DEVICE / X264_FILE).exists():
            build_x264()
        for name in STALE:
            (DEVICE / name).unlink(missing_ok=True)
        quality = json.loads((DEVICE / "pack" / "meta.json").read_text())["quality"]
        while a.quality is None and call_bytes() > LIMIT - SPARE and quality > MIN_QUALITY:
            quality -= 5
            print(f"{(LIMIT - call_bytes()) / 2**20:.2f} MiB to spare: rebuilding the pack at WebP quality {quality}",
                  flush=True)
            shutil.rmtree(DEVICE / "pack")
            build_pack(a.cache, a.size, quality, a.max_per_identity)
    rows = [("working tree (tracked + untracked, not ignored)", tree_bytes())]
    for stale in (DEVICE / name for name in STALE):
        if stale.exists():
            rows.append((f".device/{stale.name}  (stale: run without --check to remove it)", folder_bytes(stale)))
    for name in ("pack", IDENTITY_FILE, LITE0_FILE, "whl", X264_FILE):
        p = DEVICE / name
        note = "" if p.exists() else "  (missing: run without --check)"
        changed = pack_changes(p, a.size, a.quality, a.max_per_identity) if name == "pack" else ""
        if changed:
            note = f"  (built with other settings: {changed}; run without --check)"
        rows.append((f".device/{name}{note}", folder_bytes(p)))
    total = sum(b for _, b in rows)
    width = max(len(r) for r, _ in rows)
    for r, b in rows:
        print(f"{r:<{width}}  {b / 2**20:7.2f} MiB")
    print(f"{'total (limit 64 MiB)':<{width}}  {total / 2**20:7.2f} MiB  {'fits' if total <= LIMIT else 'TOO LARGE'}")
    if LIMIT - SPARE < total <= LIMIT:
        print(f"warning: {(LIMIT - total) / 2**20:.2f} MiB to spare; a growing tree will not fit: rebuild the pack "
              "smaller (run without --check, or --max-per-identity 2)")
    print("carry: [\".device\"]   command: bash scripts/device_train.sh MINUTES [--from-scratch]")
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
