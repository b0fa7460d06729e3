"""benchmarks/inference_variants.py: the test-time variants it scores are what they say."""

from __future__ import annotations

import pytest
import torch

from repo_scripts import load_script


def test_variants_mirror_and_repeat_the_models_own_forward(tiny_checkpoint):
    from dfrec.models import DFREC

    bench = load_script("benchmarks/inference_variants.py")
    model = DFREC.from_pretrained(tiny_checkpoint, overrides={"compose": True, "compose_dilate": 0})
    s = model.config.image_size
    x = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731 - the same masking noise for every call
    with torch.no_grad():
        ref = model(x, generator=g())
        plain = bench.variant_model(model, "plain")(x, generator=g())
        flip = bench.variant_model(model, "flip")(x, generator=g())
        again = bench.variant_model(model, "twopass")(x, generator=g())
        grey = bench.variant_model(model, "source_grey8")(x, generator=g())
        fore = bench.variant_model(model, "source_forgery8")(x, generator=g())
        mirrored = model(x.flip(-1), generator=g())
        second = model(ref["target"], generator=g(), map_override=ref["mask"])
    assert torch.equal(plain["target"], ref["target"])
    # flip: the mean of the crop's and the mirror's recovery, composited by the crop's own map
    raw = (ref["target_raw"] + mirrored["target_raw"].flip(-1)) / 2
    w = ref["mask"]
    torch.testing.assert_close(flip["target"], w * raw + (1 - w) * x)
    assert (flip["target"] - ref["target"]).abs().max() > 1e-3
    # the source's surroundings: per pixel one weight, shared by the colours, between the SIRM's
    # source and the fill (mid-grey / the forgery), higher where the map is; the target untouched
    for out, fill in ((grey, torch.full_like(x, 0.5)), (fore, x)):
        assert torch.equal(out["target"], ref["target"])
        w = ((out["source"] - fill) / (ref["source"] - fill)).where((ref["source"] - fill).abs() > 1e-2, torch.nan)
        spread = (w.nan_to_num(0).amax(1) - w.nan_to_num(1).amin(1))[~w.isnan().any(1)]
        assert spread.numel() > 100 and spread.abs().max() < 1e-3
        w = w.nanmean(1)
        assert float(w.nan_to_num(0.5).min()) >= -1e-4 and float(w.nan_to_num(0.5).max()) <= 1 + 1e-4
        hi = ref["mask"][:, 0] > ref["mask"].median()
        assert w[hi].nanmean() > w[~hi].nanmean()
    # two passes: the first recovery goes through again under the first map; the rest stays
    torch.testing.assert_close(again["target"], second["target"])
    assert torch.equal(again["source"], ref["source"]) and torch.equal(again["mask"], ref["mask"])
    with pytest.raises(ValueError, match="unknown variant"):
        bench.variant_model(model, "blur")(x)


@pytest.mark.parametrize("script", ["benchmarks/inference_variants.py", "benchmarks/compose_dilate.py",
                                    "benchmarks/sirm_dilate.py"])
def test_heldout_benchmarks_share_the_gates_options(script, capsys):
    """The three benchmarks that score a model on the gate's forgeries take the same set options
    (benchmarks/_heldout.py), the test split included."""
    bench = load_script(script)
    with pytest.raises(SystemExit) as stop:
        bench.main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert all(opt in out for opt in ("--sets", "--cache", "--n", "--split", "--threads"))
