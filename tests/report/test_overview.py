"""The overview picture: every face boxed where it is, numbered in order, coloured by verdict."""

from __future__ import annotations

import numpy as np

from dfrec.report.overview import COLORS, OVERVIEW_SIDE, overview_image


def _near(px: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(px.astype(int) - np.array(rgb)).max() <= tol)


def test_boxes_drawn_at_the_faces_in_verdict_colours():
    img = np.full((1000, 1600, 3), 128, np.uint8)  # scaled by 0.5 to 800 px
    boxes = np.array([[200, 300, 600, 700], [1000, 200, 1200, 400]], np.float64)
    out = overview_image(img, boxes, np.array([0.9, 0.1]))
    assert out.shape == (500, 800, 3) and out.dtype == np.uint8 and max(out.shape[:2]) == OVERVIEW_SIDE
    # face 1 (fake): red edges at the box scaled by 0.5; face 2 (real): green
    assert _near(out[250, 100], COLORS["fake"]) and _near(out[350, 300], COLORS["fake"])  # left, right edges
    assert _near(out[150, 500], COLORS["real"]) and _near(out[200, 550], COLORS["real"])  # left edge, bottom edge
    # inside and far from the boxes the picture is unchanged
    assert (out[250, 200] == 128).all() and (out[450, 700] == 128).all()
    # each number sits in a filled tag of its box's colour just above the box
    for box, key in zip(boxes / 2, ("fake", "real")):
        x0, y0 = int(box[0]), int(box[1])
        tag = out[y0 - 20:y0 - 2, x0 + 2:x0 + 12].reshape(-1, 3)
        assert np.mean([_near(p, COLORS[key]) for p in tag]) > 0.3, key
        assert (tag.min(axis=1) > 200).any()  # the white digit


def test_small_pictures_keep_their_size_and_tags_stay_inside():
    img = np.full((120, 100, 3), 50, np.uint8)
    out = overview_image(img, np.array([[0, 0, 60, 60], [80, 90, 140, 150]]), np.array([0.2, 0.7]))
    assert out.shape == img.shape  # never upscaled
    # a box at the top edge gets its tag inside; one past the corner is clipped, not lost
    assert _near(out[2, 2], COLORS["real"]) and _near(out[119, 99], COLORS["fake"], tol=60)
    assert overview_image(img, np.zeros((0, 4)), np.zeros(0)).shape == img.shape
