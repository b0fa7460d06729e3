"""Synthesiser: determinism, mask correctness per kind, config handling, augmentations."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from dfrec.data.synth import KINDS, SynthConfig, Synthesizer
from dfrec.data.synth.augment import augment, gaussian_noise, jpeg, rescale_round_trip, translate, unsharp_mask
from dfrec.data.synth.config import AugmentConfig
from dfrec.data.synth.blend import landmark_distance, nearest_donor
from dfrec.data.synth.masks import hull_polygons, fill_polygons
from dfrec.data.synth.warp import piecewise_affine
from dfrec.errors import ConfigError


@pytest.fixture(scope="module")
def pair(fixture_faces):
    by = {f.key: f for f in fixture_faces}
    return by["obama"], by["biden"]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_sample(pair, fixture_faces, kind):
    t, s = pair
    synth = Synthesizer(SynthConfig())
    a = synth(t, s, kind=kind, rng=7, donors=fixture_faces[3:])
    b = synth(t, s, kind=kind, rng=7, donors=fixture_faces[3:])
    for name in ("forgery", "source", "target", "mask"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.info == b.info


def test_different_seed_different_sample(pair):
    t, s = pair
    synth = Synthesizer(SynthConfig())
    a, b = synth(t, s, kind="swap", rng=1), synth(t, s, kind="swap", rng=2)
    assert not np.array_equal(a.forgery, b.forgery)


@pytest.mark.parametrize("kind", ["swap", "blend", "self"])
def test_outside_mask_forgery_equals_target(pair, kind):
    t, s = pair
    synth = Synthesizer(SynthConfig(), augment=False)
    for seed in range(6):
        smp = synth(t, s, kind=kind, rng=seed)
        assert smp.mask.dtype == np.float32 and smp.mask.shape == (224, 224)
        assert smp.mask.min() >= 0.0 and smp.mask.max() <= 1.0
        out = smp.mask == 0
        assert out.mean() > 0.3, "mask covers nearly the whole crop"
        assert np.array_equal(smp.forgery[out], smp.target[out])
        # inside the mask the forgery really changed
        assert smp.mask.max() >= 0.2
        inside = smp.mask >= 0.5 * smp.mask.max()
        assert inside.sum() > 100
        diff = np.abs(smp.forgery.astype(int) - smp.target.astype(int)).mean(-1)
        assert diff[inside].mean() > 1.0, (kind, seed, diff[inside].mean())


def test_swap_mask_covers_the_inner_face(pair):
    t, s = pair
    synth = Synthesizer(SynthConfig(), augment=False)
    smp = synth(t, s, kind="swap", rng=3)
    lm = np.round(t.landmarks[30]).astype(int)  # nose tip is always inside every hull type
    assert smp.mask[lm[1], lm[0]] > 0.9
    assert smp.mask[2, 2] == 0.0  # crop corner never


def test_swap_returns_the_right_faces(pair):
    t, s = pair
    smp = Synthesizer(SynthConfig(), augment=False)(t, s, kind="swap", rng=0)
    assert np.array_equal(smp.source, s.image) and np.array_equal(smp.target, t.image)
    assert (smp.source_id, smp.target_id, smp.is_fake) == ("biden", "obama", True)


def test_real_is_identity_with_zero_mask(pair):
    t, s = pair
    smp = Synthesizer(SynthConfig(), augment=False)(t, s, kind="real", rng=0)
    assert not smp.mask.any() and not smp.is_fake
    assert np.array_equal(smp.forgery, t.image) and np.array_equal(smp.source, t.image)
    assert np.array_equal(smp.target, t.image)


def test_self_blend_source_is_target(pair):
    t, _ = pair
    smp = Synthesizer(SynthConfig(), augment=False)(t, kind="self", rng=0)
    assert smp.source is smp.target and smp.source_id == smp.target_id == "obama"


def test_blend_picks_nearest_landmark_donor(fixture_faces):
    t = fixture_faces[0]
    cands = [f.landmarks for f in fixture_faces[1:]]
    d = landmark_distance(t.landmarks, np.stack(cands))
    assert nearest_donor(t.landmarks, cands) == int(np.argmin(d))
    # invariant to crop placement and scale
    moved = t.landmarks * 1.3 + 11.0
    assert landmark_distance(t.landmarks, moved[None])[0] < 1e-3


def test_warp_maps_landmarks(pair):
    """A piecewise-affine warp puts the source pixels at the landmark of the target."""
    t, s = pair
    img = np.zeros((224, 224, 3), np.uint8)
    p = np.round(s.landmarks[30]).astype(int)
    img[p[1] - 2:p[1] + 3, p[0] - 2:p[0] + 3] = 255
    out = piecewise_affine(img, s.landmarks, t.landmarks, (224, 224))
    q = np.round(t.landmarks[30]).astype(int)
    assert out[q[1], q[0]].min() > 100


def test_kind_mix_follows_config(pair):
    synth = Synthesizer(SynthConfig().with_kinds({"swap": 3, "real": 1}))
    rng = np.random.default_rng(0)
    kinds = [synth.draw_kind(rng) for _ in range(2000)]
    assert set(kinds) == {"swap", "real"}
    assert 0.70 < kinds.count("swap") / 2000 < 0.80


def test_resized_crop_scales_landmarks(pair):
    t, _ = pair
    small = t.resized(112)
    assert small.image.shape == (112, 112, 3)
    np.testing.assert_allclose((small.landmarks + 0.5) * 2 - 0.5, t.landmarks, atol=1e-4)
    back = small.resized(224)
    smp = Synthesizer(SynthConfig(), augment=False)(small, t.resized(160), kind="swap", rng=0)
    assert smp.forgery.shape == (224, 224, 3) and back.image.shape == (224, 224, 3)


def test_config_yaml_roundtrip_and_errors(tmp_path):
    import yaml

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"kinds": {"swap": 1, "self": 1}, "augment": {"jpeg_prob": 0.0},
                                 "swap": {"mask": {"feather": [0.01, 0.02]}}}))
    cfg = SynthConfig.from_yaml(p)
    assert cfg.kinds == {"swap": 1, "self": 1} and cfg.augment.jpeg_prob == 0.0
    assert cfg.swap.mask.feather == (0.01, 0.02) and cfg.swap.mask.deform == SynthConfig().swap.mask.deform
    assert SynthConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    for bad in ({"kinds": {"morph": 1}}, {"augment": {"jpeg_prob": 2}}, {"swap": {"colour": 1}},
                {"augment": {"jpeg_quality": [90, 50]}}, {"blend": {"mask": {"hull_weights": {"oval": 1}}}},
                {"augment": {"rescale": [0.0, 0.5]}}, {"augment": {"rescale": [0.5, 1.5]}},
                {"augment": {"sharpen_prob": 1.5}}):
        with pytest.raises(ConfigError):
            SynthConfig.from_dict(bad)


def test_hull_types_nest(pair):
    t, _ = pair
    full = fill_polygons(hull_polygons(t.landmarks, "full"), (224, 224)) > 0
    ext = fill_polygons(hull_polygons(t.landmarks, "extended", 0.3), (224, 224)) > 0
    inner = fill_polygons(hull_polygons(t.landmarks, "inner"), (224, 224)) > 0
    comp = fill_polygons(hull_polygons(t.landmarks, "components"), (224, 224)) > 0
    assert ext.sum() > full.sum() > inner.sum() > comp.sum() > 0
    assert (inner & ~full).sum() < 0.02 * inner.sum()


def test_augment_keeps_mask_consistent(pair):
    """Flip + jitter apply to all images and the mask alike: outside the mask forgery == target."""
    t, s = pair
    cfg = SynthConfig.from_dict({"augment": {"flip_prob": 1.0, "jitter_prob": 1.0, "jpeg_prob": 0.0,
                                             "blur_prob": 0.0, "noise_prob": 0.0}})
    smp = Synthesizer(cfg)(t, s, kind="swap", rng=5)
    assert smp.info["augment"]["flip"]
    out = smp.mask == 0
    assert np.array_equal(smp.forgery[out], smp.target[out])
    lm = np.round(t.landmarks[30]).astype(int)
    assert smp.mask[lm[1], 223 - lm[0]] > 0.9  # flipped mask


def test_degradations_touch_only_the_forgery(pair):
    t, s = pair
    cfg = SynthConfig.from_dict({"augment": {"flip_prob": 0.0, "jitter_prob": 0.0, "jpeg_prob": 1.0,
                                             "blur_prob": 1.0, "noise_prob": 1.0}})
    smp = Synthesizer(cfg)(t, s, kind="real", rng=0)
    assert np.array_equal(smp.target, t.image) and not np.array_equal(smp.forgery, t.image)
    assert {"jpeg_quality", "blur_kernel", "noise_var"} <= set(smp.info["augment"])


def test_degradation_primitives(pair):
    img = pair[0].image
    rng = np.random.default_rng(0)
    noisy = gaussian_noise(img, 50.0, rng)
    assert 4.0 < np.std(noisy.astype(float) - img.astype(float)) < 9.0  # sqrt(50) ~ 7.1, minus clipping
    assert np.abs(jpeg(img, 95).astype(int) - img.astype(int)).mean() < np.abs(jpeg(img, 20).astype(int) - img.astype(int)).mean()


def _detail(img: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image: how much fine detail there is."""
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)).mean())


