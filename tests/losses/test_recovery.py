"""Map, pixel and identity-separation losses: zero exactly when they should be, ordered by
how wrong the input is, and the separation term only on forgeries of two people."""

from __future__ import annotations

import pytest
import torch

from dfrec.errors import ConfigError
from dfrec.losses.recovery import border_loss, gradient_loss, map_loss, pixel_loss, separation_loss
from dfrec.losses.total import DFRECLoss, LossConfig, two_people


def test_map_loss_prefers_the_true_mask():
    true = torch.zeros(2, 1, 32, 32)
    true[:, :, 8:24, 8:24] = 1.0
    exact = map_loss(true, true)
    near = map_loss(true * 0.9 + 0.05, true)
    wrong = map_loss(1 - true, true)
    assert exact < 1e-4 < near < wrong
    assert map_loss(true, true, reduction="none").shape == (2,)


def test_pixel_loss_is_mean_abs_error():
    a = torch.rand(2, 3, 16, 16)
    b = a.clone()
    assert pixel_loss(a, b) == 0
    b[0] += 0.1
    assert torch.allclose(pixel_loss(a, b.clamp(0, 1), reduction="none")[1], torch.tensor(0.0))
    assert pixel_loss(a, (a + 0.2).clamp(0, 1)) > pixel_loss(a, (a + 0.1).clamp(0, 1))


def test_gradient_loss_charges_patch_steps_not_offsets():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(2, 3, 32, 32, generator=g) * 0.5 + 0.25
    assert gradient_loss(true, true) == 0
    assert gradient_loss(true + 0.1, true) < 1e-6  # a constant offset has the same differences
    grid = true.clone()
    grid[..., :16, :16] += 0.1  # one 16-px patch shifted: steps at its two inner borders
    smooth = true + 0.1 * torch.linspace(0, 1, 32).view(1, 1, 1, 32)  # the same mean change, spread out
    assert gradient_loss(grid, true) > 10 * gradient_loss(smooth, true)
    assert gradient_loss(grid, true, reduction="none").shape == (2,)
    # the plain L1 sees it the other way round: the grid costs less than the smooth ramp
    assert pixel_loss(grid, true) < pixel_loss(smooth, true)


def test_border_loss_charges_steps_at_patch_borders_only():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(2, 3, 48, 48, generator=g) * 0.5 + 0.25
    assert border_loss(true, true) == 0 and border_loss(true + 0.1, true) < 1e-6
    grid = true.clone()
    grid[..., :16, :16] += 0.1  # one patch shifted: a 0.1 step on its inner borders
    texture = true.clone()
    texture[..., 2:14, 2:14] += 0.1 * torch.rand(3, 12, 12, generator=g)  # changed inside a patch only
    assert border_loss(grid, true) > 0.005
    assert border_loss(texture, true) == 0
    assert border_loss(grid, true, reduction="none").shape == (2,)


def test_border_band_charges_a_step_spread_next_to_the_border():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(2, 3, 48, 48, generator=g) * 0.5 + 0.25
    sharp = true.clone()
    sharp[..., 16:] += 0.1  # a 0.1 step across the grid line at column 16 (pair 15 -> 16)
    smeared = true.clone()  # the same step spread over the pairs 14 -> 15, 15 -> 16, 16 -> 17
    smeared[..., 15] += 0.1 / 3
    smeared[..., 16] += 0.2 / 3
    smeared[..., 17:] += 0.1
    # band 0 sees a third of the smeared step (the escape a deblocking filter offers); band 2 all of it
    assert border_loss(smeared, true) == pytest.approx(float(border_loss(sharp, true)) / 3, rel=1e-4)
    assert border_loss(smeared, true, band=2) == pytest.approx(float(border_loss(sharp, true, band=2)), rel=1e-4)
    mid = true.clone()
    mid[..., 8] += 0.1  # a line halfway between borders: out of every band below half a patch
    assert border_loss(mid, true, band=2) < 1e-6 and border_loss(mid, true, band=7) > 1e-3
    with pytest.raises(ValueError, match="band"):
        border_loss(true, true, band=8)
    with pytest.raises(ConfigError, match="border_band"):
        LossConfig(lambda_border=0.5, border_band=9)


