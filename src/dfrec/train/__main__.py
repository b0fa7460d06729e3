"""``python -m dfrec.train`` / ``torchrun --nproc_per_node=K -m dfrec.train --config C``.

Same options as ``dfrec train``; errors meant for users print one line per rank.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dfrec.cli.train import add_arguments, run
    from dfrec.errors import DfrecError

    parser = argparse.ArgumentParser(prog="python -m dfrec.train", description="Train DFREC (see dfrec train --help).")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except DfrecError as e:
        print(f"dfrec train [rank {os.environ.get('RANK', '0')}]: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
