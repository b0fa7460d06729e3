"""Argument types that validate numbers when the command line is parsed, before any work.

``type=ranged(float, 0, 1000)`` accepts finite numbers in [0, 1000] and turns anything else
(``nan``, ``inf``, ``-3``, ``1e9``, ``abc``) into a one-line argparse error (exit 2), so a
bad value never reaches a model load, a ``range()`` or a JSON file.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

#: Seeds are used with torch and numpy generators: 0 .. 2**32 - 1 works for both.
SEED_MAX = 2**32 - 1


def ranged(kind: type = float, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float | int]:
    """An argparse ``type`` for a finite ``kind`` (int or float) within [lo, hi] (ends open
    with ``lo_open`` / ``hi_open``; ``None`` = unbounded)."""
    def fmt(x: float | None) -> str:
        return f"{x:g}" if isinstance(x, float) else str(x)

    if lo is not None and hi is not None:
        where = f"in {'(' if lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if hi_open else ']'}"
    elif lo is not None:
        where = f"{'>' if lo_open else '>='} {fmt(lo)}"
    elif hi is not None:
        where = f"{'<' if hi_open else '<='} {fmt(hi)}"
    else:
        where = ""
    noun = "a whole number" if kind is int else "a finite number"
    rule = f"{noun} {where}".strip()

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}")
        if (lo is not None and (value < lo or (lo_open and value == lo))) or (
            hi is not None and (value > hi or (hi_open and value == hi))
        ):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def seed(text: str) -> int:
    """An argparse ``type`` for random seeds: a whole number in [0, 2**32 - 1]."""
    return ranged(int, 0, SEED_MAX)(text)


def device_name(text: str) -> str:
    """An argparse ``type`` for ``--device``: ``auto`` or a device this machine has (``cpu``,
    ``cuda``, ``cuda:1``, ``mps``); anything else is a one-line argparse error (exit 2). Returns
    the text, for :func:`dfrec.device.select_device`."""
    if text.strip().lower() == "auto":
        return text
    from dfrec.device import select_device
    from dfrec.errors import ConfigError

    try:
        select_device(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def fractions(text: str) -> tuple[float, float, float]:
    """An argparse ``type`` for ``train,val,test`` fractions: three finite numbers >= 0 summing to 1."""
    parts = [p.strip() for p in text.split(",")]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) and v >= 0 for v in vals) or abs(sum(vals) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"must be three numbers >= 0 summing to 1, e.g. 0.8,0.1,0.1; got {text!r}")
    return vals  # type: ignore[return-value]
