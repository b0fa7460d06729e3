"""``dfrec evaluate``: the paper's tables (and more) for a checkpoint on a test set."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfrec.cli.args import ranged, seed, device_name
from dfrec.errors import ConfigError, InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure a checkpoint: Tables I/III/V/VI, source recovery, identity tracing, figure",
        description="Run a DFREC checkpoint over test identities (LFW test split with synthesised forgeries by "
                    "default) and write Markdown + CSV + JSON tables shaped like the paper's, plus a figure grid. "
                    "With --calibrate, calibrate the Acc threshold on real faces instead.",
    )
    p.add_argument("--checkpoint", help="model folder (DFREC.save_pretrained / dfrec train output); "
                   "default: the model bundled with dfrec")
    p.add_argument("--data", required=True, help="LFW folder (or its images_deepfunneled), a face pack/cache, or an "
                                                 "image folder with one sub-folder per person")
    p.add_argument("--split", default="test", help="identity split to use: test (default), val, train, or 'all'")
    p.add_argument("--limit", type=ranged(int, 2, 1_000_000), default=100, help="number of test people (targets); default 100")
    p.add_argument("--kinds", default="swap,blend", help="forgery kinds, comma-separated (swap, blend, self)")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--out", default="eval", help="output folder (default ./eval)")
    p.add_argument("--seed", type=seed, default=0, help="seed of person choice, pairing, masking (default 0)")
    p.add_argument("--batch-size", type=ranged(int, 1, 4096), default=8, help="model batch size, 1-4096 (default 8)")
    p.add_argument("--robust-limit", type=ranged(int, 1, 1_000_000), default=32, help="forgeries per robustness setting (default 32)")
    p.add_argument("--no-robustness", action="store_true", help="skip Table V")
    p.add_argument("--no-ablation", action="store_true", help="skip the w/o-ISM and w/o-fusion rows")
    p.add_argument("--no-tracing", action="store_true", help="skip identity tracing")
    p.add_argument("--no-fid", action="store_true", help="skip FID (the slowest metric on a CPU)")
    p.add_argument("--inpaint", choices=("telea", "ns"), default="telea", help="inpainting baseline (default telea)")
    p.add_argument("--baseline-unet", help="folder of a trained direct U-Net baseline (DirectUNet.save_pretrained)")
    p.add_argument("--reference", metavar="CHECKPOINT",
                   help="another model folder to run on the same forgeries: its rows join the tables and a paired "
                        "table gives checkpoint - reference per sample (mean, se, z)")
    p.add_argument("--fid-weights", help="pytorch-fid pt_inception-2015-12-05-6726825d.pth to use instead of "
                                         "fid-helper's network")
    p.add_argument("--cache", help="landmark cache folder for an image folder (default ~/.cache/dfrec/faces)")
    p.add_argument("--threshold", type=ranged(float, 0, 1), help="Acc threshold τ (default: the shipped calibration)")
    p.add_argument("--calibrate", action="store_true", help="calibrate τ on real faces of --split (use val) and "
                                                           "write eval_threshold.json into --out")
    p.add_argument("--json", action="store_true", help="print the results document as JSON on stdout")
    p.add_argument("--no-progress", "--quiet", dest="quiet", action="store_true",
                   help="no progress bars (--quiet: the same, kept for old scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dfrec.io import dumps_json, prepare_output_dir, write_json_atomic

    split = None if args.split in ("all", "none", "") else args.split
    prepare_output_dir(args.out, "--out")  # before any model or data loads
    if args.calibrate:
        from dfrec.evaluation.runner import calibrate

        doc = calibrate(args.data, split, n=args.limit, seed=args.seed, device=args.device, cache=args.cache,
                        progress=not args.quiet)
        path = write_json_atomic(Path(args.out) / "eval_threshold.json", doc, nan_as_null=True)
        print(dumps_json(doc, nan_as_null=True) if args.json else f"tau = {doc['tau']:.4f} (n = {doc['n']}) -> {path}")
        return 0
    if not args.checkpoint:
        from dfrec.recover import DEFAULT_CHECKPOINT

        args.checkpoint = str(DEFAULT_CHECKPOINT)
    if not Path(args.checkpoint).is_dir():
        raise InputError(f"{args.checkpoint}: no such checkpoint folder")
    if args.reference and not Path(args.reference).is_dir():
        raise InputError(f"--reference {args.reference}: no such checkpoint folder")
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in ("swap", "blend", "self")]
    if bad or not kinds:
        raise ConfigError(f"--kinds: unknown kind(s) {bad} (choose from swap, blend, self)")
    from dfrec.evaluation.runner import EvalSettings, evaluate

    s = EvalSettings(
        checkpoint=args.checkpoint, data=args.data, split=split, limit=args.limit, kinds=kinds, seed=args.seed,
        batch_size=args.batch_size, device=args.device, out=args.out, robust_limit=args.robust_limit,
        robustness=not args.no_robustness, ablation=not args.no_ablation, tracing=not args.no_tracing,
        fid=not args.no_fid, inpaint=args.inpaint, baseline_unet=args.baseline_unet, reference=args.reference,
        fid_weights=args.fid_weights,
        cache=args.cache, threshold=args.threshold, progress=not args.quiet,
    )
    doc = evaluate(s)
    if args.json:
        print(dumps_json(doc, nan_as_null=True, any_as_str=True))
    else:
        print(f"tables: {doc['files']['markdown']}  json: {doc['files']['json']}  figure: {doc['files']['figure']}")
    return 0
