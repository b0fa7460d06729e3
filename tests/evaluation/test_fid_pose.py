"""FID (self ≈ 0, grows with noise, pt_inception path == fid-helper) and pose geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfrec.evaluation.metrics.fid import (
    INPUT_RANGE_TF,
    FIDFeatureExtractor,
    fid_from_features,
    fid_helper_state_dict,
    frechet_distance,
)
from dfrec.evaluation.metrics.pose import (
    angular_distance,
    euler_to_rotation,
    head_pose,
    pose_error,
    project_template,
)


@pytest.fixture(scope="module")
def extractor():
    return FIDFeatureExtractor()


@pytest.fixture(scope="module")
def crops(astronaut):
    """8 different 96x96 crops of the astronaut image, (8, 3, 96, 96) in [0, 1]."""
    x = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255.0
    rng = np.random.default_rng(0)
    out = [x[:, r:r + 96, c:c + 96] for r, c in rng.integers(0, 512 - 96, size=(8, 2))]
    return torch.stack(out)


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    s1, s2 = np.diag([1.0, 2.0, 3.0, 4.0]), np.diag([4.0, 1.0, 1.0, 9.0])
    expected = ((mu1 - mu2) ** 2).sum() + sum((np.sqrt(a) - np.sqrt(b)) ** 2 for a, b in zip(np.diag(s1), np.diag(s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_lowrank_equals_sqrtm():
    rng = np.random.default_rng(2)
    f1 = rng.normal(size=(10, 16))
    f2 = rng.normal(size=(12, 16)) * 1.5 + 0.3
    assert fid_from_features(f1, f2, "lowrank") == pytest.approx(fid_from_features(f1, f2, "sqrtm"), rel=1e-6)
    f3 = rng.normal(size=(40, 16))  # full-rank covariances too
    assert fid_from_features(f3, f2, "lowrank") == pytest.approx(fid_from_features(f3, f2, "sqrtm"), rel=1e-6)


def test_fid_self_is_zero_and_grows_with_noise(extractor, crops):
    feats = extractor(crops)
    assert feats.shape == (8, 2048)
    assert abs(fid_from_features(feats, feats)) < 1e-6
    g = torch.Generator().manual_seed(0)
    scores = []
    for sigma in (0.05, 0.2):
        noisy = (crops + sigma * torch.randn(crops.shape, generator=g)).clamp(0, 1)
        scores.append(fid_from_features(feats, extractor(noisy)))
    assert 0 < scores[0] < scores[1]


def test_pt_inception_path_matches_fid_helper(extractor, crops, tmp_path):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(fid_helper_state_dict(extractor.net), path)
    other = FIDFeatureExtractor("pt_inception", path, input_range=INPUT_RANGE_TF)
    a, b = extractor(crops[:2]), other(crops[:2])
    assert (a - b).abs().max() < 1e-4
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    from dfrec.errors import CheckpointError

    with pytest.raises(CheckpointError):
        FIDFeatureExtractor("pt_inception", tmp_path / "bad.pth")


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, 0, 0), (0, -15, 0), (0, 0, 10), (-30, 10, 5)])
def test_pose_of_projected_template(angles):
    lm = project_template(euler_to_rotation(*angles))
    assert np.allclose(head_pose(lm), angles, atol=0.05)


def test_pose_error_equals_rotation():
    frontal = project_template(euler_to_rotation(0, 0, 0))
    turned = project_template(euler_to_rotation(25, 0, 0))
    e = pose_error(frontal, turned)
    assert e["angle"] == pytest.approx(25, abs=0.05) and e["yaw"] == pytest.approx(25, abs=0.05)
    assert e["pitch"] < 0.05 and e["roll"] < 0.05
    assert pose_error(frontal, frontal)["angle"] < 1e-3
    R = euler_to_rotation(10, 20, 30)
    assert angular_distance(R, R) < 1e-6
