"""Crash points for the kill tests: ``DFREC_CRASH_AT=NAME:N`` makes the process SIGKILL
itself the N-th time it passes ``crashpoint(NAME)``. Unset (always, outside tests), a
crash point costs one dictionary look-up.

Points: ``atomic-write`` (an atomic write's data is in its temp file, not yet renamed),
``commit-swap`` (an earlier result was moved aside, the new one not yet renamed in),
``commit-done`` (the new result is in place, the earlier one not yet deleted),
``summary`` (every input done, the summary not yet written).
"""

from __future__ import annotations

import os
import signal

_passed: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """SIGKILL this process here if ``DFREC_CRASH_AT`` names this point and pass count."""
    spec = os.environ.get("DFREC_CRASH_AT")
    if not spec:
        return
    _passed[name] = _passed.get(name, 0) + 1
    target, _, count = spec.partition(":")
    if target == name and str(_passed[name]) == (count or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
