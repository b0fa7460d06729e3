"""The repository's scripts (``scripts/``, ``benchmarks/``) imported as modules, for tests that
call their functions or ``main(argv)`` in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath: str) -> ModuleType:
    """Import ``ROOT/relpath`` (e.g. ``"scripts/model_gate.py"``) as a fresh module named after the file."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    # as `python relpath` does: the script's own folder is importable (benchmarks/_heldout.py, _flops.py)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(mod)
    return mod
