"""FID (self ≈ 0, grows with noise, pt_inception path == fid-helper) and pose geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfrec.metrics.fid import (
    INPUT_RANGE_TF,
    FIDFeatureExtractor,
    fid_from_features,
    fid_helper_state_dict,
    frechet_distance,
)
from dfrec.metrics.pose import (
    angular_distance,
    euler_to_rotation,
    head_pose,
    pose_error,
    project_template,
)
from needs import need_module


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


@pytest.fixture(scope="module")
def pytorch_fid_file(extractor, tmp_path_factory):
    """A ``pt_inception-2015-12-05`` file in pytorch-fid's own layout: the FID-Inception weights
    (from fid-helper's network) loaded *strictly* into pytorch-fid's ``fid_inception_v3()`` —
    so every key name is pytorch-fid's — and saved from that module's ``state_dict()``."""
    pf = need_module("pytorch_fid.inception")
    weights = fid_helper_state_dict(extractor.net)
    mp = pytest.MonkeyPatch()
    mp.setattr(pf, "load_state_dict_from_url", lambda *a, **k: weights)  # instead of the download
    try:
        net = pf.fid_inception_v3()
    finally:
        mp.undo()
    path = tmp_path_factory.mktemp("fid") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)
    return path


def _pytorch_fid_features(path, x: torch.Tensor) -> torch.Tensor:
    """pytorch-fid's own feature extractor (InceptionV3, 2048-d pool block, its default resize
    and [0, 1] -> [-1, 1] normalisation) with the weights file at ``path``."""
    pf = need_module("pytorch_fid.inception")
    mp = pytest.MonkeyPatch()
    mp.setattr(pf, "load_state_dict_from_url", lambda *a, **k: torch.load(path, weights_only=True))
    try:
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        mp.undo()
    with torch.no_grad():
        return model(x)[0].flatten(1).double()


@pytest.mark.parametrize("legacy", [False, True], ids=["state_dict", "without_num_batches_tracked"])
def test_pt_inception_file_gives_pytorch_fid_features(pytorch_fid_file, crops, tmp_path, legacy):
    """The pt_inception backend reads pytorch-fid's file (its key names; also without BatchNorm's
    num_batches_tracked, as files from older torch lack it) and feeds it what pytorch-fid feeds it."""
    path = pytorch_fid_file
    if legacy:
        state = torch.load(path, weights_only=True)
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        path = tmp_path / "legacy.pth"
        torch.save(state, path)
    ours = FIDFeatureExtractor("pt_inception", path)(crops[:3])
    ref = _pytorch_fid_features(path, crops[:3])
    assert ours.shape == ref.shape == (3, 2048)
    assert (ours - ref).abs().max() <= 1e-5 * ref.abs().max()
    # the input range matters: fed fid-helper's TF range instead, the features move
    ours_tf = FIDFeatureExtractor("pt_inception", path, input_range=INPUT_RANGE_TF)(crops[:3])
    assert (ours - ours_tf).abs().max() > 100 * (ours - ref).abs().max()


def test_pt_inception_path_matches_fid_helper(extractor, pytorch_fid_file, crops, tmp_path):
    other = FIDFeatureExtractor("pt_inception", pytorch_fid_file, input_range=INPUT_RANGE_TF)
    a, b = extractor(crops[:2]), other(crops[:2])
    assert (a - b).abs().max() < 1e-4
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    from dfrec.errors import CheckpointError

    with pytest.raises(CheckpointError):
        FIDFeatureExtractor("pt_inception", tmp_path / "bad.pth")
    renamed = {k.replace("Mixed_", "Mix_"): v for k, v in torch.load(pytorch_fid_file, weights_only=True).items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(CheckpointError, match="not a pytorch-fid FID-Inception state dict"):
        FIDFeatureExtractor("pt_inception", tmp_path / "renamed.pth")


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
