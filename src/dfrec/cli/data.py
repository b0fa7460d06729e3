"""``dfrec data``: landmark cache (index), compact packs, identity splits, dataset conversion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dfrec.cli.args import fractions, ranged, seed
from dfrec.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="prepare training data: landmark cache, face packs, identity splits, dataset conversion",
        description="Prepare data for training: detect/align faces once (index), write compact packs that "
                    "train without dlib (pack), make identity splits (split), convert FaceForensics++, "
                    "CelebaMegaFS, FFHQ-E4S to triple folders (prepare), describe a folder (info).",
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    q = sub.add_parser("index", help="detect, align and store every face of an image folder (resumable)",
                       description="Build or extend a landmark cache: aligned crops + 68 landmarks per image. "
                                   "Re-running skips done images; failures go to CACHE/failures.jsonl.")
    q.add_argument("folder", metavar="DIR", help="image folder (identity = subfolder, as LFW)")
    q.add_argument("--cache", metavar="C", help="cache folder (default $DFREC_CACHE_DIR or ~/.cache/dfrec/faces/...)")
    q.add_argument("--workers", type=ranged(int, 1, 256), default=1, help="processes (default 1)")
    q.add_argument("--size", type=ranged(int, 16, 4096), default=224, help="crop side in pixels (default 224)")
    q.add_argument("--quality", type=ranged(int, 1, 100), default=95, help="JPEG quality of stored crops, 1-100 (default 95)")
    q.add_argument("--limit", type=ranged(int, 1, 100_000_000), metavar="N", help="index only N images, spread over identities (seeded)")
    q.add_argument("--seed", type=seed, default=0, help="seed for --limit (default 0)")
    q.add_argument("--retry-failures", action="store_true", help="try the images that failed before again")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--json", action="store_true", help="print a JSON summary")
    q.set_defaults(func=run_index)

    q = sub.add_parser("pack", help="write a compact pack (small crops + one index) from a cache, for training",
                       description="Pack a landmark cache (optionally one identity split) into crops.bin + index.npz + "
                                   "meta.json. Packs are read with OpenCV/numpy only (no dlib).")
    q.add_argument("cache", metavar="CACHE", help="landmark cache folder (from dfrec data index)")
    q.add_argument("-o", "--out", required=True, metavar="PACK", help="output pack folder")
    q.add_argument("--split", metavar="S", help="only these identity splits, e.g. train,val (LFW split file by default)")
    q.add_argument("--split-file", metavar="JSON", help="identity split file (default: dfrec's LFW split)")
    q.add_argument("--size", type=ranged(int, 16, 4096), default=160, help="crop side in the pack (default 160; datasets upsample to 224)")
    q.add_argument("--codec", choices=("webp", "jpeg"), default="webp",
                   help="image codec in the pack (default webp: ~40%% smaller than JPEG at the same quality)")
    q.add_argument("--quality", type=ranged(int, 1, 100), default=85, help="codec quality 1-100 (default 85)")
    q.add_argument("--max-per-identity", type=ranged(int, 1, 10**9), metavar="N",
                   help="keep at most N faces per person (seeded; every person kept): smaller packs, more people per MB")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_pack)

    q = sub.add_parser("split", help="make an identity split file (train/val/test) for an LFW-style folder")
    q.add_argument("folder", metavar="DIR", help="folder with one subfolder per identity")
    q.add_argument("-o", "--out", required=True, metavar="JSON", help="split file to write")
    q.add_argument("--seed", type=seed, default=0)
    q.add_argument("--fractions", type=fractions, default=(0.8, 0.1, 0.1),
                   help="train,val,test fractions of identities, >= 0, summing to 1 (default 0.8,0.1,0.1)")
    q.set_defaults(func=run_split)

    q = sub.add_parser("prepare", help="convert FaceForensics++ / CelebaMegaFS / FFHQ-E4S into a triple folder",
                       description="Extract, detect and align (forgery, source, target) triples from a public "
                                   "dataset's layout (see docs/data.md) into a folder TripleFolder reads.")
    q.add_argument("dataset", choices=("ffpp", "megafs", "e4s"))
    q.add_argument("root", metavar="ROOT", help="dataset root as downloaded")
    q.add_argument("-o", "--out", required=True, metavar="OUT")
    q.add_argument("--originals", metavar="DIR", help="megafs: CelebA-HQ images; e4s: FFHQ images")
    q.add_argument("--methods", help="comma list (ffpp: Deepfakes,FaceSwap,FaceShifter; megafs: FTM,IDInjection,LCR)")
    q.add_argument("--compression", default="c23", help="ffpp: raw, c23 or c40 (default c23)")
    q.add_argument("--frames", type=ranged(int, 1, 100_000), default=4, help="ffpp: frames per video (default 4)")
    q.add_argument("--limit", type=ranged(int, 1, 100_000_000), metavar="N", help="at most N videos/images per method")
    q.add_argument("--size", type=ranged(int, 16, 4096), default=224, help="crop side in pixels (default 224)")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=run_prepare)

    q = sub.add_parser("info", help="describe a landmark cache, face pack or triple folder")
    q.add_argument("path", metavar="PATH")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_info)


def _emit(args, summary: dict, line: str) -> int:
    from dfrec.io import dumps_json

    print(dumps_json(summary, nan_as_null=True, any_as_str=True) if getattr(args, "json", False) else line)
    return 0


def run_index(args: argparse.Namespace) -> int:
    from dfrec.data.build import default_cache_dir, spread_subset
    from dfrec.data.cache import default_identity, index_folder
    from dfrec.io import list_images

    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    found = list_images(folder)
    if not found:
        from dfrec.io import IMAGE_SUFFIXES

        raise InputError(f"{folder}: no image files in it or its sub-folders (looked for {', '.join(IMAGE_SUFFIXES)})")
    cache = Path(args.cache) if args.cache else default_cache_dir(folder, args.size)
    files = None
    if args.limit:
        rels = [f.relative_to(folder).as_posix() for f in found]
        files = spread_subset(rels, [default_identity(r) for r in rels], args.limit, args.seed)
    rep = index_folder(folder, cache, files=files, size=args.size, quality=args.quality, workers=args.workers,
                       retry_failures=args.retry_failures, progress=not args.no_progress)
    s = rep.to_dict()
    return _emit(args, s, f"indexed {rep.indexed}, skipped {rep.skipped} (done before), failed {rep.failed} "
                          f"-> {cache} (failures listed in {cache / 'failures.jsonl'})")


def run_pack(args: argparse.Namespace) -> int:
    from dfrec.data.cache import write_pack
    from dfrec.data.datasets.lfw import split_identities
    from dfrec.data.faceset import open_faces

    faces = open_faces(args.cache)
    extra = {}
    if args.split:
        faces = faces.select_identities(split_identities(args.split, args.split_file))
        extra = {"split": args.split, "split_file": args.split_file or "dfrec/data/splits/lfw.json"}
    if args.max_per_identity is not None:  # >= 1: checked by the parser
        faces = faces.cap_per_identity(args.max_per_identity)
        extra["max_per_identity"] = args.max_per_identity
    out = write_pack(faces, args.out, size=args.size, quality=args.quality, codec=args.codec, progress=not args.no_progress,
                     extra_meta=extra)
    total = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    s = {"pack": str(out), "faces": len(faces), "identities": len(faces.identity_names), "bytes": total}
    return _emit(args, s, f"packed {len(faces)} faces of {len(faces.identity_names)} people "
                          f"({total / 1e6:.1f} MB) -> {out}")


def run_split(args: argparse.Namespace) -> int:
    from dfrec.data.datasets.lfw import lfw_people, make_identity_split
    from dfrec.io import write_json_atomic

    split = make_identity_split(lfw_people(args.folder), tuple(args.fractions), args.seed)
    write_json_atomic(args.out, split)
    c = split["counts"]
    print(", ".join(f"{k}: {v['identities']} people / {v['images']} images" for k, v in c.items()) + f" -> {args.out}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from dfrec.data.datasets.ffpp import SWAP_METHODS, prepare_ffpp
    from dfrec.data.datasets.swaps import MEGAFS_METHODS, prepare_e4s, prepare_megafs

    progress = not args.no_progress
    if args.dataset == "ffpp":
        methods = tuple(args.methods.split(",")) if args.methods else SWAP_METHODS
        out = prepare_ffpp(args.root, args.out, methods, args.compression, args.frames, args.size, args.limit,
                           progress=progress)
    elif args.dataset == "megafs":
        methods = tuple(args.methods.split(",")) if args.methods else MEGAFS_METHODS
        out = prepare_megafs(args.root, args.out, args.originals, methods, args.size, args.limit, progress=progress)
    else:
        out = prepare_e4s(args.root, args.out, args.originals, args.size, args.limit, progress=progress)
    idx = json.loads((out / "index.json").read_text())
    print(f"wrote {len(idx['samples'])} triples ({len(idx['failures'])} failures listed in index.json) -> {out}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from dfrec.data.cache import read_failures
    from dfrec.data.datasets.triples import TripleFolder
    from dfrec.data.faceset import is_cache, is_pack, open_faces

    p = Path(args.path)
    if is_pack(p) or is_cache(p):
        f = open_faces(p)
        s = {"path": str(p), "type": "pack" if is_pack(p) else "cache", "faces": len(f),
             "identities": len(f.identity_names), "size": f.size}
        if is_cache(p):
            s["failures"] = len(read_failures(p))
    else:
        t = TripleFolder(p)
        kinds: dict[str, int] = {}
        for r in t.records:
            kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        s = {"path": str(p), "type": "triples", "items": len(t), "kinds": kinds}
    return _emit(args, s, ", ".join(f"{k}: {v}" for k, v in s.items()))


