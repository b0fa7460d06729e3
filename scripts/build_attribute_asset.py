"""Rebuild ``src/dfrec/assets/attribute_appearance.json``, the calibration of the ``appearance``
attribute network, from aligned LFW train faces (see :mod:`dfrec.losses.attribute_asset`).

    python scripts/build_attribute_asset.py --lfw ../shared/data/lfw [--n 400] [--seed 0] [--out PATH]

Needs dlib (face detection).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from dfrec.io import write_text_atomic
    from dfrec.losses.attribute_asset import DEFAULT_OUT, build_asset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", required=True, help="LFW folder holding images_deepfunneled/")
    ap.add_argument("--n", type=int, default=400, help="number of identities (one image each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    asset = build_asset(args.lfw, args.n, args.seed)
    write_text_atomic(args.out, json.dumps(asset, indent=1) + "\n")
    Path(args.out).chmod(0o644)  # package data: readable by everyone
    print(f"wrote {args.out} ({asset['n_images']} faces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
