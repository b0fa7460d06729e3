"""Baselines (inpainting, direct U-Net), test-time ablations, tracing, tables and figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfrec.evaluation.baselines import face_hull_mask, inpaint_face
from dfrec.models.direct_unet import DirectUNet
from dfrec.train.baseline import DirectLoss
from dfrec.evaluation.figures import COLUMNS, sample_grid
from dfrec.evaluation.tables import Table
from dfrec.evaluation.tracing import topk_accuracy


def test_inpainting_changes_only_the_face_region(astronaut):
    from dfrec.metrics.pose import euler_to_rotation, project_template

    img = np.ascontiguousarray(astronaut[:224, 100:324])
    lm = project_template(euler_to_rotation(0, 0, 0))
    out = inpaint_face(img, lm)
    mask = face_hull_mask(lm, img.shape[:2]) > 0
    diff = np.abs(out.astype(int) - img.astype(int)).sum(-1)
    assert diff[~mask].max() == 0 and diff[mask].mean() > 1
    with pytest.raises(ValueError):
        inpaint_face(img, lm, method="magic")


def test_direct_unet_starts_at_identity_roundtrips_and_learns(tmp_path):
    torch.manual_seed(0)
    m = DirectUNet((4, 8))
    x = torch.rand(2, 3, 32, 32) * 0.9 + 0.05
    out = m(x)
    assert set(out) >= {"source", "target", "mask", "logit"}
    assert (out["target"] - x).abs().max() < 1e-5
    m.save_pretrained(tmp_path / "u", {"note": "test"})
    m2 = DirectUNet.from_pretrained(tmp_path / "u")
    assert torch.allclose(m2(x)["target"], m.eval()(x)["target"]) and m2.checkpoint_metadata["note"] == "test"
    y = x.flip(-1)
    m.train()
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    loss_fn = DirectLoss()
    first = None
    for _ in range(15):
        loss, parts = loss_fn(m(x), {"target": y})
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first


def test_variants_differ_and_full_matches_forward():
    from dfrec.evaluation.variants import run_variant
    from dfrec.models import create_model

    torch.manual_seed(0)
    model = create_model("tiny").eval()
    x = torch.rand(2, 3, 224, 224)
    full = run_variant(model, x, "full", torch.Generator().manual_seed(1))
    ref = model(x, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(full["target"], ref["target"])
    no_ism = run_variant(model, x, "no_ism", torch.Generator().manual_seed(1))
    assert not torch.allclose(no_ism["mask"], full["mask"])
    assert set(no_ism["mask"].unique().tolist()) <= {0.0, 1.0}


def test_gallery_ranks_true_identity_first():
    from dfrec.evaluation.tracing import Gallery
    from dfrec.faces.identity import mean_embedding

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 128, generator=g)
    photos = torch.cat([centres + 0.1 * torch.randn(5, 128, generator=g) for _ in range(2)]) + mean_embedding()
    names = [f"p{i}" for i in range(5)] * 2
    gal = Gallery.from_embeddings(photos, names)
    probes = centres + 0.1 * torch.randn(5, 128, generator=g) + mean_embedding()
    ranks = gal.ranks(probes, [f"p{i}" for i in range(5)])
    assert (ranks == 0).all()
    assert topk_accuracy(np.array([0, 3, 7, -1])) == {"top1": 0.25, "top5": 0.5}


def test_table_formats_and_grid():
    t = Table("t", "T", ["method", "FID", "n"], formats={"FID": ".1f", "n": "d"})
    t.add(method="a", FID=12.345, n=3)
    t.add(method="b", FID=float("nan"), n=4)
    md = t.to_markdown()
    assert "| a | 12.3 | 3 |" in md and "n/a" in md
    assert t.to_csv().splitlines()[0] == "method,FID,n"
    assert t.to_dict()["rows"][1]["FID"] is None
    grid = sample_grid([[torch.rand(3, 64, 64)] * 5 + [torch.rand(1, 64, 64)]], cell=48)
    assert grid.shape == (22 + 48 + 4, len(COLUMNS) * 50 + 2, 3)


def test_direct_unet_trains_with_dfrecs_loop(tmp_path):
    from dfrec.train.baseline import train_direct_unet
    from dfrec.train.config import config_from_dict

    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(4):
        t = torch.rand(3, 32, 32, generator=g)
        items.append({"forgery": t.flip(-1), "source": t, "target": t, "mask": torch.zeros(1, 32, 32),
                      "is_fake": torch.tensor(1.0), "kind": "swap", "source_id": "a", "target_id": "b"})
    cfg = config_from_dict({"data": {"batch_size": 2, "workers": 0, "val_samples": 0, "image_size": 32},
                            "train": {"steps": 3, "checkpoint_every": 3, "val_every": 1000, "log_every": 1},
                            "output": {"dir": str(tmp_path / "run")}})
    train_direct_unet(cfg, (4, 8), build_datasets=lambda _c: (items, None), device="cpu", progress=False)
    model = DirectUNet.from_pretrained(tmp_path / "run" / "model")
    assert model.widths == (4, 8) and model(items[0]["forgery"][None])["target"].shape == (1, 3, 32, 32)


def test_downscale_perturbation_loses_detail_not_layout():
    """Shrunk k times and enlarged back (as the aligner enlarges): the fine detail is gone, the
    further from the original the smaller the face was, while the layout (8-px block means) stays."""
    from dfrec.evaluation.paper_tables import perturb

    x = torch.from_numpy(np.stack([_lfw_like_crop(seed) for seed in (0, 1)])).permute(0, 3, 1, 2).contiguous()
    sharp = _detail(x)
    blocks = torch.nn.functional.avg_pool2d(x.float(), 8)
    prev = 0.0
    for k in (2, 3, 4):
        y = perturb(x, "downscale", k)
        assert y.dtype == torch.uint8 and y.shape == x.shape
        assert (y.float() - x.float()).mean().abs() < 2  # the same picture, brightness kept
        assert (torch.nn.functional.avg_pool2d(y.float(), 8) - blocks).abs().mean() < 10  # the layout kept (unrelated blocks: ~47)
        assert _detail(y) < 0.5 * sharp  # the pixel-level texture gone
        err = float((y.float() - x.float()).abs().mean())
        assert err > prev  # further from the original the smaller the face was
        prev = err


def _lfw_like_crop(seed: int) -> np.ndarray:
    """A crop with fine detail at every scale: smoothed noise plus a pixel-level texture."""
    g = np.random.default_rng(seed)
    coarse = np.kron(g.uniform(60, 200, (8, 8, 3)), np.ones((8, 8, 1)))
    return np.clip(coarse + g.normal(0, 25, coarse.shape), 0, 255).astype(np.uint8)


def _detail(x: torch.Tensor) -> float:
    """Mean |horizontal neighbour difference|: the energy of the finest detail."""
    return float((x[..., 1:].float() - x[..., :-1].float()).abs().mean())


def test_shift_perturbation_moves_the_crop_and_back():
    from dfrec.evaluation.paper_tables import perturb, translate_crops

    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    moved = perturb(x, "shift", 4)
    assert moved.dtype == torch.uint8 and moved.shape == x.shape
    assert torch.equal(moved[..., 4:, 4:], x[..., :-4, :-4])
    assert torch.equal(translate_crops(moved, -4, -4)[..., :-4, :-4], x[..., :-4, :-4])  # back, but the edge band
