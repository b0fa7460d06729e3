"""Alignment: dlib-template similarity fit, dlib's chip as a fixed sub-square, paste-back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfrec.errors import InputError
from dfrec.faces.align import (
    DEFAULT_MARGIN,
    FIT_INDICES,
    align_face,
    canonical_landmarks,
    chip_matrix,
    invert_affine,
    paste_back,
    similarity_transform,
    transform_points,
)
from dfrec.io import read_image
from needs import need_module

dlib = need_module("dlib")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def obama(fixture_dir):
    """(image, dlib full_object_detection, (68, 2) landmarks) from dlib's own HOG + sp68."""
    from dfrec.faces.model_files import shape_predictor_68_path

    img = read_image(fixture_dir / "obama.jpg")
    img = cv2.resize(img, (455, 569), interpolation=cv2.INTER_AREA)  # half size: faster, still ~125 px face
    rect = dlib.get_frontal_face_detector()(img, 0)[0]
    shape = dlib.shape_predictor(str(shape_predictor_68_path()))(img, rect)
    lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    return img, shape, lm


def test_similarity_transform_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (30, 2))
    a = 1.7 * np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
    m = np.hstack([a, [[12.0], [-5.0]]])
    np.testing.assert_allclose(similarity_transform(src, transform_points(src, m)), m, atol=1e-9)
    np.testing.assert_allclose(transform_points(transform_points(src, m), invert_affine(m)), src, atol=1e-9)


def test_canonical_landmarks_geometry():
    lm = canonical_landmarks(224, DEFAULT_MARGIN)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert (lm > 0).all() and (lm < 224).all()
    left_eye, right_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 1
    assert left_eye[1] < lm[30, 1] < lm[51, 1] < lm[8, 1]  # eyes, nose tip, lip, chin top to bottom
    assert abs(lm[8, 0] - 112) < 10  # chin near the vertical mid-line
    # margin 0 puts dlib's template in [0, size]
    assert canonical_landmarks(100, 0.0)[17:].min() >= 0 and canonical_landmarks(100, 0.0)[17:].max() <= 100


def test_align_face_matches_dlib_face_chip(obama):
    """With dlib's size/padding, our crop equals dlib.get_face_chip up to resampling."""
    img, shape, lm = obama
    ours = align_face(img, lm, size=150, margin=0.25)
    theirs = dlib.get_face_chip(img, shape, 150, 0.25)
    assert psnr(ours.image, theirs) > 28  # dlib stretches its chip by ~1 px: sub-pixel offsets
    # matrix is a similarity: rotation angle equals dlib's chip angle
    details = dlib.get_face_chip_details(shape, 150, 0.25)
    back = ours.inverse
    assert np.isclose(np.arctan2(back[1, 0], back[0, 0]), details.angle, atol=1e-9)
    a = ours.matrix[:, :2]
    np.testing.assert_allclose(a @ a.T, np.eye(2) * np.linalg.det(a), atol=1e-9)


def test_aligned_landmarks_near_canonical(obama):
    img, _, lm = obama
    al = align_face(img, lm)
    assert al.image.shape == (224, 224, 3) and al.image.dtype == np.uint8
    np.testing.assert_allclose(al.landmarks, transform_points(lm, al.matrix), atol=1e-3)
    err = np.linalg.norm(al.landmarks - canonical_landmarks(224, DEFAULT_MARGIN), axis=1)
    assert err[FIT_INDICES].mean() < 5  # pixels in a 224 crop: a typical face fits the mean face


def test_dlib_chip_is_fixed_subsquare_of_crop(obama):
    """chip_matrix maps crop pixels onto the pixels of dlib's 150 chip (from the original image)."""
    img, shape, lm = obama
    al = align_face(img, lm)
    details = dlib.get_face_chip_details(shape, 150, 0.25)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = dlib.extract_image_chip(np.ascontiguousarray(xx), details)  # image x of each chip pixel
    cy = dlib.extract_image_chip(np.ascontiguousarray(yy), details)
    pts = np.stack([cx.ravel(), cy.ravel()], 1)
    predicted = transform_points(transform_points(pts, al.matrix), chip_matrix(224, DEFAULT_MARGIN))
    uu, vv = np.meshgrid(np.arange(150), np.arange(150))
    assert np.abs(predicted - np.stack([uu.ravel(), vv.ravel()], 1)).max() < 0.5
    cm = chip_matrix(224, DEFAULT_MARGIN)
    assert cm[0, 1] == 0 and cm[1, 0] == 0 and cm[0, 0] == cm[1, 1]  # axis-aligned, uniform
    corners = transform_points(np.array([[0, 0], [149, 149]], float), invert_affine(cm))
    assert (corners > 0).all() and (corners < 223).all()  # inside the crop
    chip = cv2.warpAffine(al.image, cm, (150, 150), flags=cv2.INTER_LINEAR)
    assert psnr(chip, dlib.get_face_chip(img, shape, 150, 0.25)) > 28


