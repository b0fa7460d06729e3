"""``dfrec serve``: the investigator's workbench, a local web app (see docs/serve.md)."""

from __future__ import annotations

import argparse
import os

from dfrec.cli.args import ranged, device_name

DEFAULT_DATA = "dfrec_serve"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="a local web app: upload pictures and videos in a browser, follow the analysis, read the results",
        description="Start the dfrec workbench: a web app on http://127.0.0.1:8000/ where pictures and videos are "
                    "uploaded (drag and drop), analysed one job at a time by a worker process with the model "
                    "loaded once, and shown face by face (fake score, map, recovered source and target, gallery "
                    "candidates), with report.html, result.json and a zip to download. Jobs and results are kept "
                    "in the data folder and survive restarts. Binding to anything but loopback needs --token.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; anything else needs --token)")
    p.add_argument("--port", type=ranged(int, 0, 65535), default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument("--token", default=os.environ.get("DFREC_SERVE_TOKEN"),
                   help="access token every request must carry (required off loopback; default $DFREC_SERVE_TOKEN)")
    p.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                   help=f"folder for jobs, uploads and results, used by one server at a time (default ./{DEFAULT_DATA})")
    p.add_argument("--gallery", default=None, metavar="G", help="gallery folder to search recovered faces in")
    p.add_argument("--top-k", type=ranged(int, 1, 1000), default=5, metavar="K", help="gallery candidates per face (default 5)")
    p.add_argument("--checkpoint", default=None, metavar="DIR", help="model folder (default: the bundled model)")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda, cuda:1, ... (default: auto)")
    p.add_argument("--threads", type=ranged(int, 1, 1024), default=None, metavar="N", help="CPU threads of the worker (default: torch's)")
    p.add_argument("--max-upload-mb", type=ranged(float, 0, 1e6, lo_open=True), default=512, metavar="MB",
                   help="largest upload (all its files together) in MB (default 512)")
    p.add_argument("--max-files", type=ranged(int, 1, 10000), default=20, metavar="N", help="files per upload (default 20)")
    p.add_argument("--max-queue", type=ranged(int, 1, 100000), default=32, metavar="N",
                   help="jobs waiting or running at once; more uploads are refused with HTTP 503 (default 32)")
    p.add_argument("--max-megapixels", type=ranged(float, 0, 10000, lo_open=True), default=50, metavar="MP", help="largest image (default 50 MP)")
    p.add_argument("--fps", type=ranged(float, 0, 1000), default=1.0, help="video frames analysed per second of video (default 1)")
    p.add_argument("--max-frames", type=ranged(int, 1, 10_000_000), default=300, metavar="N", help="sampled frames per video at most (default 300)")
    p.add_argument("--max-faces", type=ranged(int, 1, 1000), default=10, metavar="N", help="largest faces analysed per picture (default 10)")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default warning)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dfrec.errors import ConfigError
    from dfrec.serve.config import ServeConfig
    from dfrec.serve.server import run as serve

    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise ConfigError("--max-upload-mb and --max-megapixels must be positive")
    if args.gallery is not None:
        from dfrec.gallery.gallery import DB_NAME

        if not (Path(args.gallery) / DB_NAME).is_file():
            raise ConfigError(f"{args.gallery}: not a dfrec gallery (make one with `dfrec gallery add DIR --gallery "
                              f"{args.gallery}`)")
    cfg = ServeConfig(
        data_dir=Path(args.data).resolve(), host=args.host, port=args.port, token=args.token or None,
        checkpoint=str(Path(args.checkpoint).resolve()) if args.checkpoint else None, device=args.device,
        gallery=str(Path(args.gallery).resolve()) if args.gallery else None, top_k=args.top_k,
        max_upload_bytes=int(args.max_upload_mb * 1e6), max_files=args.max_files, max_queue=args.max_queue,
        max_pixels=int(args.max_megapixels * 1e6), fps=args.fps, max_frames=args.max_frames,
        max_faces=args.max_faces, threads=args.threads,
    )
    return serve(cfg, log_level=args.log_level)
