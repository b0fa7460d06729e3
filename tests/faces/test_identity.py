"""dlib ResNet port: parity with dlib, weights formats, differentiable chip, similarity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfrec.errors import CheckpointError
from dfrec.faces import dlib_resnet
from dfrec.faces import identity as ident
from dfrec.faces.dlib_resnet import IdentityNet, add_prev
from dfrec.faces.identity import IdentityEncoder, extract_chips, idsim, is_same_person, l2_distance
from needs import need_module

dlib = need_module("dlib")


@pytest.fixture(scope="module")
def net() -> IdentityNet:
    return IdentityNet.from_file()


@pytest.fixture(scope="module")
def faces(fixture_dir, astronaut):
    """name -> (image, landmarks (68, 2), dlib chip (150, 150, 3) uint8, dlib descriptor (128,))."""
    import face_recognition_models as frm

    from dfrec.io import read_image

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(frm.pose_predictor_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    images = {n: read_image(fixture_dir / f"{n}.jpg") for n in ("obama", "obama2", "biden")}
    images["astronaut"] = astronaut
    out = {}
    for name, img in images.items():
        shape = sp(img, det(img, 1)[0])
        chip = dlib.get_face_chip(img, shape, 150, 0.25)
        lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        out[name] = (img, lm, np.asarray(chip), np.array(rec.compute_face_descriptor(chip), np.float32))
    return out


def _to_tensor(images) -> torch.Tensor:
    return torch.from_numpy(np.stack(images).astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()


def test_parity_with_dlib_compute_face_descriptor(net, faces):
    chips = _to_tensor([f[2] for f in faces.values()])
    ref = np.stack([f[3] for f in faces.values()])
    with torch.no_grad():
        emb = net(chips).numpy()
    assert np.abs(emb - ref).max() <= 1e-5
    # and dlib_chip() (from landmarks) cuts exactly dlib's chip
    for img, lm, chip, _ in faces.values():
        np.testing.assert_array_equal(ident.dlib_chip(img, lm), chip)


def test_features_are_stage_outputs_and_embedding(net, faces):
    chips = _to_tensor([faces["obama"][2]])
    with torch.no_grad():
        feats = net.features(chips)
        emb = net(chips)
    assert [tuple(f.shape) for f in feats] == [(1, 32, 35, 35), (1, 64, 17, 17), (1, 128, 8, 8), (1, 256, 4, 4), (1, 128)]
    assert all(bool((f >= 0).all()) for f in feats[:4])  # after ReLU
    torch.testing.assert_close(feats[-1], emb)


def test_add_prev_zero_pads_the_smaller_tensor():
    a = torch.ones(1, 4, 3, 3)
    b = torch.full((1, 2, 4, 4), 2.0)
    out = add_prev(a, b)
    assert out.shape == (1, 4, 4, 4)
    assert torch.equal(out[:, :2, :3, :3], torch.full((1, 2, 3, 3), 3.0))
    assert torch.equal(out[:, 2:, :3, :3], torch.ones(1, 2, 3, 3))  # b padded with zeros in C
    assert torch.equal(out[:, :2, 3, :], torch.full((1, 2, 4), 2.0))  # a padded with zeros in H
    assert torch.equal(out[:, 2:, 3, :], torch.zeros(1, 2, 4))


def test_safetensors_roundtrip(net, faces, tmp_path):
    chips = _to_tensor([faces["biden"][2]])
    with torch.no_grad():
        ref = net(chips)
        p32 = net.save_safetensors(tmp_path / "id32.safetensors")
        p16 = net.save_safetensors(tmp_path / "id16.safetensors", torch.float16)
        e32 = IdentityNet.from_file(p32)(chips)
        e16 = IdentityNet.from_file(p16)(chips)
    assert torch.equal(e32, ref)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    assert float(l2_distance(e16, ref)) < 0.01  # fp16 weights: far below the 0.6 decision scale


def test_export_command(tmp_path, capsys):
    from dfrec.cli.main import main

    assert main(["export-identity", str(tmp_path / "w.safetensors"), "--fp16"]) == 0
    assert (tmp_path / "w.safetensors").stat().st_size < 12_000_000
    assert IdentityNet.from_file(tmp_path / "w.safetensors").fc.weight.shape == (128, 256)


def test_bad_weight_files(tmp_path):
    trunc = tmp_path / "trunc.dat"
    trunc.write_bytes(dlib_resnet.default_model_path().read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a valid dlib network"):
        IdentityNet.from_file(trunc)
    foreign = tmp_path / "foreign.dat"
    foreign.write_bytes(b"\x01\x05hello" + bytes(100))
    with pytest.raises(CheckpointError):
        IdentityNet.from_file(foreign)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError):
        IdentityNet.from_file(bad)
    with pytest.raises(CheckpointError, match="no such"):
        IdentityNet.from_file(tmp_path / "missing.dat")


def test_weights_are_cached_per_process():
    assert dlib_resnet.load_state() is dlib_resnet.load_state()


def test_extract_chips_identity_map_reproduces_image():
    img = torch.rand(2, 3, 150, 150)
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(extract_chips(img, eye), img, atol=1e-4, rtol=0)
    # a shift by whole pixels moves the content; outside the image is black
    shift = torch.tensor([[1.0, 0.0, 10.0], [0.0, 1.0, 0.0]])
    out = extract_chips(img, shift)
    torch.testing.assert_close(out[..., :140], img[..., 10:], atol=1e-4, rtol=0)
    assert float(out[..., 141:].abs().max()) == 0.0


def _aligned(faces, name, size=224):
    from dfrec.faces.align import align_face

    img, lm = faces[name][0], faces[name][1]
    return _to_tensor([align_face(img, lm, size=size).image])


def test_encoder_chip_from_aligned_crop_matches_dlib_chip(faces):
    enc = IdentityEncoder()
    for name in ("obama2", "biden", "astronaut"):
        with torch.no_grad():
            e = enc.embed(_aligned(faces, name))[0]
        # measured 0.03-0.07 (resampling twice: image -> crop -> chip); same/different scale is 0.6
        assert float(l2_distance(e, torch.from_numpy(faces[name][3]))) < 0.1


def test_encoder_pyramid_for_large_crops(faces):
    """A 640 crop (chip scale > 2: dlib would use its pyramid) embeds like the 224 crop."""
    small, large = IdentityEncoder(size=224), IdentityEncoder(size=640, net=IdentityNet.from_file())
    with torch.no_grad():
        e224 = small.embed(_aligned(faces, "biden", 224))
        e640 = large.embed(_aligned(faces, "biden", 640))
    assert float(l2_distance(e224, e640)) < 0.1


def test_gradient_flows_to_the_crop(faces):
    enc = IdentityEncoder()
    crop = _aligned(faces, "obama").requires_grad_(True)
    target = torch.from_numpy(faces["biden"][3])[None]
    feats = enc.features(crop)
    loss = sum(f.mean() for f in feats[:4]) + l2_distance(feats[-1], target).sum()
    loss.backward()
    g = crop.grad
    assert g is not None and torch.isfinite(g).all()
    # the chip is the central part of the crop: gradient there, none in the far corners
    assert float(g[..., 80:140, 80:140].abs().sum()) > 0
    assert float(g[..., :10, :10].abs().sum()) == 0.0
    assert all(not p.requires_grad for p in enc.parameters())


@pytest.fixture(scope="module")
def ours(faces):
    """dfrec's own embeddings, as ``recover``/``evaluate`` compute them: IdentityEncoder on the 224 aligned crop."""
    enc = IdentityEncoder()
    with torch.no_grad():
        return {n: enc.embed(_aligned(faces, n))[0] for n in faces}


