"""Metrics against references: scikit-image (PSNR/SSIM), FID properties, pose geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dfrec.metrics.accuracy import calibrate_threshold, faithful_copy, recovery_accuracy
from dfrec.metrics.attributes import ATTRIBUTE_NAMES, attribute_consistency, attribute_vector
from dfrec.metrics.psnr_ssim import PSNR, SSIM, psnr, ssim


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()


@pytest.fixture(scope="module")
def pair(astronaut):
    a = astronaut[100:260, 150:330].astype(np.float64) / 255.0
    rng = np.random.default_rng(0)
    b = np.clip(a + rng.normal(0, 0.06, a.shape), 0, 1)
    c = np.clip(np.roll(a, 3, axis=1) * 0.9 + 0.05, 0, 1)
    return a, b, c


def test_psnr_ssim_match_skimage(pair):
    a, b, c = pair
    for other in (b, c):
        ref_ssim = structural_similarity(a, other, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1, channel_axis=2)
        ref_psnr = peak_signal_noise_ratio(a, other, data_range=1)
        assert abs(float(ssim(_t(a), _t(other))) - ref_ssim) < 1e-4
        assert abs(float(psnr(_t(a), _t(other))) - ref_psnr) < 1e-4
        assert abs(float(SSIM()(_t(a), _t(other))) - ref_ssim) < 1e-4
        assert abs(float(PSNR()(_t(a), _t(other))) - ref_psnr) < 1e-4
    assert float(ssim(_t(a), _t(a))) == pytest.approx(1.0, abs=1e-6)
    batch = torch.cat([_t(b), _t(c)])
    per = ssim(torch.cat([_t(a), _t(a)]), batch, reduction="none")
    assert per.shape == (2,) and per[0] != per[1]


def test_metric_input_validation(pair):
    a, b, _ = pair
    with pytest.raises(ValueError, match="same shape"):
        psnr(_t(a), _t(b)[..., :-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ssim(_t(a) * 3, _t(b))
    with pytest.raises(ValueError, match="N, C, H, W"):
        psnr(_t(a)[0], _t(b)[0])


def test_attribute_consistency_is_zero_for_same_and_grows_with_mouth_opening():
    from dfrec.metrics.pose import euler_to_rotation, project_template

    lm = project_template(euler_to_rotation(0, 0, 0))
    assert attribute_vector(lm).shape == (len(ATTRIBUTE_NAMES),)
    same = attribute_consistency(lm, lm * 1.7 + 20)  # scale/translation invariant
    assert same["attr_l1"] < 1e-9 and same["expression_nme"] < 1e-9
    prev = 0.0
    for gap in (2.0, 5.0, 10.0):
        open_mouth = lm.copy()
        open_mouth[[56, 57, 58, 65, 66, 67], 1] += gap
        r = attribute_consistency(lm, open_mouth)
        assert r["d_mouth_open"] > prev and r["d_eye_open_l"] == 0.0
        prev = r["d_mouth_open"]


def test_recovery_accuracy_rule_and_calibration():
    scores = np.array([0.99, 0.95, 0.5, 0.97, 0.2])
    fake = np.array([0, 0, 0, 1, 1])
    r = recovery_accuracy(scores, fake, tau=0.9)
    assert r["acc_real"] == pytest.approx(2 / 3) and r["acc_fake"] == pytest.approx(0.5)
    assert r["acc"] == pytest.approx(3 / 5)
    tau = calibrate_threshold(np.linspace(0.8, 1.0, 101), quantile=0.05)
    assert tau == pytest.approx(0.81)
    x = torch.rand(2, 3, 64, 64)
    y = faithful_copy(x)
    assert y.shape == x.shape and 0 < (y - x).abs().mean() < 0.3


def test_idsim_same_photo_is_one_and_other_person_lower(fixture_dir):
    from dfrec.metrics.idsim import IDSim
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import read_image

    crops = []
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        img = read_image(fixture_dir / name)
        crops.append(align_face(img, detect_faces(img)[0].landmarks).image)
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    m = IDSim()
    same = m(x, x)
    assert torch.allclose(same["idsim"], torch.ones(3), atol=1e-5)
    assert torch.all(same["verif"] == 1) and torch.all(same["l2"] < 1e-4)
    pairs = m(x[[0, 0]], x[[1, 2]])  # obama vs obama2, obama vs biden
    assert pairs["idsim"][0] > pairs["idsim"][1]
    assert pairs["verif"][0] == 1 and pairs["verif"][1] == 0


def test_separation_scores_flag_a_target_that_carries_the_source(fixture_dir):
    """A recovered target that is the source's face (another photo of Obama) scores high against
    the true source; the true target (Biden) scores low; samples of one person are NaN."""
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import read_image
    from dfrec.metrics.idsim import SEPARATION, IDSim, separation_scores

    crops = []
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        img = read_image(fixture_dir / name)
        crops.append(align_face(img, detect_faces(img)[0].landmarks).image)
    e_obama, e_obama2, e_biden = IDSim().embed(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0)
    true_src = torch.stack([e_obama, e_obama, e_obama])
    true_tgt = torch.stack([e_biden, e_biden, e_obama2])  # the third sample: one person twice
    rec_tgt = torch.stack([e_obama2, e_biden, e_obama2])  # failed, perfect, (self)
    rec_src = torch.stack([e_obama2, e_obama, e_obama])
    two = torch.tensor([True, True, False])
    sep = separation_scores(rec_tgt, rec_src, true_src, true_tgt, two)
    assert tuple(sep) == SEPARATION
    assert sep["target_source"][0] > 0.5 > sep["target_source"][1]  # carries the source vs separated
    assert torch.isclose(sep["target_source"][1], sep["pair_true"][1])  # a perfect recovery = the true pair
    assert sep["pair"][0] > sep["pair"][1]
    # a recovered source that kept the target's head (Biden) vs a perfect one (Obama)
    st = separation_scores(rec_tgt, torch.stack([e_biden, e_obama, e_obama]), true_src, true_tgt, two)["source_target"]
    assert st[0] > 0.5 > st[1] and torch.isclose(st[1], sep["pair_true"][1])
    assert all(torch.isnan(v[2]) for v in sep.values())
    no_source = separation_scores(rec_tgt, None, true_src, true_tgt)
    assert "pair" not in no_source and "source_target" not in no_source  # no source: no pair
    with pytest.raises(ValueError, match="embeddings"):
        separation_scores(rec_tgt[:2], rec_src, true_src, true_tgt)
