"""Fixtures of the loss tests: aligned real faces (fixtures and LFW) and one shared DFRECLoss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

LFW_PEOPLE = ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")


def aligned(image: np.ndarray):
    """Largest face of ``image`` aligned to the canonical 224 crop (dfrec.faces)."""
    from dfrec.faces.align import align_face
    from dfrec.faces.detect import detect_faces

    faces = detect_faces(image)
    assert faces, "no face found in a test image"
    return align_face(image, faces[0].landmarks)


def to_tensor(crop: np.ndarray) -> torch.Tensor:
    """(224, 224, 3) uint8 → (1, 3, 224, 224) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="session")
def fixture_faces(fixture_dir) -> dict[str, torch.Tensor]:
    """Aligned public-domain faces: obama, obama2 (same person), biden; each (1, 3, 224, 224)."""
    from dfrec.io import read_image

    return {n: to_tensor(aligned(read_image(fixture_dir / f"{n}.jpg")).image) for n in ("obama", "obama2", "biden")}


@pytest.fixture(scope="session")
def lfw_pairs(lfw_dir) -> dict[str, list]:
    """Two aligned photos each of four LFW people: name -> [AlignedFace, AlignedFace]."""
    from dfrec.io import read_image

    root = lfw_dir / "images_deepfunneled"
    return {p: [aligned(read_image(root / p / f"{p}_{i:04d}.jpg")) for i in (1, 2)] for p in LFW_PEOPLE}


@pytest.fixture(scope="session")
def loss_fn():
    """The default DFRECLoss (offline networks), built once."""
    from dfrec.losses import DFRECLoss, LossConfig

    return DFRECLoss(LossConfig())
