"""Multi-layer identity loss with the dlib ResNet port: zero for identical faces, smaller for
the same person than for two people, gradients reach the image."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import LFW_PEOPLE, to_tensor


@pytest.fixture(scope="module")
def id_loss(loss_fn):
    return loss_fn.identity


def test_zero_for_identical_and_frozen(id_loss, fixture_faces):
    a = fixture_faces["obama"]
    assert id_loss(a, a).item() == pytest.approx(0.0, abs=1e-5)
    assert all(not p.requires_grad for p in id_loss.parameters())
    assert not id_loss.encoder.training


def test_same_person_closer_than_different_people_fixtures(id_loss, fixture_faces):
    o, o2, b = fixture_faces["obama"], fixture_faces["obama2"], fixture_faces["biden"]
    d = id_loss(torch.cat([o, o, o2]), torch.cat([o2, b, b]), reduction="none")
    assert d[0] < d[1] and d[0] < d[2], d


def test_same_person_closer_than_different_people_lfw(id_loss, lfw_pairs):
    crops = {p: torch.cat([to_tensor(a.image) for a in lfw_pairs[p]]) for p in LFW_PEOPLE}
    x = torch.cat([crops[p] for p in LFW_PEOPLE])  # (8, 3, 224, 224): two photos per person
    names = [p for p in LFW_PEOPLE for _ in range(2)]
    pairs = list(itertools.combinations(range(len(names)), 2))
    with torch.no_grad():
        d = id_loss(x[[i for i, _ in pairs]], x[[j for _, j in pairs]], reduction="none")
    same = torch.tensor([names[i] == names[j] for i, j in pairs])
    assert d[same].max() < d[~same].median(), (d[same], d[~same])
    assert d[same].mean() < 0.7 * d[~same].mean()


def test_gradient_reaches_the_recovered_face(id_loss, fixture_faces):
    x = fixture_faces["obama2"].clone().requires_grad_(True)
    loss = id_loss(x, fixture_faces["obama"])
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # a small step against the gradient lowers the loss (it is a usable training signal)
    with torch.no_grad():
        y = (x - 2e-3 * x.grad.sign()).clamp(0, 1)
        assert id_loss(y, fixture_faces["obama"]) < loss
