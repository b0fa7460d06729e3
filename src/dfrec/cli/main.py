"""Entry point of the ``dfrec`` command.

Each subcommand lives in ``dfrec.cli.<module>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed args, returns an exit code).
Errors derived from :class:`dfrec.errors.DfrecError` print one line on stderr and exit
non-zero; ``--debug`` shows the traceback of anything else.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dfrec import __version__
from dfrec.errors import EXIT_CODES, DfrecError, describe, shown

#: (module under dfrec.cli, one-line help), in the order ``--help`` lists them.
SUBCOMMANDS = [
    "recover",
    "inspect",
    "gallery",
    "serve",
    "faces",
    "verify",
    "synth",
    "data",
    "train",
    "evaluate",
    "convert_official",
    "export_identity",
]


class UsageError(DfrecError):
    """A command line argparse rejects (unknown option, bad or out-of-range value)."""

    exit_code = 2


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``dfrec: error: argument --fps: ...``, exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{shown(message)} (see: {self.prog} --help)")


def exit_codes_text() -> str:
    """The exit-status table shown at the end of ``dfrec --help``."""
    import textwrap

    rows = [textwrap.fill(meaning, width=88, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
            for code, meaning in EXIT_CODES]
    return "exit status:\n" + "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dfrec",
        description="DeepFake identity recovery: recover the source and target faces behind a face swap.",
        epilog=exit_codes_text() + "\nErrors are one line: 'dfrec: error: PATH: reason'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dfrec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"dfrec.cli.{name}")
        except ModuleNotFoundError as e:  # a subcommand module not present in this build
            if e.name == f"dfrec.cli.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's decoder chatter (see dfrec.video)
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if not argv else 2
        rc = args.func(args)
        return int(rc or 0)
    except DfrecError as e:
        if debug:
            raise
        print(f"dfrec: error: {describe(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dfrec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # a file the command needed (permission, disk full): a plain-words line
        if debug:
            raise
        print(f"dfrec: error: {describe(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # last resort: one line, not a traceback, no library-internal text
        if debug:
            raise
        print(f"dfrec: error: {describe(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
