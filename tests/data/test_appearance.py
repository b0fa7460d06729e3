"""Appearance range of the pasted face: off by default (streams unchanged), each effect real
and confined to the mask, the GAN-like low-frequency keep moves the forgery toward the target."""

from __future__ import annotations

import numpy as np
import pytest

from dfrec.data.synth import SynthConfig, Synthesizer
from dfrec.data.synth.appearance import apply_appearance
from dfrec.data.synth.config import WIDE_APPEARANCE, AppearanceConfig
from dfrec.errors import ConfigError


@pytest.fixture(scope="module")
def pair(fixture_faces):
    by = {f.key: f for f in fixture_faces}
    return by["obama"], by["biden"]


def _wide(**only) -> SynthConfig:
    look = only or WIDE_APPEARANCE
    return SynthConfig.from_dict({"swap": {"appearance": look}, "blend": {"appearance": look}})


def test_default_is_off_and_draws_nothing(pair):
    t, s = pair
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    out, info = apply_appearance(s.image, t.image, (0, 224, 0, 224), 100.0, AppearanceConfig(), rng_a)
    assert out is s.image and info == {}
    assert rng_a.random() == rng_b.random()  # no random number consumed


@pytest.mark.parametrize("kind", ["swap", "blend"])
def test_effects_stay_inside_the_mask(pair, kind):
    t, s = pair
    synth = Synthesizer(_wide(), augment=False)
    seen = set()
    for seed in range(8):
        smp = synth(t, s, kind=kind, rng=seed)
        out = smp.mask == 0
        assert np.array_equal(smp.forgery[out], smp.target[out])
        seen |= {k for k in smp.info if k in ("target_lowfreq_sigma", "color_shift", "rescale", "blur_sigma", "sharpen", "noise_sigma")}
    assert len(seen) >= 4, seen  # the wide range really varies the look


@pytest.mark.parametrize("effect, prob", [("blur_prob", 1.0), ("rescale_prob", 1.0)])
def test_blur_and_rescale_remove_detail(pair, effect, prob):
    t, s = pair
    plain = Synthesizer(SynthConfig(), augment=False)(t, s, kind="swap", rng=3)
    soft = Synthesizer(_wide(**{effect: prob}), augment=False)(t, s, kind="swap", rng=3)
    inside = plain.mask > 0.9

    def detail(img):
        g = img.astype(np.float32).mean(-1)
        lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
        return lap[inside[1:-1, 1:-1]].mean()

    assert detail(soft.forgery) < 0.8 * detail(plain.forgery)


def test_target_lowfreq_moves_the_face_toward_the_target(pair):
    t, s = pair
    plain = Synthesizer(SynthConfig(), augment=False)(t, s, kind="swap", rng=4)
    gan = Synthesizer(_wide(target_lowfreq_prob=1.0), augment=False)(t, s, kind="swap", rng=4)
    inside = plain.mask > 0.9
    import cv2

    def low(img):
        return cv2.GaussianBlur(img.astype(np.float32), (0, 0), 8)[inside]

    d_plain = np.abs(low(plain.forgery) - low(t.image)).mean()
    d_gan = np.abs(low(gan.forgery) - low(t.image)).mean()
    assert d_gan < 0.7 * d_plain, (d_gan, d_plain)


def test_bad_appearance_config():
    with pytest.raises(ConfigError, match="blur_prob"):
        SynthConfig.from_dict({"swap": {"appearance": {"blur_prob": 0.7, "sharpen_prob": 0.5}}})
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        SynthConfig.from_dict({"swap": {"appearance": {"noise_prob": 1.5}}})
