"""``dfrec inspect FILE|FOLDER...``: how pictures and videos were made and encoded, without the model."""

from __future__ import annotations

import argparse

HELP = "say how pictures and videos were made and encoded (quantisers, encoder settings, metadata, Content Credentials), without analysing faces"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help=HELP,
        description=(
            "For each picture or video (folders are searched as `dfrec recover` searches them), print what "
            "a report would record of the file itself, in a second or less and without the model: its "
            "SHA-256, format and size; how it was last compressed (a JPEG's quality from its tables, the "
            "earlier JPEG saves its pixels still show, a WebP's, HEIC's or AVIF's quantisers, a video's "
            "codec and quantiser, the CRF x264 or x265 wrote into its stream); what its metadata or "
            "container says made it (never a location); its Content Credentials (C2PA), checked offline; "
            "the notes a report would give, and the compression caveat its faces would carry."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="PATH", help="picture, video or folder")
    p.add_argument("--json", action="store_true",
                   help="print {'files': [{'input', 'notes', 'caveat', 'rows'}], 'failed': [...]} as JSON")
    p.set_defaults(func=run)


def _files(inputs: list[str], failed: list[dict[str, str]], ignored: list[dict[str, str]]):
    from pathlib import Path

    from dfrec.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, scan_folder

    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            files = scan_folder(p, IMAGE_SUFFIXES + VIDEO_SUFFIXES, None, failed, ignored)
            if not files:
                failed.append({"input": str(p), "reason": "folder holds no image or video files"})
            yield from files
        elif p.exists():
            yield p
        else:
            failed.append({"input": str(p), "reason": "no such file or folder"})


def run(args: argparse.Namespace) -> int:
    import sys

    from dfrec.errors import DfrecError, describe, shown
    from dfrec.report.describe import METADATA_LABEL
    from dfrec.report.inspect import inspect_file
    from dfrec.io import dumps_json

    failed: list[dict[str, str]] = []
    ignored: list[dict[str, str]] = []
    done = []
    for path in _files(args.inputs, failed, ignored):
        try:
            found = inspect_file(path)
        except DfrecError as err:
            failed.append({"input": str(path), "reason": describe(err)})
            continue
        done.append(found)
        if args.json:
            continue
        inp = found["input"]
        print(f"{shown(inp['path'])}: {inp['kind']}, {inp['width']}×{inp['height']} px, {inp['bytes']:,} bytes, "
              f"SHA-256 {inp['sha256']}")
        for label, value in found["rows"]:
            if isinstance(value, dict):
                value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
            print(f"  {'Metadata' if label == METADATA_LABEL else label}: {value}")
        for note in found["notes"]:
            print(f"  note: {note}")
        if found["caveat"]:
            print(f"  caveat for its faces: {found['caveat']['message']}")
    if args.json:
        print(dumps_json({"files": done, "failed": failed, "ignored": ignored}))
    elif failed:
        print(f"dfrec: {len(failed)} input(s) could not be inspected:", file=sys.stderr)
        for f in failed:
            print(f"  {shown(f['input'])}: {f['reason']}", file=sys.stderr)
    return 2 if failed and not done else 0  # a batch: success when at least one file was inspected
