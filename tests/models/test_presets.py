"""Every registered preset: construction, sizes, and (for CPU presets) the forward contract."""

from __future__ import annotations

import json

import pytest
import torch

from dfrec.errors import ConfigError, InputError
from dfrec.models import DFREC, DFRECConfig, create_model, get_config, list_presets

CPU_PRESETS = ["tiny", "small"]
BIG_PRESETS = [p for p in list_presets() if p not in CPU_PRESETS]


def _vit_params(dim: int, depth: int) -> int:
    """Parameters of ``depth`` pre-norm ViT blocks (qkv, proj, 2-layer MLP x4, two LayerNorms)."""
    return depth * (12 * dim * dim + 13 * dim)


@pytest.fixture(scope="module")
def built():
    """Real models of the CPU presets; the big ones on the meta device (shapes only, no memory, instant)."""
    cache: dict[str, DFREC] = {}

    def get(name: str) -> DFREC:
        if name not in cache:
            torch.manual_seed(0)
            if name in CPU_PRESETS:
                cache[name] = create_model(name)
            else:
                with torch.device("meta"):
                    cache[name] = create_model(name)
        return cache[name]

    return get


def _vit_encoder_shapes(model) -> list[tuple[int, ...]]:
    """Sorted parameter shapes of a TIRM's ViT encoder (patch embedding, class token, positions, blocks, norm)."""
    return sorted(tuple(p.shape) for n, p in model.tirm.named_parameters() if not n.startswith(("dec", "mask_token", "head")))


def _torchvision_vit_shapes(builder) -> list[tuple[int, ...]]:
    """The same for a torchvision ViT without its classifier head, built on the meta device."""
    with torch.device("meta"):
        vit = builder(weights=None)
    return sorted(tuple(p.shape) for n, p in vit.named_parameters() if not n.startswith("heads"))


def test_registry_lists_required_presets():
    assert {"official", "paper", "small", "tiny"} <= set(list_presets())


@pytest.mark.parametrize("preset", list_presets())
def test_config_roundtrips_through_json(preset):
    cfg = get_config(preset)
    again = DFRECConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert cfg.preset == preset
    assert cfg.n_keep + cfg.n_masked == cfg.num_patches


@pytest.mark.parametrize("preset", list_presets())
def test_construction_and_parameter_counts(preset, built):
    model = built(preset)
    cfg = model.config
    counts = model.num_parameters()
    assert counts["total"] == counts["ism"] + counts["sirm"] + counts["tirm"]
    # the TIRM's transformer stacks have exactly the ViT block parameter count
    assert sum(p.numel() for p in model.tirm.encoder.parameters()) == _vit_params(cfg.enc_dim, cfg.enc_depth)
    assert sum(p.numel() for p in model.tirm.decoder.parameters()) == _vit_params(cfg.dec_dim, cfg.dec_depth)
    # identity fusion widens the decoder embedding by one f_t row (the bottleneck's positions)
    assert model.tirm.decoder_embed.in_features == cfg.enc_dim + cfg.fusion_dim
    assert model.sirm.target_head[3].out_channels == cfg.n_keep