def test_same_person_is_closer(ours):
    e = ours
    same = float(l2_distance(e["obama"], e["obama2"]))
    diffs = [float(l2_distance(e["obama"], e[n])) for n in ("biden", "astronaut")]
    assert same < 0.6 < min(diffs)
    assert bool(is_same_person(same)) and not is_same_person(min(diffs))
    assert torch.equal(is_same_person(torch.tensor([0.3, 0.7])), torch.tensor([True, False]))


def test_idsim_spreads_same_and_different(ours):
    e = ours
    stack = torch.stack(list(e.values()))
    torch.testing.assert_close(idsim(stack, stack), torch.ones(len(e)))
    same = float(idsim(e["obama"], e["obama2"]))
    diff = max(float(idsim(e["obama"], e[n])) for n in ("biden", "astronaut"))
    raw_gap = float(ident.cosine(e["obama"], e["obama2"])) - max(
        float(ident.cosine(e["obama"], e[n])) for n in ("biden", "astronaut"))
    assert same - diff > 2 * raw_gap > 0  # centring spreads the scale
    assert ident.mean_embedding().shape == (128,)


def test_weights_path_from_environment(net, tmp_path, monkeypatch):
    p = net.save_safetensors(tmp_path / "env.safetensors", torch.float16)
    monkeypatch.setenv("DFREC_IDENTITY_WEIGHTS", str(p))
    assert dlib_resnet.default_model_path() == p
    assert IdentityNet.from_file().fc.weight.dtype == torch.float32
