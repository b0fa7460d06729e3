"""``dfrec synth``: write synthesised forgery samples (PNGs, JSON/CSV index, contact sheet)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dfrec.cli.args import ranged, seed
from dfrec.errors import ConfigError, InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="synthesise forgery samples (swap, blend, self, real) from a folder of faces",
        description=(
            "Make N (forgery, source, target, mask) samples from real faces and write them as PNGs "
            "(<name>_forgery/_source/_target/_mask.png), index.json, index.csv and contact_sheet.png. "
            "FACES may be an image folder (one subfolder per person, as LFW; only the faces needed "
            "are detected, into a landmark cache), a landmark cache or a face pack (dfrec data)."
        ),
    )
    p.add_argument("--faces", required=True, metavar="DIR", help="image folder, landmark cache or face pack")
    p.add_argument("-n", "--num", type=ranged(int, 1, 1_000_000), default=16, metavar="N", help="number of samples (default 16)")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--seed", type=seed, default=0, help="random seed (same seed, same samples; default 0)")
    p.add_argument("--kinds", metavar="LIST", help="comma-separated kinds to mix equally: swap,blend,self,real "
                   "(default: the config's mix)")
    p.add_argument("--config", metavar="YAML", help="synthesiser config (SynthConfig fields; see docs/data.md)")
    p.add_argument("--cache", metavar="DIR", help="landmark cache for an image folder "
                   "(default $DFREC_CACHE_DIR or ~/.cache/dfrec/faces/<folder>-<hash>-<size>-<enlargement>)")
    p.add_argument("--faces-pool", type=ranged(int, 2, 10_000_000), metavar="M",
                   help="faces to index/use from an image folder (default max(2N, 64), spread over people)")
    p.add_argument("--workers", type=ranged(int, 1, 256), default=1, help="processes for face detection (default 1)")
    p.add_argument("--no-augment", action="store_true", help="no flips, colour jitter or degradations")
    p.add_argument("--sheet-rows", type=ranged(int, 1, 1000), default=16, metavar="R",
                   help="samples per column of the contact sheet (default 16)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dfrec.data.build import faces_from
    from dfrec.data.datasets.synthetic import SyntheticForgeries
    from dfrec.data.synth import SynthConfig
    from dfrec.data.writer import write_contact_sheet, write_index, write_sample

    if args.num < 1:
        raise ConfigError("-n must be at least 1")
    cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    if args.kinds:
        cfg = cfg.with_kinds([k.strip() for k in args.kinds.split(",") if k.strip()])
    pool = args.faces_pool or max(2 * args.num, 64)
    t0 = time.perf_counter()
    faces = faces_from(args.faces, cache=args.cache, max_faces=pool, seed=args.seed, size=cfg.size,
                       workers=args.workers, progress=not args.no_progress)
    if len(faces.identity_names) < 2 and any(cfg.kinds.get(k, 0) > 0 for k in ("swap", "blend")):
        raise InputError(f"{args.faces}: swaps and blends need faces of at least two people; "
                         f"found {len(faces.identity_names)} (use --kinds self,real)")
    ds = SyntheticForgeries(faces, cfg, seed=args.seed, length=args.num, augment=not args.no_augment)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records, samples = [], []
    t1 = time.perf_counter()
    for i in tqdm(range(args.num), desc="synthesising", unit="sample", disable=args.no_progress):
        s = ds.sample(i)
        records.append(write_sample(out, f"{i:05d}", s))
        samples.append(s)
    t2 = time.perf_counter()
    sheet = write_contact_sheet(out / "contact_sheet.png", samples, rows_per_column=max(1, args.sheet_rows))
    meta = {"faces": str(args.faces), "n": args.num, "seed": args.seed, "faces_used": len(faces),
            "identities": len(faces.identity_names), "config": cfg.to_dict()}
    write_index(out, records, meta)
    kinds: dict[str, int] = {}
    for r in records:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    summary = {"out": str(out), "samples": args.num, "kinds": kinds, "faces_used": len(faces),
               "identities": len(faces.identity_names), "contact_sheet": str(sheet),
               "index": [str(out / "index.json"), str(out / "index.csv")],
               "seconds_faces": round(t1 - t0, 2), "seconds_synth": round(t2 - t1, 2)}
    if args.json:
        from dfrec.io import dumps_json

        print(dumps_json(summary, nan_as_null=True, any_as_str=True))
    else:
        mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"wrote {args.num} samples ({mix}) to {out}; contact sheet {sheet}", file=sys.stdout)
    return 0
