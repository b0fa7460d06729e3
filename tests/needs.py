"""What a test needs from outside the code: optional packages, LFW, the fixture photos.

On a user's machine a missing piece skips the test with a reason. In CI (``CI=true``, as
``.ci/run`` runs) everything is installed by ``scripts/setup.sh`` and LFW sits at
``../shared/data/lfw``, so a missing piece is a broken install: the test fails instead
of skipping, and says what is missing.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

#: True under CI (``CI`` set to ``true``/``1``/``yes``, case-insensitive).
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under CI, fail with it (a missing piece there is a broken install)."""
    if IN_CI:
        pytest.fail(f"{reason} [CI=true: required in CI, not skipped]", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need_module(name: str) -> ModuleType:
    """``pytest.importorskip(name)``, except that under CI a failed import fails the test."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        skip_or_fail(f"could not import {name!r}: {e}")
        raise  # not reached: skip_or_fail raises