def test_rescale_and_sharpen_primitives(pair):
    img = pair[0].image
    down = rescale_round_trip(img, 0.4)
    assert down.shape == img.shape and down.dtype == np.uint8
    assert _detail(down) < 0.7 * _detail(img)                # detail lost at 40 % resolution
    assert _detail(rescale_round_trip(img, 0.4, quality=30, up=cv2.INTER_CUBIC)) < _detail(img)
    sharp = unsharp_mask(img, 1.5)
    assert sharp.shape == img.shape and _detail(sharp) > 1.3 * _detail(img)
    assert np.array_equal(unsharp_mask(img, 0.0), img)


def test_rescale_and_sharpen_touch_only_the_forgery(pair):
    t, s = pair
    cfg = SynthConfig.from_dict({"augment": {"flip_prob": 0.0, "jitter_prob": 0.0, "jpeg_prob": 0.0, "blur_prob": 0.0,
                                             "noise_prob": 0.0, "rescale_prob": 1.0, "rescale_jpeg_prob": 1.0,
                                             "sharpen_prob": 1.0}})
    smp = Synthesizer(cfg)(t, s, kind="real", rng=3)
    assert np.array_equal(smp.target, t.image) and not np.array_equal(smp.forgery, t.image)
    assert {"rescale", "rescale_jpeg_quality", "sharpen"} <= set(smp.info["augment"])
    assert cfg.augment.rescale[0] <= smp.info["augment"]["rescale"] <= cfg.augment.rescale[1]