def test_border_band_traces_as_one_graph():
    # the GPU recipe compiles the whole objective (fullgraph): a band must not make a shape data-dependent
    g = torch.Generator().manual_seed(1)
    r, t = torch.rand(2, 3, 40, 56, generator=g), torch.rand(2, 3, 40, 56, generator=g)
    traced = torch.compile(lambda a, b: border_loss(a, b, reduction="none", band=3), backend="eager", fullgraph=True)
    torch.testing.assert_close(traced(r, t), border_loss(r, t, reduction="none", band=3))


def test_separation_hinge_and_mask():
    from dfrec.faces.identity import mean_embedding

    g = torch.Generator().manual_seed(0)
    mu = mean_embedding()
    s, t = mu + torch.randn(3, 128, generator=g) * 0.05, mu + torch.randn(3, 128, generator=g) * 0.05
    applies = torch.tensor([True, True, False])
    # recovered target = the true target: nothing to push
    assert separation_loss(t, s, t, applies) == 0
    # recovered target = the source: as bad as it gets, and only where it applies
    per = separation_loss(s, s, t, applies, reduction="none")
    assert per[0] > 0.5 and per[1] > 0.5 and per[2] == 0
    assert separation_loss(s, s, t, torch.zeros(3, dtype=torch.bool)) == 0


def test_triplet_separation_does_not_reward_resembling_nobody():
    from dfrec.faces.identity import mean_embedding

    g = torch.Generator().manual_seed(1)
    mu = mean_embedding()
    s, t = mu + torch.randn(64, 128, generator=g) * 0.05, mu + torch.randn(64, 128, generator=g) * 0.05
    nobody = mu + torch.randn(64, 128, generator=g) * 0.05
    applies = torch.ones(64, dtype=torch.bool)
    # the true target: IDSim 1 with itself, about 0 with the source: past any margin below 1
    assert separation_loss(t, s, t, applies, mode="triplet", margin=0.5) == 0
    # the source: as bad as it gets (about 1 + margin)
    assert separation_loss(s, s, t, applies, mode="triplet", margin=0.2) > 1.0
    # a third person is as far from both: the hinge mode counts that as separated, the triplet
    # mode still charges the margin
    assert separation_loss(nobody, s, t, applies) < 0.1
    assert separation_loss(nobody, s, t, applies, mode="triplet", margin=0.2) > 0.15
    with pytest.raises(ValueError, match="triplet"):
        separation_loss(t, s, t, applies, mode="contrastive")


def test_two_people_reads_ids_and_fakes():
    batch = {"is_fake": torch.tensor([1.0, 1.0, 0.0]), "source_id": ["a", "b", "c"], "target_id": ["x", "b", "c"]}
    assert two_people(batch, 3, torch.device("cpu")).tolist() == [True, False, False]
    assert two_people({"is_fake": torch.tensor([1.0, 0.0])}, 2, torch.device("cpu")).tolist() == [True, False]


def test_total_adds_the_new_terms_only_when_weighted(fixture_faces):
    x = torch.cat([fixture_faces["obama"], fixture_faces["biden"]])
    mask = torch.zeros(2, 1, 224, 224)
    mask[:, :, 60:180, 60:160] = 1.0
    # targets obama, biden with sources biden, obama; the "recovered target" is the source itself
    outputs = {"source": x.flip(0), "target": x.flip(0), "mask": mask * 0.5 + 0.25}
    batch = {"source": x.flip(0), "target": x, "mask": mask, "is_fake": torch.ones(2),
             "source_id": ["b", "o"], "target_id": ["o", "b"]}
    base = dict(lambda_perc=0, lambda_attr=0, lambda_patch=0, lambda_cls=0)
    _, parts = DFRECLoss(LossConfig(**base))(outputs, batch)
    assert set(parts) == {"id", "id_source", "id_target", "total"}
    loss = DFRECLoss(LossConfig(**base, lambda_map=1.0, lambda_pix=1.0, lambda_grad=0.5, lambda_sep=1.0))
    total, parts = loss(outputs, batch)
    assert {"map", "pix", "grad", "sep"} <= set(parts)
    assert parts["sep"] > 0.3 and parts["pix"] > 0.01 and parts["map"] > 0.1 and parts["grad"] > 0.001
    want = 2.0 * parts["id"] + parts["map"] + parts["pix"] + 0.5 * parts["grad"] + parts["sep"]
    assert torch.allclose(total, want, atol=1e-5)


