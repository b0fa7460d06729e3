"""Options of the fast recipe: composite output, refinement, map masking, forward switches,
old configs keep the paper's behaviour, partial initialisation from older weights."""

from __future__ import annotations

import torch

from dfrec.models import create_model
from dfrec.models.checkpoint import load_state_partial
from dfrec.models.config import DFRECConfig
from dfrec.models.masking import semantic_mask


def _tiny(**kw):
    torch.manual_seed(0)
    return create_model("tiny", pretrained_init=False, **kw).eval()


def test_composite_keeps_the_input_outside_the_map():
    model = _tiny(compose=True, compose_dilate=4)
    x = torch.rand(2, 3, 224, 224)
    m = torch.zeros(1, 1, 224, 224)
    m[..., 64:160, 64:160] = 1.0
    out = model(x, map_override=m)
    far = torch.ones(224, 224, dtype=torch.bool)
    far[56:168, 56:168] = False  # beyond the dilation + feather
    assert torch.equal(out["target"][..., far], x[..., far])
    inside = out["target"][..., 80:144, 80:144]
    assert torch.allclose(inside, out["target_raw"][..., 80:144, 80:144])


def test_compose_dilate_zero_blends_by_the_map_itself():
    model = _tiny(compose=True, compose_dilate=0)
    x = torch.rand(1, 3, 224, 224)
    m = torch.zeros(1, 1, 224, 224)
    m[..., 64:160, 64:160] = 1.0
    m[..., 60:64, 64:160] = 0.25  # a soft edge stays soft: no dilation, no feathering
    out = model(x, map_override=m)
    assert torch.equal(model.blend_weight(m), m)
    assert torch.allclose(out["target"], m * out["target_raw"] + (1 - m) * x)
    assert torch.equal(out["target"][..., :60, :], x[..., :60, :])  # one px outside the map: untouched


def test_compose_threshold_repaints_nothing_where_the_map_is_unsure():
    x = torch.rand(1, 3, 224, 224)
    m = torch.full((1, 1, 224, 224), 0.3)  # an unsure map over the background
    m[..., 64:160, 64:160] = 0.9
    soft = _tiny(compose=True)(x, map_override=m)
    hard = _tiny(compose=True, compose_threshold=0.5)(x, map_override=m)
    far = torch.ones(224, 224, dtype=torch.bool)
    far[56:168, 56:168] = False
    assert not torch.equal(soft["target"][..., far], x[..., far])  # the soft map lets 30 % of the TIRM through
    assert torch.equal(hard["target"][..., far], x[..., far])
    assert torch.allclose(hard["target"][..., 80:144, 80:144], hard["target_raw"][..., 80:144, 80:144])


def _offset_grid(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 224, 224, generator=g), 9, 1, 4)
    off = (torch.rand(1, 3, 14, 14, generator=g) - 0.5) * 0.2
    return base, base + off.repeat_interleave(16, 2).repeat_interleave(16, 3)


def test_deblock_removes_patch_offsets_where_patches_were_predicted():
    from dfrec.metrics.blockiness import blockiness
    from dfrec.models.tirm import deblock

    base, grid = _offset_grid()
    holes = torch.ones(1, 1, 224, 224)
    assert torch.equal(deblock(grid, holes, 16, 0), grid)
    assert blockiness(grid) > 4.0
    for band in (2, 4, 8):
        out = deblock(grid, holes, 16, band)
        assert blockiness(out) < 1.4, band  # the natural base: 0.89
        assert (out - grid).abs().amax() <= 0.2  # at most the offsets' range
    # patch interiors beyond the band are untouched
    out = deblock(grid, holes, 16, 4)
    inner = torch.zeros(224, dtype=torch.bool)
    for c in range(0, 224, 16):
        inner[c + 4:c + 12] = True
    assert torch.equal(out[..., inner, :][..., inner], grid[..., inner, :][..., inner])
    # borders between two visible patches are untouched: only predicted ones are deblocked
    holes = torch.zeros(1, 1, 224, 224)
    holes[..., 96:128, 96:128] = 1.0
    out = deblock(grid, holes, 16, 4)
    assert torch.equal(out[..., :80, :], grid[..., :80, :])
    assert not torch.equal(out[..., 96:128, 96:128], grid[..., 96:128, 96:128])