def test_rescale_and_sharpen_off_draw_nothing(pair):
    """With their probabilities at 0 the new steps take no random numbers: a seeded sample of a
    config without them is the sample it always was, whatever their ranges say."""
    t, s = pair
    smp = Synthesizer(SynthConfig(), augment=False)(t, s, kind="swap", rng=0)
    other = AugmentConfig(rescale=(0.5, 0.6), rescale_jpeg_prob=1.0, sharpen_amount=(2.0, 3.0), shift_px=7,
                          small_face_eyes=(5.0, 6.0), webp_prob=0.0, picture_scale=(0.4, 0.5), picture_rotate=30.0,
                          h264_crf=(20, 21))
    outs = []
    for cfg in (AugmentConfig(), other):
        rng = np.random.default_rng(11)
        a = augment(dataclasses.replace(smp, info={}), cfg, rng)
        outs.append((a.forgery, a.info, rng.random()))
    assert np.array_equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1] and outs[0][2] == outs[1][2]


def test_webp_replaces_jpeg_in_the_share_of_round_trips_asked_for(pair):
    """``webp_prob``: the lossy round trips (the last step's and the rescale's) made as WebP at the
    quality drawn, recorded under the codec's name; WebP at quality 30 is not JPEG at 30 and smooths
    the face; a share outside [0, 1] is refused."""
    from dfrec.data.synth.augment import compress, webp

    t, s = pair
    img = t.image
    w30 = webp(img, 30)
    assert w30.shape == img.shape and w30.dtype == np.uint8
    assert not np.array_equal(w30, jpeg(img, 30)) and np.array_equal(compress(img, 30, "webp"), w30)
    assert _detail(w30) < 0.9 * _detail(img)
    base = {"flip_prob": 0.0, "jitter_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0, "jpeg_prob": 1.0,
            "jpeg_quality": [30, 30], "rescale_prob": 1.0, "rescale_jpeg_prob": 1.0}
    for share, codec in ((1.0, "webp"), (0.0, "jpeg")):
        smp = Synthesizer(SynthConfig.from_dict({"augment": {**base, "webp_prob": share}}))(t, s, kind="real", rng=3)
        info = smp.info["augment"]
        assert info[f"{codec}_quality"] == 30 and info[f"rescale_{codec}_quality"] == 30
        other = "jpeg" if codec == "webp" else "webp"
        assert f"{other}_quality" not in info and f"rescale_{other}_quality" not in info
        assert np.array_equal(smp.target, t.image)
    with pytest.raises(ConfigError, match="webp_prob"):
        SynthConfig.from_dict({"augment": {"webp_prob": 1.5}})


