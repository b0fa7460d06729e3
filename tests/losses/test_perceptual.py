"""Perceptual loss: offline EfficientNet-Lite0 substitute and the VGG19 weights-file path."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF

from dfrec.errors import CheckpointError, ConfigError
from dfrec.losses.backbones import VGG19Features, load_efficientnet_lite0_imagenet
from dfrec.losses.perceptual import PerceptualLoss


@pytest.fixture(scope="module")
def perc():
    return PerceptualLoss("efficientnet_lite0")


def _small(x: torch.Tensor) -> torch.Tensor:
    """112 px copy: the loss takes any size, and this keeps the CPU tests fast."""
    return torch.nn.functional.interpolate(x, size=(112, 112), mode="bilinear", antialias=True)


def test_efficientnet_lite0_weights_map_onto_timm():
    """The strict in-order mapping gives a working ImageNet classifier (cat → 'Egyptian cat')."""
    from skimage import data

    net = load_efficientnet_lite0_imagenet().eval()
    x = torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert net(x).argmax().item() == 285  # ImageNet class 285: Egyptian cat


def test_zero_for_identical_and_grows_with_blur(perc, fixture_faces):
    a, b = _small(fixture_faces["obama"]), _small(fixture_faces["biden"])
    assert perc(a, a).item() == pytest.approx(0.0, abs=1e-6)
    d1 = perc(a, TF.gaussian_blur(a, 3, 0.5)).item()
    d3 = perc(a, TF.gaussian_blur(a, 7, 1.5)).item()
    other = perc(a, b).item()
    assert 0 < d1 < d3 < other
    assert perc.describe()["backbone"] == "efficientnet_lite0" and perc.describe()["substitute_for_paper"]


def test_gradient_reaches_input_and_network_is_frozen(perc, fixture_faces):
    x = _small(fixture_faces["obama"]).requires_grad_(True)
    perc(x, _small(fixture_faces["obama2"])).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in perc.parameters())
    perc.train()
    assert not perc.net.training  # loss networks never leave eval mode


def test_vgg19_loads_a_torchvision_weights_file(tmp_path):
    """A randomly initialised torchvision VGG19 state dict, saved as the standard file, loads
    and reproduces the reference network's relu5_1. (Only ``features.*`` is read, so the
    test saves the trunk plus a stand-in classifier tensor, not the 548 MB classifier.)"""
    from torchvision.models import vgg

    torch.manual_seed(0)
    ref = vgg.make_layers(vgg.cfgs["E"])  # = torchvision.models.vgg19().features
    state = {f"features.{k}": v for k, v in ref.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    loss = PerceptualLoss("auto", vgg19_weights=path)  # auto picks VGG19 when a file is given
    assert loss.backbone == "vgg19" and loss.describe()["weights_file"] == str(path)
    x = torch.rand(1, 3, 64, 64)
    feats = loss.net.features(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    with torch.no_grad():  # relu5_1 equals the reference network's layer 29 output
        want = ref[:30]((x - loss.net.mean) / loss.net.std)
    assert torch.allclose(feats[-1], want, atol=1e-5)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(x, x.flip(-1)).item() > 0


def test_vgg19_bad_files(tmp_path):
    with pytest.raises(ConfigError):
        VGG19Features(tmp_path / "missing.pth")
    bad = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError):
        VGG19Features(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        VGG19Features(bad)
    with pytest.raises(ConfigError):
        PerceptualLoss("vgg16")


def test_lite0_features_from_a_trunk_copy(tmp_path, fixture_faces):
    """The loss networks read the head-less fp16 copy the GPU machine carries: the same stage
    features as from the whole file, to fp16 rounding of the weights."""
    from dfrec.losses.backbones import EfficientNetLite0Features
    from dfrec.models.ism import write_lite0_trunk

    trunk = tmp_path / "lite0-trunk.pth"
    write_lite0_trunk(trunk)
    x = _small(fixture_faces["obama"])
    with torch.no_grad():
        whole = EfficientNetLite0Features(n_stages=5).features(x)
        part = EfficientNetLite0Features(n_stages=5, weights=trunk).features(x)
    for a, b in zip(whole, part):
        assert a.shape == b.shape
        assert (a - b).abs().max() < 0.02 * a.abs().max()
    with pytest.raises(ConfigError, match="trunk copy"):
        load_efficientnet_lite0_imagenet(trunk)  # the classifier needs the head
