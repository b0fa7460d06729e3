"""Rebuild ``src/dfrec/assets/identity_mean.npy``, the mean embedding that IDSim subtracts, from LFW
identities outside pairs.txt (see :mod:`dfrec.faces.identity_mean`).

    python scripts/build_identity_mean.py --lfw ../shared/data/lfw [--n 512] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from dfrec.faces.identity import IDENTITY_MEAN_FILE
    from dfrec.faces.identity_mean import DEFAULT_IDENTITIES, write_identity_mean

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", required=True, help="LFW folder with images_deepfunneled/ and pairs.txt")
    ap.add_argument("--n", type=int, default=DEFAULT_IDENTITIES, help="identities averaged (default 512)")
    ap.add_argument("--out", default=str(IDENTITY_MEAN_FILE), help="output .npy (default: the packaged asset)")
    args = ap.parse_args(argv)
    info = write_identity_mean(args.lfw, args.out, args.n)
    print(f"identity mean of {info['identities']} identities outside pairs.txt "
          f"({len(info['undetected'])} undetected) -> {args.out} (norm {info['norm']:.3f}; the embeddings' mean "
          f"norm {info['embedding_norm_mean']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