def test_alignment_undoes_rotation_and_scale(obama):
    img, _, lm = obama
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.3)
    img2 = cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    a1 = align_face(img, lm)
    a2 = align_face(img2, transform_points(lm, rot))
    inner = (slice(40, 184), slice(40, 184))
    assert psnr(a1.image[inner], a2.image[inner]) > 27


def test_large_image_is_antialiased(obama):
    """A 4x upscaled copy aligns to (nearly) the same crop: the pyramid keeps it alias-free."""
    img, _, lm = obama
    big = cv2.resize(img, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    a1 = align_face(img, lm, size=112)
    a2 = align_face(big, lm * 4 + 1.5, size=112)  # pixel centres: x_big = 4 x + 1.5
    assert psnr(a1.image, a2.image) > 30


def test_small_face_is_enlarged_with_lanczos(fixture_dir, obama, monkeypatch):
    """A face 8x smaller than in the photo is enlarged to the crop with Lanczos-4
    (ENLARGE_INTERPOLATION): closer to the full-size face's crop than a bilinear enlargement.
    A shrinking warp (a face larger than the crop) does not use it."""
    import dfrec.faces.align as align

    _, _, lm = obama
    full = read_image(fixture_dir / "obama.jpg")
    lm_full = (lm + 0.5) * np.array([full.shape[1] / 455, full.shape[0] / 569]) - 0.5
    ref = align_face(full, lm_full)  # eyes ~100 px apart: a shrinking warp
    small = cv2.resize(full, (full.shape[1] // 8, full.shape[0] // 8), interpolation=cv2.INTER_AREA)
    lm_small = (lm_full + 0.5) * np.array([small.shape[1] / full.shape[1], small.shape[0] / full.shape[0]]) - 0.5
    assert align.ENLARGE_INTERPOLATION == cv2.INTER_LANCZOS4
    lanczos = align_face(small, lm_small)
    monkeypatch.setattr(align, "ENLARGE_INTERPOLATION", cv2.INTER_LINEAR)
    linear = align_face(small, lm_small)
    assert lanczos.matrix[0, 0] > 3 and ref.matrix[0, 0] < 1  # enlarged > 3x; shrunk
    inner = (slice(40, 184), slice(40, 184))
    assert psnr(lanczos.image[inner], ref.image[inner]) > psnr(linear.image[inner], ref.image[inner]) + 0.2
    np.testing.assert_array_equal(align_face(full, lm_full).image, ref.image)  # shrinking: bilinear either way


def test_paste_back_roundtrip(fixture_dir):
    """paste_back(align(x)) reproduces x on the face and leaves far pixels bit-exact."""
    img = read_image(fixture_dir / "obama.jpg")
    img = cv2.resize(img, (364, 455), interpolation=cv2.INTER_AREA)  # face at about crop scale
    canvas = np.zeros((520, 600, 3), np.uint8)
    canvas[:] = (20, 200, 90)
    canvas[30:485, 120:484] = img
    rect = dlib.get_frontal_face_detector()(canvas, 1)[0]
    from dfrec.faces.model_files import shape_predictor_68_path

    shape = dlib.shape_predictor(str(shape_predictor_68_path()))(canvas, rect)
    lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    al = align_face(canvas, lm)
    assert 0.7 < np.sqrt(np.linalg.det(al.matrix[:, :2])) < 1.6
    out = paste_back(canvas, al.image, al.matrix)
    face = (slice(rect.top(), rect.bottom()), slice(rect.left(), rect.right()))
    assert psnr(out[face], canvas[face]) > 45
    # Lanczos (PASTE_INTERPOLATION) brings the face back closer than bilinear did
    bilinear = paste_back(canvas, al.image, al.matrix, interpolation=cv2.INTER_LINEAR)
    assert psnr(out[face], canvas[face]) > psnr(bilinear[face], canvas[face]) + 1.0
    # outside the crop's footprint nothing changes
    corners = transform_points(np.array([[0, 0], [223, 0], [223, 223], [0, 223]], float), al.inverse)
    footprint = np.zeros(canvas.shape[:2], np.uint8)
    cv2.fillConvexPoly(footprint, np.round(corners).astype(np.int32), 1)
    footprint = cv2.dilate(footprint, np.ones((5, 5), np.uint8))
    assert (out[footprint == 0] == canvas[footprint == 0]).all()
    # a different crop lands at the face, weighted fully in the middle and not at all with mask 0
    gray = np.full_like(al.image, 128)
    pasted = paste_back(canvas, gray, al.matrix)
    nose = np.round(lm[30]).astype(int)
    assert (np.abs(pasted[nose[1], nose[0]].astype(int) - 128) <= 1).all()
    np.testing.assert_array_equal(paste_back(canvas, gray, al.matrix, mask=np.zeros((224, 224))), canvas)


def test_bad_landmarks_raise():
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InputError):
        align_face(img, np.zeros((5, 2)))
    with pytest.raises(InputError):
        align_face(img, np.full((68, 2), 3.0))
    with pytest.raises(InputError):
        align_face(img, np.full((68, 2), np.nan))
