"""``dfrec convert-official splitidentity_ftm.pth OUT/``: the authors' checkpoint as a dfrec checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfrec.cli.args import ranged

HELP = "convert the DFREC authors' released checkpoint (splitidentity_ftm.pth) into a dfrec checkpoint folder"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert-official",
        help=HELP,
        description=(
            "Read the authors' released checkpoint with torch.load(weights_only=True) (no pickled "
            "code runs), map its ISM (smp DeepLabV3+ EfficientNet-B0), U-Net and lightly MAE "
            "(ViT-L/16) tensors onto dfrec's 'official' preset, and write OUT/config.json + "
            "safetensors. The release has no real/fake head: the converted logit comes from an "
            "untrained head (recorded in the metadata); use the recovery-based score instead."
        ),
    )
    p.add_argument("checkpoint", help="the released .pth file (splitidentity_ftm.pth)")
    p.add_argument("out", help="output checkpoint folder")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size; cast back to float32 on load)")
    p.add_argument("--shard-size-mb", type=ranged(float, 0.1, 100_000), default=None,
                   help="largest weights file in MiB (default: dfrec.models.checkpoint.SHARD_SIZE_MB, 14)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty OUT folder")
    p.add_argument("--json", action="store_true", help="print the conversion report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dfrec.errors import ConfigError, InputError
    from dfrec.models.checkpoint import SHARD_SIZE_MB
    from dfrec.models.official import convert_official

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise InputError(f"{out}: folder is not empty (use --force to overwrite)")
    shard_size_mb = SHARD_SIZE_MB if args.shard_size_mb is None else args.shard_size_mb
    if not shard_size_mb > 0:
        raise ConfigError(f"--shard-size-mb must be positive; got {shard_size_mb}")
    path, report = convert_official(
        args.checkpoint, out, dtype="float16" if args.fp16 else "float32", shard_size_mb=shard_size_mb
    )
    result = {
        "out": str(path),
        "preset": "official",
        "num_parameters": report["num_parameters"],
        "tensors_mapped": report["mapped"],
        "tensors_ignored": report["ignored"],
        "classification_head_trained": report["classification_head_trained"],
    }
    if args.json:
        from dfrec.io import dumps_json

        print(dumps_json(result, nan_as_null=True, any_as_str=True))
    else:
        print(f"wrote {path} (official preset, {report['num_parameters'] / 1e6:.1f} M parameters, "
              f"{report['mapped']} tensors mapped, {len(report['ignored'])} ignored)")
        if not report["classification_head_trained"]:
            print("note: the release has no real/fake head; the converted 'logit' is untrained")
    return 0