def test_h264_replaces_the_last_round_trip_in_the_share_asked_for(pair, monkeypatch):
    """``h264_prob``: the last step's round trip made as a frame of H.264 video at the CRF drawn,
    recorded as ``h264_crf``, the true faces as they were; coarser the higher the CRF; a CRF outside
    x264's [0, 51] is refused, and so is a config asking for H.264 where no libx264 loads."""
    from needs import skip_or_fail

    from dfrec import x264
    from dfrec.data.synth.augment import compress

    if x264.find_library() is None:
        skip_or_fail("libx264 not found (pip install -e .[video])")
    t, s = pair
    img = t.image
    c20, c44 = compress(img, 20, "h264"), compress(img, 44, "h264")
    assert c20.shape == img.shape and c20.dtype == np.uint8
    assert _detail(c44) < 0.9 * _detail(c20) and not np.array_equal(c20, jpeg(img, 90))
    base = {"flip_prob": 0.0, "jitter_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0, "jpeg_prob": 1.0,
            "jpeg_quality": [60, 60], "h264_crf": [30, 34]}
    video = Synthesizer(SynthConfig.from_dict({"augment": {**base, "h264_prob": 1.0}}))(t, s, kind="swap", rng=3)
    photo = Synthesizer(SynthConfig.from_dict({"augment": {**base, "h264_prob": 0.0}}))(t, s, kind="swap", rng=3)
    assert 30 <= video.info["augment"]["h264_crf"] <= 34 and "jpeg_quality" not in video.info["augment"]
    assert photo.info["augment"]["jpeg_quality"] == 60 and "h264_crf" not in photo.info["augment"]
    assert np.array_equal(video.target, photo.target) and np.array_equal(video.mask, photo.mask)
    assert not np.array_equal(video.forgery, photo.forgery)
    with pytest.raises(ConfigError, match="h264_crf"):
        SynthConfig.from_dict({"augment": {"h264_crf": [20, 60]}})
    monkeypatch.setenv(x264.ENV, "/nonexistent/libx264.so")
    with pytest.raises(ConfigError, match="h264_prob 0.5 needs libx264: cannot load"):
        Synthesizer(SynthConfig.from_dict({"augment": {"h264_prob": 0.5}}))
    Synthesizer(SynthConfig.from_dict({"augment": {"h264_prob": 0.5}}), augment=False)  # no augmentation: not needed


def _grid_ratio(image: np.ndarray) -> float:
    """Mean absolute step across the crop's own 8-px block borders (columns 7|8, 15|16, ...) over the
    mean step elsewhere: ~1 for a photo, > 1 where a codec's blocks sit on the crop's grid."""
    g = np.abs(np.diff(image.astype(np.float32).mean(2), axis=1)).mean(0)
    border = np.zeros(len(g), bool)
    border[7::8] = True
    return float(g[border].mean() / g[~border].mean())


def test_picture_round_trip_puts_the_codecs_blocks_off_the_crops_grid(pair):
    """``picture_round_trip``: the crop encoded as part of a picture (smaller, turned, at another block
    phase) and aligned back: about the crop at a high quality, and at a low one its blocks do not sit
    on the crop's 8-px grid as a JPEG of the crop itself does (what ``recover`` sees of a re-encoded
    picture)."""
    from dfrec.data.synth.augment import picture_round_trip

    img = pair[0].image
    out = picture_round_trip(img, 1.0, 0.0, (8.0, 8.0), 100)  # the crop 16 px into the picture: its 16-px macroblocks fall on the crop's, and the warps lose nothing
    assert out.shape == img.shape and out.dtype == np.uint8 and np.abs(out.astype(float) - jpeg(img, 100)).mean() < 0.2
    assert _grid_ratio(jpeg(img, 20)) > 1.3 > 1.1 > _grid_ratio(picture_round_trip(img, 0.5, 10.0, (3.0, 5.0), 20))
    small = picture_round_trip(img, 0.4, -12.0, (1.0, 6.0), 60, "webp")
    assert _detail(small) < 0.9 * _detail(img)  # the picture's face is smaller than the crop


