"""Blockiness and map IoU: natural photos ≈ 1, a block grid far above, JPEG blocks only with
the off-border reference, region weighting,
IoU against hand-computed overlaps, NaN for real faces."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dfrec.metrics import Blockiness, Checkerboard, blockiness, checkerboard, false_positive_area, map_iou


@pytest.fixture(scope="module")
def photo(astronaut):
    x = torch.from_numpy(astronaut).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(x, size=(224, 224), mode="area")


def test_natural_photo_is_near_one(photo):
    assert 0.9 < float(blockiness(photo)) < 1.1


def test_patch_grid_is_detected(photo):
    # a 16-px block grid laid over the photo (each patch shifted by its own offset)
    g = torch.Generator().manual_seed(0)
    offs = F.interpolate(torch.rand(1, 3, 14, 14, generator=g) * 0.1 - 0.05, scale_factor=16, mode="nearest")
    gridded = (photo + offs).clamp(0, 1)
    assert float(blockiness(gridded)) > 1.3
    # the same steps moved 8 px off the measured borders (mid-patch) are not measured as a grid
    assert float(blockiness(gridded[..., 8:-8, 8:-8].contiguous())) < 1.15


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """``x (1, 3, H, W)`` in [0, 1] through a JPEG round trip (OpenCV, 4:2:0 colour)."""
    import cv2

    u8 = (x[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    back = cv2.imdecode(cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    return torch.from_numpy(back).permute(2, 0, 1)[None].float() / 255


def test_midline_reference_ignores_jpeg_blocks_but_not_a_patch_grid(photo):
    compressed = jpeg(photo, 30)
    # JPEG's 8-px blocks sit on the 16-px grid: the definition counts them as grid
    assert float(blockiness(compressed)) > 1.3
    assert abs(float(blockiness(compressed, reference="midline")) - 1) < 0.1
    assert abs(float(blockiness(photo, reference="midline")) - 1) < 0.1
    g = torch.Generator().manual_seed(0)  # a brightness grid: the same step in every channel
    offs = F.interpolate(torch.rand(1, 1, 14, 14, generator=g) * 0.1 - 0.05, scale_factor=16, mode="nearest")
    gridded = (photo + offs).clamp(0, 1)
    assert float(blockiness(gridded, reference="midline")) > 1.3  # (1.48)
    assert float(blockiness(jpeg(gridded, 30), reference="midline")) > 1.15  # the grid survives compression (1.20)
    # the module form passes the reference on; bad references and odd patches are refused
    assert float(Blockiness(reference="midline")(compressed)) == float(blockiness(compressed, reference="midline"))
    with pytest.raises(ValueError, match="reference"):
        blockiness(photo, reference="mid")
    with pytest.raises(ValueError, match="even"):
        blockiness(photo, patch_size=15, reference="midline")


def test_checkerboard_reads_a_two_pixel_checker_and_not_a_photo(photo):
    assert 0.2 < float(checkerboard(photo)) < 0.8  # a photo's fine detail is mostly edges (white noise: 1.41)
    i = torch.arange(224.0)
    checker = (-1) ** (i[:, None] + i[None, :])
    assert float(checkerboard(0.5 + 0.1 * checker.expand(1, 3, -1, -1))) == pytest.approx(2.0)
    # added to the photo at a few grey levels, it doubles the measure; the binomial filter takes it away
    dotted = (photo + 0.02 * checker).clamp(0, 1)
    assert float(checkerboard(dotted)) > 2 * float(checkerboard(photo))
    from dfrec.models.tirm import binomial_blur

    assert float(checkerboard(binomial_blur(dotted))) < float(checkerboard(photo))
    # only the region counts; a flat image is NaN, not 0
    region = torch.zeros(1, 1, 224, 224)
    region[..., :112, :] = 1.0
    half = photo.clone()
    half[..., 112:, :] = dotted[..., 112:, :]
    torch.testing.assert_close(checkerboard(half, region), checkerboard(photo[..., :113, :]), rtol=0.02, atol=0)
    assert math.isnan(float(checkerboard(torch.full((1, 3, 32, 32), 0.5))))
    assert Checkerboard(reduction="none")(torch.cat([photo, dotted])).shape == (2,)


def test_region_restricts_the_measure(photo):
    offs = torch.zeros_like(photo)
    offs[..., 112:, :] = F.interpolate(torch.rand(1, 3, 7, 14) * 0.2 - 0.1, scale_factor=16, mode="nearest")
    x = (photo + offs).clamp(0, 1)
    top = torch.zeros(1, 1, 224, 224)
    top[..., :100, :] = 1
    # the grid below row 112 does not reach the top region, and shows in the bottom one
    assert abs(float(blockiness(x, top)) - float(blockiness(photo, top))) < 1e-6
    assert float(blockiness(x, 1 - top)) > float(blockiness(photo, 1 - top)) + 0.3
    assert math.isnan(float(blockiness(x, torch.zeros(1, 1, 224, 224))))


def test_map_iou_and_false_positives():
    true = torch.zeros(3, 1, 10, 10)
    true[0, :, :5] = 1  # 50 px
    true[1, :, :5] = 1
    pred = torch.zeros(3, 1, 10, 10)
    pred[0, :, :5] = 0.9  # exact
    pred[1, :, 3:8] = 0.8  # overlap 20 of union 80
    pred[2, :, :1] = 0.7  # a real face: 10 px marked
    iou = map_iou(pred, true)
    assert iou[0] == 1.0 and abs(float(iou[1]) - 0.25) < 1e-6 and iou[2] == 0.0
    assert math.isnan(float(map_iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))[0]))  # nothing to find
    assert abs(float(map_iou(pred[:2], true[:2], reduction="mean")) - 0.625) < 1e-6
    assert false_positive_area(pred, true)[2] == 0.1 and false_positive_area(pred, true)[0] == 0