def test_deblock_option_in_the_model():
    from dfrec.metrics.blockiness import blockiness

    x = torch.rand(1, 3, 224, 224)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain, smooth = _tiny()(x, generator=gen()), _tiny(deblock=8)(x, generator=gen())
    assert torch.equal(plain["pred_patches"], smooth["pred_patches"])  # the patch loss sees the same
    assert blockiness(smooth["target"]) < blockiness(plain["target"])
    # in training only with deblock_in_training, and then gradients pass it to the decoder
    x2 = x.expand(2, -1, -1, -1)
    eval_only, always = _tiny(deblock=8).train(), _tiny(deblock=8, deblock_in_training=True).train()
    plain_train = _tiny().train()
    def run(model):
        torch.manual_seed(1)  # training-mode randomness besides the masking generator
        return model(x2, generator=gen())["target"]

    assert torch.equal(run(eval_only), run(plain_train))
    out = run(always)
    assert not torch.equal(out, run(plain_train))
    out.mean().backward()
    assert always.tirm.head.weight.grad.abs().sum() > 0


def test_antialias_removes_a_checkerboard_from_the_predicted_patches_only():
    from dfrec.metrics.checkerboard import checkerboard
    from dfrec.models.tirm import binomial_blur

    # the filter: a 2-px checkerboard goes, a smooth ramp stays
    i = torch.arange(32.0)
    checker = (0.5 + 0.1 * (-1) ** (i[:, None] + i[None, :])).expand(1, 3, 32, 32)
    assert binomial_blur(checker)[..., 1:-1, 1:-1].sub(0.5).abs().max() < 1e-6
    ramp = (i[None, :] / 31).expand(1, 3, 32, 32)
    torch.testing.assert_close(binomial_blur(ramp)[..., 1:-1], ramp[..., 1:-1])
    # in the model: the same masking, the visible patches still the input's, the predicted ones smoother
    x = torch.rand(1, 3, 224, 224)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain, smooth = _tiny()(x, generator=gen()), _tiny(antialias=True)(x, generator=gen())
    assert torch.equal(plain["pred_patches"], smooth["pred_patches"])
    from dfrec.models.masking import patchify

    keep = smooth["keep_indices"][0]
    hole = smooth["mask_indices"][0]
    inner = torch.zeros(16, 16, dtype=torch.bool)
    inner[1:-1, 1:-1] = True  # inside a visible patch, away from a predicted neighbour
    vis_in = patchify(smooth["target"], 16)[0, keep].view(-1, 3, 16, 16)[..., inner]
    assert torch.equal(vis_in, patchify(x, 16)[0, keep].view(-1, 3, 16, 16)[..., inner])
    pred_of = lambda out: patchify(out["target"], 16)[:, hole]  # noqa: E731
    assert not torch.equal(pred_of(plain), pred_of(smooth))
    assert checkerboard(smooth["target"]) < checkerboard(plain["target"])
    # it runs in training too, and gradients pass it to the decoder
    out = _tiny(antialias=True).train()(x.expand(2, -1, -1, -1), generator=gen())["target"]
    out.mean().backward()


def test_paper_output_is_unchanged_without_compose():
    model = _tiny()
    x = torch.rand(1, 3, 224, 224)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert "target_raw" not in out
    # visible patches are the input's own pixels, as in the paper
    keep = out["keep_indices"][0]
    from dfrec.models.masking import patchify

    assert torch.equal(patchify(out["target"], 16)[0, keep], patchify(x, 16)[0, keep])