def test_big_presets_have_the_published_shapes(built):
    off = built("official")
    cfg = off.config
    assert (cfg.enc_dim, cfg.enc_depth, cfg.enc_heads) == (1024, 24, 16)  # ViT-L/16
    assert (cfg.dec_dim, cfg.dec_depth, cfg.dec_heads) == (512, 1, 16)
    assert cfg.n_keep == 98 and cfg.fusion_dim == 196 and cfg.sirm_widths == (32, 64, 128, 256, 1024)
    # the released code's encoder is torchvision's vit_l_16 (minus its classifier head): same
    # tensors, shape for shape, hence the same parameter count; the paper's is ViT-B/16
    from torchvision.models import vit_b_16, vit_l_16

    assert _vit_encoder_shapes(off) == _torchvision_vit_shapes(vit_l_16)
    paper = built("paper")
    assert _vit_encoder_shapes(paper) == _torchvision_vit_shapes(vit_b_16)
    cfg = paper.config
    assert (cfg.enc_dim, cfg.enc_depth, cfg.dec_dim, cfg.dec_depth) == (768, 12, 512, 8)


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_forward_contract(preset, built):
    model = built(preset).eval()
    cfg = model.config
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(0))
    n, p = 2, cfg.patch_size
    assert out["source"].shape == out["target"].shape == (n, 3, 224, 224)
    assert out["mask"].shape == (n, 1, 224, 224)
    assert out["logit"].shape == (n,)
    assert out["pred_patches"].shape == (n, cfg.n_masked, p * p * 3)
    assert out["mask_indices"].shape == (n, cfg.n_masked) and out["mask_indices"].dtype == torch.long
    assert out["f_s"].shape == out["f_t"].shape == (n, cfg.id_dim)
    for k in ("source", "target", "mask", "pred_patches"):
        assert 0.0 <= out[k].min() and out[k].max() <= 1.0, k
    # the target is the input's visible patches plus the predictions at the masked ones
    px, pt = model.patchify(x), model.patchify(out["target"])
    keep, idx = out["keep_indices"], out["mask_indices"]
    gather = lambda t, i: torch.gather(t, 1, i.unsqueeze(-1).expand(-1, -1, t.shape[-1]))  # noqa: E731
    assert torch.equal(gather(pt, keep), gather(px, keep))
    assert torch.allclose(gather(pt, idx), out["pred_patches"])
    # masked and visible patches partition the grid
    allidx = torch.cat((keep, idx), 1).sort(1).values
    assert torch.equal(allidx, torch.arange(cfg.num_patches).expand(n, -1))
    # same generator seed -> same output
    with torch.no_grad():
        again = model(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again["mask_indices"], out["mask_indices"])
    assert torch.equal(again["target"], out["target"])


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_gradients_reach_all_three_modules(preset, built):
    model = built(preset).train()
    model.zero_grad()
    x = torch.rand(2, 3, 224, 224)
    out = model(x)
    patches = torch.gather(model.patchify(x), 1, out["mask_indices"].unsqueeze(-1).expand(-1, -1, out["pred_patches"].shape[-1]))
    loss = (out["source"] - x).abs().mean() + ((out["pred_patches"] - patches) ** 2).mean() + out["logit"].mean()
    loss.backward()
    for name in ("ism", "sirm", "tirm"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, name
    # the ISM's segmentation branch (not only its classifier) learns through m * x
    seg = model.ism.net.segmentation_head[0].weight.grad
    assert seg is not None and seg.abs().sum() > 0
    model.zero_grad()
    model.eval()


def test_ablations_without_ism_and_without_fusion():
    torch.manual_seed(0)
    no_ism = create_model("tiny", use_ism=False).eval()
    assert no_ism.ism is None
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        out = no_ism(x, generator=torch.Generator().manual_seed(0))
    prior = out["mask"][0, 0]
    assert set(prior.unique().tolist()) == {0.0, 1.0}
    assert prior[112, 112] == 1 and prior[0, 0] == 0 and prior[-1, -1] == 0
    # masked patches lie on the face ellipse (it covers more than half of the patches' worth)
    pm = no_ism.patchify(out["mask"]).mean(-1)[0]
    assert (pm[out["mask_indices"][0]] > 0.5).float().mean() > 0.9
    assert torch.equal(out["logit"], torch.zeros(1))
    no_fusion = create_model("tiny", use_fusion=False).eval()
    assert no_fusion.tirm.decoder_embed.in_features == no_fusion.config.enc_dim
    with torch.no_grad():
        assert no_fusion(x)["target"].shape == (1, 3, 224, 224)


def test_bad_options_and_inputs_raise_clear_errors(built):
    with pytest.raises(ConfigError, match="unknown model preset"):
        create_model("nope")
    with pytest.raises(ConfigError, match="unknown model option"):
        create_model("tiny", widths=3)
    with pytest.raises(ConfigError, match="mask_ratio"):
        create_model("tiny", mask_ratio=1.5)
    with pytest.raises(InputError, match=r"\(N, 3, 224, 224\)"):
        built("tiny")(torch.rand(1, 3, 128, 128))


def test_models_import_without_smp_until_an_ism_is_built():
    """The GPU machine may lack segmentation_models_pytorch: importing dfrec.models must still work."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['segmentation_models_pytorch'] = None\n"
        "import dfrec.models as M\n"
        "m = M.create_model('tiny', use_ism=False)\n"
        "from dfrec.errors import ConfigError\n"
        "try:\n    M.create_model('tiny')\nexcept ConfigError as e:\n    print('ERR', e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "ERR the ISM needs segmentation-models-pytorch" in res.stdout
