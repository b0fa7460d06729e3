"""Helpers for the robustness suite: small real face images, a raw-message detector and a
way to run the real ``dfrec`` command in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfrec.io import read_image

ROOT = Path(__file__).resolve().parents[2]
CRASHER = Path(__file__).resolve().parent / "crasher"

#: Text that must never reach a user: tracebacks, C++ assertions, pybind11 signatures,
#: allocator aborts, raw errno text, Python exception class names.
RAW_MARKERS = (
    "Traceback", "Error detected", "Failing expression", "dlib::", "pybind11", "Invoked with",
    "incompatible function arguments", "free():", "malloc", "munmap", "Segmentation fault", "core dumped",
    "[Errno", "RuntimeError", "TypeError", "ValueError", "KeyError", "IndexError", "ZeroDivisionError",
    "AttributeError", "cv2.error", "OverflowError", "UnicodeEncodeError", "MemoryError:",
)


def raw_lines(text: str) -> list[str]:
    """Lines of ``text`` holding library-internal text (see RAW_MARKERS)."""
    return [ln for ln in text.splitlines() if any(m in ln for m in RAW_MARKERS)]


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what a strict JSON reader does)."""
    def bad(const):
        raise ValueError(f"non-standard JSON constant {const}")

    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="session")
def face_small(fixture_dir) -> np.ndarray:
    """Obama (public domain) at 208x260 px: one face the detector finds quickly."""
    return cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def two_faces(fixture_dir, face_small) -> np.ndarray:
    """Obama and Biden side by side, (260, 416, 3): two faces, Obama's the larger."""
    biden = read_image(fixture_dir / "biden.jpg")
    biden = cv2.resize(biden, (180, round(180 * biden.shape[0] / biden.shape[1])), interpolation=cv2.INTER_AREA)
    canvas = np.full((260, 416, 3), 230, np.uint8)
    canvas[:, :208] = face_small
    h = min(biden.shape[0], 240)
    canvas[10:10 + h, 220:400] = biden[:h]
    return canvas


def dfrec_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def run_dfrec(*args: object, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """The real command, ``python -m dfrec ARGS``, in a child process (a native crash or a
    SIGKILL there cannot take the test run down)."""
    return subprocess.run([sys.executable, "-m", "dfrec", *map(str, args)], capture_output=True, text=True,
                          env=env or dfrec_env(), timeout=timeout, cwd=ROOT)