def test_refiner_starts_as_identity_and_learns():
    x = torch.rand(2, 3, 224, 224)
    plain = _tiny()
    refined = _tiny(refine_depth=4)
    refined.load_state_dict(plain.state_dict(), strict=False)
    g = torch.Generator().manual_seed(1)
    a = plain(x, generator=g)["target"]
    b = refined(x, generator=torch.Generator().manual_seed(1))["target"]
    assert torch.allclose(a, b, atol=1e-6)
    refined.train()
    refined(x)["target"].mean().backward()
    last = refined.tirm.refiner.net[-1]
    assert last.weight.grad is not None and last.weight.grad.abs().sum() > 0


def test_refiner_blind_to_the_masked_input_cannot_copy_it():
    """``refine_sees_masked=False``: what the input holds under the masked patches no longer
    reaches the refined target; with the default it does (the refinement reads the forgery)."""
    x = torch.rand(1, 3, 224, 224)
    m = torch.zeros(1, 1, 224, 224)
    m[..., 64:160, 64:160] = 1.0
    y = x.clone()
    y[..., 96:128, 96:128] = 1.0 - y[..., 96:128, 96:128]  # changed only deep inside the masked region
    for sees, same in ((True, False), (False, True)):
        model = _tiny(refine_depth=4, masking="map", refine_sees_masked=sees)
        torch.manual_seed(1)
        torch.nn.init.normal_(model.tirm.refiner.net[-1].weight, std=0.05)  # a refinement that does something
        a = model(x, map_override=m, generator=torch.Generator().manual_seed(0))
        b = model(y, map_override=m, generator=torch.Generator().manual_seed(0))
        assert torch.equal(a["mask_indices"], b["mask_indices"])
        inside = (slice(None), slice(None), slice(96, 128), slice(96, 128))
        assert torch.allclose(a["pred_patches"], b["pred_patches"])  # the MAE never sees masked patches
        assert torch.allclose(a["target"][inside], b["target"][inside], atol=1e-6) is same


def test_map_masking_takes_the_map_then_its_border():
    m = torch.zeros(1, 1, 224, 224)
    m[..., 48:144, 64:160] = 1.0  # 6 x 6 = 36 patches
    ring = torch.nn.functional.max_pool2d(m, 33, stride=1, padding=16) * 0.5
    m = torch.maximum(m, ring)  # the next 0.5-valued ring of patches
    keep, idx = semantic_mask(m, 16, 0.5, "map", generator=torch.Generator().manual_seed(0), noise=1e-3)
    w = m[0, 0].unfold(0, 16, 16).unfold(1, 16, 16).mean((-1, -2)).reshape(-1)
    masked_w = w[idx[0]]
    # every patch with map weight > 0 is masked before any zero patch
    assert (w > 0).sum() <= 98 and bool((masked_w[: int((w > 0).sum())] >= 0).all())
    assert set((w > 0).nonzero().reshape(-1).tolist()) <= set(idx[0].tolist())
    # deterministic at a fixed seed
    assert torch.equal(idx, semantic_mask(m, 16, 0.5, "map", generator=torch.Generator().manual_seed(0))[1])


def test_forward_switches_match_their_definition():
    model = _tiny()
    x = torch.rand(2, 3, 224, 224)
    prior = torch.zeros(1, 1, 224, 224)
    prior[..., 50:170, 60:160] = 1
    out = model(x, generator=torch.Generator().manual_seed(0), map_override=prior)
    assert torch.equal(out["mask"], prior.expand(2, -1, -1, -1))
    ref = model.sirm(prior * x)[0]
    assert torch.allclose(out["source"], ref)
    a = model(x, generator=torch.Generator().manual_seed(0), fuse=False)["target"]
    b = model(x, generator=torch.Generator().manual_seed(0))["target"]
    assert not torch.allclose(a, b)


def test_old_config_dicts_keep_the_paper_behaviour():
    old = DFRECConfig().to_dict()
    for key in ("compose", "compose_dilate", "compose_threshold", "refine_depth", "refine_width", "deblock", "deblock_in_training",
                "map_noise", "antialias"):
        old.pop(key)
    cfg = DFRECConfig.from_dict(old)
    assert cfg.compose is False and cfg.refine_depth == 0 and cfg.compose_threshold is None and cfg.deblock == 0
    assert cfg.antialias is False


