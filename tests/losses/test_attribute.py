"""Appearance-attribute loss: zero for identical faces, grows with real appearance changes,
and a face swap keeps the target's attributes (identity-free) better than the source's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from conftest import LFW_PEOPLE, to_tensor
from dfrec.errors import ConfigError
from dfrec.losses.attribute import REGIONS, AttributeLoss, load_asset, region_masks, template_landmarks


@pytest.fixture(scope="module")
def attr(loss_fn):
    return loss_fn.attribute


def test_regions_sit_on_the_face():
    lm = template_landmarks(224)
    masks = region_masks(lm, 224)
    assert masks.shape == (len(REGIONS), 224, 224) and masks.min() >= 0 and masks.max() <= 1
    assert (masks.reshape(len(REGIONS), -1).sum(1) > 20).all()  # every region covers some pixels
    r = {n: m for n, m in zip(REGIONS, masks)}
    ex, ey = np.round(lm[36:42].mean(0)).astype(int)
    mx, my = np.round(lm[48:60].mean(0)).astype(int)
    assert r["eyes"][ey, ex] > 0.5 and r["mouth"][my, mx] > 0.5
    assert r["background"][ey, ex] == 0 and r["hair"][my, mx] == 0
    mid = int(round(lm[27:31, 0].mean()))  # the cheeks split at the nose line (soft edge ~3σ = 6 px)
    assert r["cheek_left"][:, mid + 7:].sum() < 1e-2 and r["cheek_right"][:, : mid - 7].sum() < 1e-2


def test_asset_mean_face_is_symmetric():
    """The calibrated mean face (400 aligned LFW faces) has its chin under the nose."""
    asset = load_asset()
    assert asset is not None and asset["n_images"] >= 100
    lm = template_landmarks(224, asset=asset)
    assert abs(lm[8, 0] - lm[27:31, 0].mean()) < 3.0
    assert abs((lm[0, 0] + lm[16, 0]) / 2 - lm[27:31, 0].mean()) < 3.0


def test_zero_for_identical_and_grows_with_change(attr, fixture_faces):
    a = fixture_faces["obama"]
    assert attr.net.calibrated and "CelebA" in attr.describe()["substitute_for_paper"]
    assert attr(a, a).item() == 0.0
    blur1 = attr(TF.gaussian_blur(a, 5, 1.0), a).item()
    blur3 = attr(TF.gaussian_blur(a, 13, 3.0), a).item()
    light1 = attr((a * 1.1).clamp(0, 1), a).item()
    light2 = attr((a * 1.3).clamp(0, 1), a).item()
    assert 0 < blur1 < blur3 and 0 < light1 < light2
    assert attr(fixture_faces["biden"], a).item() > blur1


def test_gradient_reaches_input(attr, fixture_faces):
    x = fixture_faces["biden"].clone().requires_grad_(True)
    attr(x, fixture_faces["obama"]).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in attr.parameters())


def test_unknown_network_and_bad_beta():
    with pytest.raises(ConfigError):
        AttributeLoss("celeba40")
    with pytest.raises(ConfigError):
        AttributeLoss("appearance_color", beta=0)


def test_face_swap_keeps_target_attributes_and_carries_source_identity(loss_fn, lfw_pairs):
    """Over LFW landmark swaps, the forgery's attributes are closer to the target's than the
    source's are, and its identity is closer to the source than the target's is."""
    from dfrec.data.synth import FaceCrop, Synthesizer

    synth = Synthesizer(augment=False)
    faces = [lfw_pairs[p][0] for p in LFW_PEOPLE]
    fo, so, ta = [], [], []
    for i in range(len(faces)):
        t, s = faces[i], faces[(i + 1) % len(faces)]
        sample = synth(FaceCrop(t.image, t.landmarks, "t"), FaceCrop(s.image, s.landmarks, "s"), kind="swap", rng=i)
        fo.append(to_tensor(sample.forgery))
        so.append(to_tensor(sample.source))
        ta.append(to_tensor(sample.target))
    forgery, source, target = torch.cat(fo), torch.cat(so), torch.cat(ta)
    with torch.no_grad():
        a_ft = loss_fn.attribute(forgery, target, reduction="none")
        a_st = loss_fn.attribute(source, target, reduction="none")
        i_fs = loss_fn.identity(forgery, source, reduction="none")
        i_ts = loss_fn.identity(target, source, reduction="none")
    assert (a_ft < a_st).all(), (a_ft, a_st)
    assert i_fs.mean() < i_ts.mean(), (i_fs, i_ts)
