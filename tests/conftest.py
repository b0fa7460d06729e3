"""Shared test fixtures: real faces from LFW (skipped when absent) and public-domain images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW_DIR = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))
FIXTURES = ROOT / ".cache" / "fixtures" / "face_recognition"

TORCH_THREADS = max(1, min(2, os.cpu_count() or 1))
torch.set_num_threads(TORCH_THREADS)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from needs import skip_or_fail  # noqa: E402  (tests/needs.py: skip here, fail under CI=true)


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """Every test starts with the suite's torch thread count and leaves it so: a benchmark's
    ``main`` run in-process sets its own (``--threads``), and a float sum over another number of
    threads differs in the last bits (a resumed run compared bit for bit with a reference then fails)."""
    torch.set_num_threads(TORCH_THREADS)
    yield
    torch.set_num_threads(TORCH_THREADS)


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """Root of the LFW copy (``images_deepfunneled/``, ``pairs.txt``); skips when absent (fails under CI)."""
    if not (LFW_DIR / "images_deepfunneled").is_dir() or not (LFW_DIR / "pairs.txt").is_file():
        skip_or_fail(f"LFW not found at {LFW_DIR} (set DFREC_LFW to its folder)")
    return LFW_DIR


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    """Folder of the face_recognition sdist's public-domain test images; skips when absent (fails under CI)."""
    if not (FIXTURES / "obama.jpg").exists():
        skip_or_fail(f"fixtures missing in {FIXTURES}; run: python scripts/fetch_fixtures.py")
    return FIXTURES


@pytest.fixture(scope="session")
def c2pa_signer():
    """``f() -> c2pa.Signer``: a C2PA claim signer under a test root (``tests/c2pa_signing.py``)."""
    from needs import need_module

    need_module("c2pa")
    from c2pa_signing import make_signer

    return make_signer()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (public domain, NASA), (512, 512, 3) uint8 RGB, one face."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def panning_face(astronaut):
    """``f(n) -> [frame]``: ``n`` frames of a real face (the astronaut's, 96 x 128 RGB uint8) panning
    1 px right per frame, for the video codec readers' tests."""
    import cv2

    face = cv2.resize(astronaut[:300, 100:400], (128, 96), interpolation=cv2.INTER_AREA)
    return lambda n: [np.ascontiguousarray(np.roll(face, k, axis=1)) for k in range(n)]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised ``tiny`` DFREC saved with ``save_pretrained`` (seed 0); read-only."""
    from dfrec.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    create_model("tiny").save_pretrained(path)
    return path