def test_partial_load_keeps_new_modules_fresh():
    old = _tiny()
    new = _tiny(refine_depth=3)
    loaded, fresh = load_state_partial(new, old.state_dict())
    assert len(loaded) == len(old.state_dict())
    assert fresh and all(k.startswith("tirm.refiner.") for k in fresh)
    assert torch.equal(new.tirm.head.weight, old.tirm.head.weight)


def test_freeze_fixes_weights_and_batchnorm_of_the_named_modules():
    import pytest

    from dfrec.errors import ConfigError

    model = _tiny().train()
    n = model.freeze(["ism"])
    assert n == sum(p.numel() for p in model.ism.parameters()) > 0
    assert not any(p.requires_grad for p in model.ism.parameters())
    assert all(p.requires_grad for p in model.sirm.parameters())
    model.train()  # what a training loop (and validate's restore) calls
    assert not model.ism.training and all(not m.training for m in model.ism.modules())
    assert model.sirm.training and model.tirm.training
    stats = {k: v.clone() for k, v in model.ism.state_dict().items()}
    out = model(torch.rand(2, 3, 224, 224))
    (out["target"].mean() + out["source"].mean() + out["logit"].mean()).backward()
    assert all(torch.equal(v, model.ism.state_dict()[k]) for k, v in stats.items())  # BatchNorm running stats too
    assert all(p.grad is None for p in model.ism.parameters())
    assert any(p.grad is not None for p in model.sirm.parameters())
    with pytest.raises(ConfigError, match="no such module.*ism, sirm, tirm"):
        model.freeze(["tirm.refiner"])  # refine_depth 0: there is none
    with pytest.raises(ConfigError, match="whole model"):
        model.freeze([""])


def test_sirm_dilate_widens_what_the_sirm_sees():
    """sirm_dilate: the SIRM's input is the map dilated by that many px (max-pool) times the input;
    0 is the paper's m * x. Ranged in the config."""
    import pytest

    from dfrec.errors import ConfigError

    m = torch.zeros(1, 1, 224, 224)
    m[..., 100:120, 100:120] = 1.0
    assert torch.equal(_tiny().sirm_weight(m), m)
    w = _tiny(sirm_dilate=16).sirm_weight(m)
    assert w[..., 84:136, 84:136].min() == 1.0 and w[..., :83, :].max() == 0.0 and w[..., 137:, :].max() == 0.0
    seen = {}
    model = _tiny(sirm_dilate=16)
    model.sirm.register_forward_pre_hook(lambda mod, args: seen.setdefault("x", args[0]))
    x = torch.rand(1, 3, 224, 224)
    model(x, map_override=m)
    assert torch.equal(seen["x"], w * x)
    with pytest.raises(ConfigError, match="sirm_dilate"):
        DFRECConfig(sirm_dilate=-1)


def test_fusion_detach_keeps_the_target_gradient_out_of_the_sirm():
    """Same outputs; the target's loss reaches the SIRM only through the fusion, and
    ``fusion_detach`` cuts it there (the source's loss still trains the SIRM)."""
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    outs, grads = {}, {}
    for detach in (False, True):
        torch.manual_seed(0)
        model = _tiny(fusion_detach=detach).train()
        out = model(x, generator=torch.Generator().manual_seed(1))
        out["target"].mean().backward()
        outs[detach] = out["target"].detach()
        grads[detach] = sum(float(p.grad.abs().sum()) for p in model.sirm.parameters() if p.grad is not None)
        model.zero_grad()
        model(x, generator=torch.Generator().manual_seed(1))["source"].mean().backward()
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.sirm.parameters())
    assert torch.allclose(outs[False], outs[True])
    assert grads[False] > 0 and grads[True] == 0
    assert DFRECConfig().fusion_detach is False  # the paper trains the two modules together