def test_picture_share_of_the_last_round_trip(pair):
    """``picture_prob``: the last step's round trips made on the picture (scale and angle recorded),
    the true faces as they were; a share outside [0, 1] or a scale or angle out of range is refused."""
    t, s = pair
    base = {"flip_prob": 0.0, "jitter_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0, "jpeg_prob": 1.0,
            "jpeg_quality": [40, 40]}
    plain = Synthesizer(SynthConfig.from_dict({"augment": base}))(t, s, kind="real", rng=3)
    smp = Synthesizer(SynthConfig.from_dict({"augment": {**base, "picture_prob": 1.0}}))(t, s, kind="real", rng=3)
    info = smp.info["augment"]
    assert info["jpeg_quality"] == 40 and "picture" not in plain.info["augment"]
    assert 0.35 <= info["picture"][0] <= 1.0 and abs(info["picture"][1]) <= 15.0
    assert np.array_equal(smp.target, t.image) and not np.array_equal(smp.forgery, plain.forgery)
    for bad in ({"picture_prob": 1.5}, {"picture_scale": [0.0, 1.0]}, {"picture_rotate": 120.0}):
        with pytest.raises(ConfigError, match="picture"):
            SynthConfig.from_dict({"augment": bad})


def test_small_face_softens_only_the_forgery_as_recover_enlarges_it(pair):
    """``small_face_prob``: the input as recover sees the face in a picture where its eyes are E px
    apart (area-shrunk, Lanczos-4 back up): less detail the smaller E, the true faces and mask as they
    were, E recorded; at or above the crop's own eye distance nothing changes."""
    from dfrec.data.synth.augment import as_small_face
    from dfrec.faces.align import CROP_EYES_PX

    t, s = pair
    img = t.image
    assert np.array_equal(as_small_face(img, CROP_EYES_PX * img.shape[0] / 224), img)
    d20, d10 = _detail(as_small_face(img, 20)), _detail(as_small_face(img, 10))
    assert d10 < d20 < 0.8 * _detail(img)
    cfg = SynthConfig.from_dict({"augment": {"flip_prob": 0.0, "jitter_prob": 0.0, "jpeg_prob": 0.0, "blur_prob": 0.0,
                                             "noise_prob": 0.0, "small_face_prob": 1.0, "small_face_eyes": [9, 11]}})
    smp = Synthesizer(cfg)(t, s, kind="real", rng=3)
    assert np.array_equal(smp.target, t.image) and np.array_equal(smp.source, t.image)
    assert 9 <= smp.info["augment"]["small_face_eyes"] <= 11
    assert _detail(smp.forgery) < 0.8 * _detail(t.image)
    with pytest.raises(ConfigError, match="small_face_eyes"):
        SynthConfig.from_dict({"augment": {"small_face_eyes": [20, 10]}})


def test_translate_moves_content_and_repeats_the_edge():
    a = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    down_right = translate(a, 2, 1)
    assert np.array_equal(down_right[2:, 1:], a[:-2, :-1])
    assert np.array_equal(down_right[:2, 1:], np.broadcast_to(a[:1, :-1], (2, 5, 3)))  # the top row repeated
    assert np.array_equal(translate(translate(a, -1, -3), 0, 0), translate(a, -1, -3))
    assert np.array_equal(translate(a, -1, -3)[:-1, :-3], a[1:, 3:])
    m = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    assert translate(m, 1, -1).dtype == np.float32 and translate(m, 1, -1).shape == (5, 6)
    with pytest.raises(ValueError, match="does not fit"):
        translate(a, 5, 0)


def test_shift_moves_all_four_together(pair):
    """The joint shift keeps forgery, target and mask aligned (outside the mask forgery ==
    target), moves the face, and is recorded."""
    t, s = pair
    base = {"flip_prob": 0.0, "jitter_prob": 0.0, "jpeg_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0}
    plain = Synthesizer(SynthConfig.from_dict({"augment": base}))(t, s, kind="swap", rng=4)
    cfg = SynthConfig.from_dict({"augment": {**base, "shift_prob": 1.0, "shift_px": 6}})
    moved = Synthesizer(cfg)(t, s, kind="swap", rng=4)
    dy, dx = moved.info["augment"]["shift"]
    assert max(abs(dy), abs(dx)) <= 6 and (dy or dx)
    out = moved.mask == 0
    assert np.array_equal(moved.forgery[out], moved.target[out])
    for name in ("forgery", "source", "target", "mask"):
        assert np.array_equal(getattr(moved, name), translate(getattr(plain, name), dy, dx)), name
    with pytest.raises(ConfigError, match="shift_px"):
        SynthConfig.from_dict({"augment": {"shift_px": 40}})