def test_total_border_term_follows_the_models_patch_grid():
    true = torch.full((1, 3, 32, 32), 0.5)
    stepped = true.clone()
    stepped[..., :, 8:] += 0.1  # a step on the 8-px grid line only, none on a 16-px one
    loss = DFRECLoss(LossConfig(lambda_id=0, lambda_perc=0, lambda_attr=0, lambda_patch=0, lambda_cls=0, lambda_border=1.0))
    for side, charged in ((8, True), (16, False)):
        outputs = {"target": stepped, "pred_patches": torch.zeros(1, 2, side * side * 3)}
        _, parts = loss(outputs, {"target": true})
        assert bool(parts["border"] > 0.001) is charged, (side, parts["border"])


def test_total_source_separation_charges_a_source_that_kept_the_targets_head(fixture_faces):
    """Obama pasted on Biden and back: a recovered source equal to the target is charged, the
    true source is not; the source's term leaves the target's alone."""
    x = torch.cat([fixture_faces["obama"], fixture_faces["biden"]])
    batch = {"source": x.flip(0), "target": x, "is_fake": torch.ones(2), "source_id": ["b", "o"], "target_id": ["o", "b"]}
    cfg = dict(lambda_perc=0, lambda_attr=0, lambda_patch=0, lambda_cls=0, sep_mode="triplet", lambda_sep_source=1.0)
    loss = DFRECLoss(LossConfig(**cfg))
    _, kept_target = loss({"source": x, "target": x}, batch)          # the source is the target's face
    _, separated = loss({"source": x.flip(0), "target": x}, batch)    # the true source
    assert kept_target["sep_source"] > 1.0 and separated["sep_source"] == 0
    assert "sep" not in kept_target
    with pytest.raises(ConfigError, match="lambda_sep_source needs the identity"):
        LossConfig(lambda_id=0, lambda_sep_source=1.0)


def test_total_source_pixel_term_charges_the_source_only(fixture_faces):
    """``lambda_pix_source``: L1 of the recovered source against the true source's crop; the
    recovered target does not enter it."""
    obama, biden = fixture_faces["obama"], fixture_faces["biden"]
    batch = {"source": obama, "target": biden}
    loss = DFRECLoss(LossConfig(lambda_id=0, lambda_perc=0, lambda_attr=0, lambda_patch=0, lambda_cls=0,
                                lambda_pix_source=2.0))
    _, right = loss({"source": obama, "target": obama}, batch)   # the target is wrong, the source right
    total, wrong = loss({"source": biden, "target": biden}, batch)
    assert right["pix_source"] == 0 and "pix" not in right
    assert wrong["pix_source"] == pytest.approx(float(pixel_loss(biden, obama)))
    assert torch.allclose(total, 2.0 * wrong["pix_source"])
    assert "source" in loss.describe()["pixel_source"]


def test_low_passed_source_pixel_term_sees_colour_not_features(fixture_faces):
    """``pix_source_lowpass`` 8: a colour cast costs as much as at full resolution, a shuffle of
    pixels inside each 8-px block (the features, same block means) costs nothing."""
    obama = fixture_faces["obama"]
    cast = (obama + torch.tensor([0.0, 0.0, 0.1]).view(1, 3, 1, 1)).clamp(0, 1)
    blocks = obama.unfold(2, 8, 8).unfold(3, 8, 8)  # (1, 3, 28, 28, 8, 8)
    shuffled = blocks.flip(-1).flip(-2).permute(0, 1, 2, 4, 3, 5).reshape_as(obama)
    assert float(pixel_loss(shuffled, obama)) > 0.01
    assert float(pixel_loss(shuffled, obama, lowpass=8)) < 1e-6
    assert float(pixel_loss(cast, obama, lowpass=8)) == pytest.approx(float(pixel_loss(cast, obama)), rel=1e-4)
    loss = DFRECLoss(LossConfig(lambda_id=0, lambda_perc=0, lambda_attr=0, lambda_patch=0, lambda_cls=0,
                                lambda_pix_source=1.0, pix_source_lowpass=8))
    _, parts = loss({"source": shuffled, "target": obama}, {"source": obama, "target": obama})
    assert float(parts["pix_source"]) < 1e-6
    assert "8-px block means" in loss.describe()["pixel_source"]
    with pytest.raises(ConfigError, match="pix_source_lowpass"):
        LossConfig(pix_source_lowpass=0)
