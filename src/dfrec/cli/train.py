"""``dfrec train``: train a DFREC model from a YAML config (see ``configs/`` and docs/training.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfrec.cli.args import ranged, device_name
from dfrec.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model from a YAML config (resumable; multi-GPU with torchrun -m dfrec train)",
        description=(
            "Train DFREC on synthesised or real forgeries. Checkpoints, TensorBoard logs and the "
            "final model go under the run folder (output.dir, or --out). Multi-GPU: "
            "torchrun --nproc_per_node=K -m dfrec train --config C."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``dfrec train``."""
    p.add_argument("--config", "-c", metavar="YAML", help="run config (e.g. configs/small_lfw.yaml); "
                   "optional with --resume when the run folder holds config.yaml")
    p.add_argument("--out", metavar="DIR", help="run folder (overrides output.dir)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                   help="continue the run folder's newest checkpoint (or the given checkpoint folder)")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--max-steps", type=ranged(int, 1, 10**9), metavar="N",
                   help="stop after step N (the lr schedule still spans train.steps; continue with --resume)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    p.add_argument("--baseline", choices=("direct-unet",), default=None,
                   help="train a baseline instead of DFREC with the same config: direct-unet = a plain U-Net "
                        "forgery -> target (the DFI idea; model.* is ignored); evaluate it with "
                        "dfrec evaluate --baseline-unet RUN/model")
    p.add_argument("--unet-widths", default="32,64,128,256", metavar="W,W,...",
                   help="channel widths per level of the direct U-Net baseline (default 32,64,128,256)")


def load_run_config(args: argparse.Namespace):
    """The config from ``--config`` (or the run folder's ``config.yaml`` on resume) plus overrides."""
    from dfrec.train.config import load_config

    overrides = list(args.overrides or [])
    if args.out:
        overrides.append(f"output.dir={args.out}")
    if args.config:
        return load_config(args.config, overrides)
    if args.resume and args.out and (Path(args.out) / "config.yaml").is_file():
        return load_config(Path(args.out) / "config.yaml", overrides)
    raise ConfigError("--config is required (or --resume with --out pointing at a run folder holding config.yaml)")


def run(args: argparse.Namespace) -> int:
    from dfrec.train.components import default_components
    from dfrec.train.loop import Trainer

    cfg = load_run_config(args)
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError("--max-steps: must be >= 1")
    components = default_components()
    if args.baseline == "direct-unet":
        from dfrec.train.baseline import direct_unet_components

        try:
            widths = tuple(int(w) for w in args.unet_widths.split(","))
        except ValueError:
            raise ConfigError(f"--unet-widths: expected comma-separated integers, got {args.unet_widths!r}") from None
        components = direct_unet_components(widths)
    trainer = Trainer(
        cfg,
        components=components,
        device=args.device,
        resume=args.resume,
        max_steps=args.max_steps,
        progress=not args.no_progress,
        command="dfrec train " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["train"] else sys.argv[1:]),
    )
    summary = trainer.fit()
    if getattr(trainer, "info", None) is None or trainer.info.is_main:
        if args.json:
            from dfrec.io import dumps_json

            print(dumps_json(summary, nan_as_null=True, any_as_str=True))
        else:
            where = summary["model"] or summary["checkpoint"]
            print(f"step {summary['step']}/{summary['steps_total']}, loss {summary['loss']:.4f}; saved {where}")
    return 0
