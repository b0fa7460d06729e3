"""ISM: the offline ImageNet Lite0 initialisation really is ImageNet-trained and lands in the encoder."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from dfrec.models.ism import ISM, map_lite0_onto


def _chelsea() -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(np.ascontiguousarray(data.chelsea())).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(img, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)


def _lukemelas_name(timm_name: str, blocks_per_stage: list[int]) -> str:
    """The package's (lukemelas EfficientNet) name of a timm ``tf_efficientnet_lite0`` tensor,
    translated by layer role, independently of the order-based mapping under test."""
    top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"}
    parts = timm_name.split(".")
    if parts[0] != "blocks":
        return ".".join([top[parts[0]], *parts[1:]])
    stage, idx, layer, leaf = int(parts[1]), int(parts[2]), parts[3], ".".join(parts[4:])
    flat = sum(blocks_per_stage[:stage]) + idx  # lukemelas numbers the blocks 0..15 across stages
    if flat == 0:  # depthwise-separable block (no expansion): dw conv, bn, projection, bn
        roles = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
    else:  # inverted residual: expansion, bn, dw conv, bn, projection, bn
        roles = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
                 "conv_pwl": "_project_conv", "bn3": "_bn2"}
    return f"_blocks.{flat}.{roles[layer]}.{leaf}"


def test_lite0_mapping_puts_each_source_tensor_where_its_role_says():
    """Every tensor timm's network receives is, bit for bit, the package's tensor of the same
    role (translated by name, not by order), and every package tensor is used exactly once."""
    from dfrec.models.ism import efficientnet_lite0_state_dict

    src = efficientnet_lite0_state_dict()
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    assert map_lite0_onto(model) == len(model.state_dict()) == len(src)
    per_stage = [len(stage) for stage in model.blocks]
    used = set()
    for name, tensor in model.state_dict().items():
        theirs = _lukemelas_name(name, per_stage)
        assert theirs in src, (name, theirs)
        assert torch.equal(tensor, src[theirs].to(tensor.dtype)), name
        used.add(theirs)
    assert used == set(src)


def test_lite0_weights_classify_a_cat_as_a_cat():
    """Mapped onto timm's tf_efficientnet_lite0 the weights give ImageNet cat classes for a cat photo."""
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    map_lite0_onto(model)
    with torch.no_grad():
        probs = model((_chelsea() - 0.5) / 0.5).softmax(-1)[0]
    top5 = probs.topk(5).indices.tolist()
    cats = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert top5[0] in cats and probs[list(cats)].sum() > 0.5


def test_ism_encoder_carries_the_same_weights_as_timm():
    ism = ISM(encoder="tu-tf_efficientnet_lite0", encoder_weights="efficientnet_lite0_imagenet", input_norm="inception").eval()
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True).eval()
    map_lite0_onto(ref)
    x = _chelsea()
    with torch.no_grad():
        ours = ism.net.encoder((x - 0.5) / 0.5)
        theirs = ref((x - 0.5) / 0.5)
    # smp keeps output stride 16 (last stage dilated), so compare the four stride-<=16 stages
    for a, b in zip(ours[1:5], theirs[:4]):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    m, logit = ism(x)
    assert m.shape == (1, 1, 224, 224) and logit.shape == (1,)
    assert 0 <= m.min() and m.max() <= 1


def test_random_init_differs_from_imagenet():
    torch.manual_seed(0)
    rnd = ISM(encoder="tu-tf_efficientnet_lite0", encoder_weights="none")
    pre = ISM(encoder="tu-tf_efficientnet_lite0", encoder_weights="efficientnet_lite0_imagenet")
    a = rnd.net.encoder.state_dict()["model.conv_stem.weight"]
    b = pre.net.encoder.state_dict()["model.conv_stem.weight"]
    assert not torch.allclose(a, b)


def test_bad_encoder_is_a_config_error():
    from dfrec.errors import ConfigError

    with pytest.raises(ConfigError):
        ISM(encoder="no-such-encoder")


def test_trunk_copy_fills_the_encoder_and_refuses_the_classifier(tmp_path, monkeypatch):
    """A trunk copy of the Lite0 weights (no classifier head: what the GPU machine carries) gives
    the ISM's encoder the same tensors as the whole file, to fp16 rounding, and a network that
    needs the head gets a ConfigError naming the trunk copy; a damaged copy is a CheckpointError."""
    from dfrec.errors import CheckpointError, ConfigError
    from dfrec.models.ism import LITE0_ENV, efficientnet_lite0_state_dict, write_lite0_trunk

    trunk = tmp_path / "lite0-trunk.pth"
    assert write_lite0_trunk(trunk) == len(efficientnet_lite0_state_dict()) - 8 == 288
    whole = ISM(encoder="tu-tf_efficientnet_lite0", encoder_weights="efficientnet_lite0_imagenet").net.encoder
    monkeypatch.setenv(LITE0_ENV, str(trunk))
    part = ISM(encoder="tu-tf_efficientnet_lite0", encoder_weights="efficientnet_lite0_imagenet").net.encoder
    a, b = whole.state_dict(), part.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(b[k], a[k].half().to(a[k].dtype)), k
    with pytest.raises(ConfigError, match="trunk copy"):
        map_lite0_onto(timm.create_model("tf_efficientnet_lite0", pretrained=False))
    trunk.write_bytes(trunk.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot read"):
        efficientnet_lite0_state_dict(trunk)
