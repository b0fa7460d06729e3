"""convert-official: a checkpoint with the release's key layout converts and reproduces its outputs."""

from __future__ import annotations

import pytest
import torch

from dfrec.errors import CheckpointError
from dfrec.models import DFREC
from dfrec.models.official import REQUIRED_KEYS as REQUIRED
from dfrec.models.official import convert_official

from .release_reference import ReleaseDFREC

SMALL_VIT = dict(image_size=224, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=256)
SMALL_WIDTHS = (8, 16, 16, 32, 64)
SMALL_OVERRIDES = dict(enc_dim=64, enc_depth=2, enc_heads=4, dec_dim=32, dec_heads=4, sirm_widths=SMALL_WIDTHS)


def _compare(ref: ReleaseDFREC, model: DFREC, n: int = 2, seed: int = 5) -> None:
    x = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(11))
    # the release draws its masking noise with one torch.rand(N, 196); so does ours, from the generator
    noise = torch.rand(n, 196, generator=torch.Generator().manual_seed(seed))
    want = ref.eval()(x, noise)
    with torch.no_grad():
        got = model.eval()(x, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(got["keep_indices"], want["idx_keep"])  # same patches, same order
    order = want["idx_mask"].argsort(1)
    assert torch.equal(got["mask_indices"], torch.gather(want["idx_mask"], 1, order))
    want_pred = torch.gather(want["pred"], 1, order.unsqueeze(-1).expand(-1, -1, want["pred"].shape[-1]))
    for ours, theirs in (
        (got["mask"], want["mask"]),
        (got["source"], want["source"]),
        (got["f_s"], want["f_s"]),
        (got["f_t"], want["f_t"]),
        (got["pred_patches"], want_pred),
        (got["target"], want["target"]),
    ):
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() <= 1e-5


def test_converted_release_layout_matches_reference(tmp_path):
    torch.manual_seed(0)
    ref = ReleaseDFREC(SMALL_VIT, SMALL_WIDTHS, dec_dim=32, dec_heads=4).randomise_(1)
    src = tmp_path / "splitidentity_ftm.pth"
    torch.save(ref.checkpoint(), src)
    out, report = convert_official(src, tmp_path / "converted", shard_size_mb=4, **SMALL_OVERRIDES)
    assert not report["classification_head_trained"]
    assert report["initialised"] == ["ism.net.classification_head.3.weight", "ism.net.classification_head.3.bias"]
    assert any(k.endswith("backbone.heads.head.weight") for k in report["ignored"])
    model = DFREC.from_pretrained(out)
    assert model.config.preset == "official" and model.config.official_token_shift
    assert model.checkpoint_metadata["epoch"] == 7
    _compare(ref, model)
    # without the class-token quirk the same weights give a different target
    quirkless = DFREC(model.config.replace(official_token_shift=False), pretrained_init=False).eval()
    state = {k: v for k, v in model.state_dict().items() if k != "tirm.dec_pos_embed"}
    quirkless.load_state_dict({**state, "tirm.dec_pos_embed": model.tirm.dec_pos_embed[:, 1:]})
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        a = model(x, generator=torch.Generator().manual_seed(0))["target"]
        b = quirkless(x, generator=torch.Generator().manual_seed(0))["target"]
    assert (a - b).abs().max() > 1e-3


def test_bad_release_files_raise_checkpoint_error(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="no such file"):
        convert_official(missing, tmp_path / "o")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(CheckpointError, match="weights-only"):
        convert_official(junk, tmp_path / "o")
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": {}}, wrong)
    with pytest.raises(CheckpointError, match="recover1_state_dict"):
        convert_official(wrong, tmp_path / "o")
    # the right keys, the wrong sizes (a small U-Net into the official preset)
    ref = ReleaseDFREC(SMALL_VIT, SMALL_WIDTHS, dec_dim=32, dec_heads=4)
    small = tmp_path / "small.pth"
    torch.save(ref.checkpoint(), small)
    with pytest.raises(CheckpointError, match="does not fit"):
        convert_official(small, tmp_path / "o")


@pytest.mark.slow
def test_full_size_official_release_matches_reference(tmp_path):
    """The real shapes: ViT-L/16 MAE, U-Net 32..1024 (about 330 M parameters, slow on CPU)."""
    torch.manual_seed(0)
    ref = ReleaseDFREC().randomise_(2)
    src = tmp_path / "splitidentity_ftm.pth"
    torch.save(ref.checkpoint(), src)
    out, report = convert_official(src, tmp_path / "converted")
    assert report["num_parameters"] > 300_000_000
    _compare(ref, DFREC.from_pretrained(out), n=1)


def test_cli_convert_official(tmp_path, capsys):
    from dfrec.cli.main import main

    ref = ReleaseDFREC(SMALL_VIT, SMALL_WIDTHS, dec_dim=32, dec_heads=4)
    src = tmp_path / "release.pth"
    torch.save(ref.checkpoint(), src)
    # the CLI converts into the official preset: a small release gives one clear error line
    rc = main(["convert-official", str(src), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == CheckpointError.exit_code and err.startswith("dfrec: error:") and err.count("\n") == 1
    assert main(["convert-official", str(tmp_path / "missing.pth"), str(tmp_path / "out")]) == CheckpointError.exit_code
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["convert-official", str(src), str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_dataparallel_module_prefix_is_stripped(tmp_path):
    """A release saved from nn.DataParallel ('module.' on every key) converts to the same model."""
    torch.manual_seed(0)
    ref = ReleaseDFREC(SMALL_VIT, SMALL_WIDTHS, dec_dim=32, dec_heads=4).randomise_(3)
    ck = ref.checkpoint()
    wrapped = {k: ({f"module.{n}": t for n, t in v.items()} if k.endswith("state_dict") else v) for k, v in ck.items()}
    assert all(n.startswith("module.") for k in REQUIRED for n in wrapped[k])
    torch.save(wrapped, tmp_path / "dp.pth")
    out, report = convert_official(tmp_path / "dp.pth", tmp_path / "converted", **SMALL_OVERRIDES)
    _compare(ref, DFREC.from_pretrained(out))
    torch.save(ck, tmp_path / "plain.pth")
    _, plain = convert_official(tmp_path / "plain.pth", tmp_path / "plain", **SMALL_OVERRIDES)
    assert report["mapped"] == plain["mapped"] and len(report["ignored"]) == len(plain["ignored"])
    # a prefix on only some keys is not DataParallel's: those keys are not recognised
    half = dict(wrapped, recover1_state_dict={(f"module.{n}" if i % 2 else n): t
                                              for i, (n, t) in enumerate(ck["recover1_state_dict"].items())})
    torch.save(half, tmp_path / "half.pth")
    with pytest.raises(CheckpointError, match="unexpected U-Net tensor module."):
        convert_official(tmp_path / "half.pth", tmp_path / "half", **SMALL_OVERRIDES)


def test_cli_fp16_stores_half_precision(tmp_path, capsys, monkeypatch):
    """`dfrec convert-official --fp16 --json`: float16 storage, float32 on load, outputs within fp16 error."""
    import functools
    import json

    from safetensors import safe_open

    import dfrec.models.official as official
    from dfrec.cli.main import main

    torch.manual_seed(0)
    ref = ReleaseDFREC(SMALL_VIT, SMALL_WIDTHS, dec_dim=32, dec_heads=4).randomise_(4)
    torch.save(ref.checkpoint(), tmp_path / "release.pth")
    # the CLI converts into the official preset; at test size the same code with the small overrides
    monkeypatch.setattr(official, "convert_official", functools.partial(official.convert_official, **SMALL_OVERRIDES))
    assert main(["convert-official", str(tmp_path / "release.pth"), str(tmp_path / "f32"), "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert main(["convert-official", str(tmp_path / "release.pth"), str(tmp_path / "f16"), "--fp16", "--json",
                 "--shard-size-mb", "1"]) == 0
    half = json.loads(capsys.readouterr().out)
    assert half["tensors_mapped"] == full["tensors_mapped"] and half["num_parameters"] == full["num_parameters"]
    assert json.loads((tmp_path / "f16" / "config.json").read_text())["storage_dtype"] == "float16"
    shards = sorted((tmp_path / "f16").glob("model-*.safetensors"))
    assert len(shards) > 1
    for f in shards:
        with safe_open(str(f), framework="pt") as sf:
            assert {sf.get_slice(k).get_dtype() for k in sf.keys()} <= {"F16", "I64"}
    size = lambda d: sum(p.stat().st_size for p in d.glob("*.safetensors"))  # noqa: E731
    assert size(tmp_path / "f16") < 0.55 * size(tmp_path / "f32")
    m32, m16 = DFREC.from_pretrained(tmp_path / "f32"), DFREC.from_pretrained(tmp_path / "f16")
    assert all(p.dtype == torch.float32 for p in m16.parameters())
    for k, v in m32.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(m16.state_dict()[k], v.half().float()), k
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = m32(x, generator=torch.Generator().manual_seed(0))["target"]
        b = m16(x, generator=torch.Generator().manual_seed(0))["target"]
    assert 0 < (a - b).abs().max() < 0.02
