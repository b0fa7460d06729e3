"""Test-time views (``tta``): the views' algebra, and what averaging them guarantees."""

from __future__ import annotations

import pytest
import torch

from dfrec.errors import ConfigError
from dfrec.models import create_model
from dfrec.models.config import TTAS, DFRECConfig
from dfrec.models.tta import View, average, views


def _tiny(**kw):
    torch.manual_seed(0)
    return create_model("tiny", pretrained_init=False, compose=True, compose_dilate=0, masking="map", **kw).eval()


def _rows_map() -> torch.Tensor:
    """A map that depends on the row only and covers exactly the top 7 of 14 patch rows (the
    masked half at ratio 0.5), also after a half-patch shift: the masked patches are the same
    for the input and its mirror image, whatever breaks ties."""
    m = torch.zeros(1, 1, 224, 224)
    m[..., :112, :] = 1.0
    return m


@pytest.mark.parametrize("view", views("flip_shift", 16))
def test_a_view_inverts_where_its_weight_is_one(view):
    x = torch.rand(2, 3, 224, 224)
    w = view.weight(224, x).bool().expand_as(x)
    assert torch.equal(view.invert(view.apply(x))[w], x[w])
    assert w.float().mean() >= (216 / 224) ** 2 - 1e-6


def test_views_per_mode():
    assert [len(views(m, 16)) for m in TTAS] == [1, 2, 2, 4]
    assert all(views(m, 16)[0] == View() for m in TTAS)
    assert views("shift", 16)[1].shift == 8
    with pytest.raises(ConfigError, match="tta must be one of"):
        DFRECConfig(tta="rotate")


def test_average_of_agreeing_views_is_the_image():
    x = torch.rand(1, 3, 224, 224)
    used = views("flip_shift", 16)
    assert torch.allclose(average([v.apply(x) for v in used], used), x, atol=1e-6)


def test_flip_tta_makes_the_recovery_mirror_equivariant():
    x = torch.rand(1, 3, 224, 224)
    m = _rows_map()
    plain, flip = _tiny(), _tiny(tta="flip")
    with torch.no_grad():
        a, b = flip(x, map_override=m), flip(x.flip(-1), map_override=m)
        p, q = plain(x, map_override=m), plain(x.flip(-1), map_override=m)
    for key in ("source", "target"):
        assert torch.allclose(b[key], a[key].flip(-1), atol=1e-5)  # the mirror's recovery is the mirror image
        assert not torch.allclose(q[key], p[key].flip(-1), atol=1e-3)  # one view alone is not
        assert torch.allclose(a[key], (p[key] + q[key].flip(-1)) / 2, atol=1e-5)  # the mean of both views
    outside = ~m.bool().expand_as(x)
    assert torch.equal(a["target"][outside], x[outside])  # the composite still keeps the input there
    assert torch.equal(a["mask"], p["mask"]) and torch.equal(a["logit"], p["logit"])


def test_shift_tta_moves_the_patch_grid():
    torch.manual_seed(1)
    x = torch.rand(1, 3, 224, 224)
    m = _rows_map()
    model = _tiny(tta="shift")
    with torch.no_grad():
        out = model(x, map_override=m)
        model.config.tta = "none"
        plain = model(x, map_override=m)
    assert out["target"].shape == plain["target"].shape and torch.isfinite(out["target"]).all()
    # the shifted view predicts the masked rows again from patches whose borders fall 8 px away
    assert not torch.allclose(out["target_raw"][..., :104, :216], plain["target_raw"][..., :104, :216], atol=1e-3)


def test_training_sees_one_view():
    x = torch.rand(2, 3, 224, 224)
    outs = []
    for tta in ("none", "flip_shift"):
        model = _tiny(tta=tta).train()
        outs.append(model(x, generator=torch.Generator().manual_seed(3)))
    for key in ("target", "source", "pred_patches"):
        assert torch.equal(outs[0][key], outs[1][key])
