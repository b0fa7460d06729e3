"""Detection + 68 landmarks: real faces, every image mode, several faces, fallbacks."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
from PIL import Image

from dfrec.faces.align import FIT_INDICES, align_face, canonical_landmarks
from dfrec.faces.detect import Face, FaceDetector, detect_faces, hog_box_from_landmarks, pick_face
from dfrec.io import read_image
from needs import need_module

dlib = need_module("dlib")


@pytest.fixture(scope="module")
def obama(fixture_dir) -> np.ndarray:
    """obama.jpg at half size (569, 455, 3): one face of about 125 px."""
    img = read_image(fixture_dir / "obama.jpg")
    return cv2.resize(img, (455, 569), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def obama_face(obama) -> Face:
    faces = detect_faces(obama)
    assert len(faces) == 1
    return faces[0]


def plausible(face: Face) -> None:
    """Anatomical order of the 68 landmarks inside the box."""
    lm = face.landmarks
    x0, y0, x1, y1 = face.box
    w = x1 - x0
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    inner = lm[17:]
    assert (inner[:, 0] > x0 - 0.1 * w).all() and (inner[:, 0] < x1 + 0.1 * w).all()
    assert (inner[:, 1] > y0 - 0.2 * w).all() and (inner[:, 1] < y1 + 0.1 * w).all()
    left_eye, right_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    assert left_eye[0] < lm[30, 0] < right_eye[0]  # nose tip between the eyes (x)
    assert max(left_eye[1], right_eye[1]) < lm[30, 1] < lm[62, 1] < lm[8, 1]  # eyes, nose, mouth, chin
    assert 0.25 * w < np.linalg.norm(right_eye - left_eye) < 0.6 * w


def test_obama_one_face_matches_dlib(obama, obama_face):
    f = obama_face
    assert f.detector == "hog" and f.score > 0.5
    plausible(f)
    # identical to dlib's own HOG + sp68 on the same image (no downscale below max_side)
    rect = dlib.get_frontal_face_detector()(obama, 1)[0]
    from dfrec.faces.model_files import shape_predictor_68_path

    ref = dlib.shape_predictor(str(shape_predictor_68_path()))(obama, rect)
    np.testing.assert_array_equal(f.landmarks, np.array([[p.x, p.y] for p in ref.parts()], np.float32))
    np.testing.assert_allclose(f.box, [rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1])
    d = f.to_dict()
    assert len(d["landmarks"]) == 68 and d["detector"] == "hog"


def test_astronaut_one_face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1  # the weak HOG hit on the mission badge is rejected by the CNN check
    plausible(faces[0])
    cx, cy = (faces[0].box[:2] + faces[0].box[2:]) / 2
    assert 180 < cx < 260 and 90 < cy < 150  # Eileen Collins' face, upper middle
    assert len(FaceDetector(verify_below=0).detect(astronaut)) == 2  # what HOG alone reports


@pytest.mark.parametrize("mode", ["gray", "rgba", "16bit", "exif"])
def test_image_modes_give_same_landmarks(tmp_path, obama, obama_face, mode):
    if mode == "gray":
        Image.fromarray(obama).convert("L").save(tmp_path / "x.png")
    elif mode == "rgba":
        Image.fromarray(np.dstack([obama, np.full(obama.shape[:2], 255, np.uint8)])).save(tmp_path / "x.png")
    elif mode == "16bit":
        g = np.asarray(Image.fromarray(obama).convert("L")).astype(np.uint16) * 257
        Image.fromarray(g).save(tmp_path / "x.png")
    else:  # stored rotated, EXIF orientation 6 rotates it back for display
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(np.ascontiguousarray(np.rot90(obama, 1))).save(tmp_path / "x.jpg", quality=95, exif=exif)
    path = next(tmp_path.iterdir())
    image = read_image(path)
    assert image.shape == obama.shape and image.dtype == np.uint8
    faces = detect_faces(image)
    assert len(faces) == 1
    err = np.linalg.norm(faces[0].landmarks - obama_face.landmarks, axis=1).mean()
    assert err < 0.03 * obama_face.width


def test_several_faces_largest_first(fixture_dir, obama):
    biden = read_image(fixture_dir / "biden.jpg")
    biden = cv2.resize(biden, (220, round(220 * biden.shape[0] / biden.shape[1])), interpolation=cv2.INTER_AREA)[:500]
    canvas = np.full((600, 1000, 3), 230, np.uint8)
    canvas[10 : 10 + obama.shape[0], 500 : 500 + obama.shape[1]] = obama
    canvas[100 : 100 + biden.shape[0], 20 : 20 + biden.shape[1]] = biden
    faces = detect_faces(canvas)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] > 500 and faces[1].box[2] < 20 + biden.shape[1]  # obama right, biden left
    for f in faces:
        plausible(f)
    assert pick_face(faces, "largest") is faces[0]
    assert pick_face(faces, "central", (600, 100)) is faces[1]  # biden's box is nearer x=50


def test_no_face_in_gradient():
    xx, yy = np.meshgrid(np.linspace(0, 255, 320), np.linspace(0, 255, 240))
    grad = np.dstack([xx, yy, np.full_like(xx, 90.0)]).astype(np.uint8)
    assert detect_faces(grad) == []
    with pytest.raises(Exception, match="no face"):
        pick_face([])


def test_big_image_detects_on_downscaled_copy(obama, obama_face):
    big = cv2.resize(obama, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1820 x 2276
    faces = FaceDetector(max_side=600).detect(big)
    assert len(faces) == 1
    expected = obama_face.landmarks * 4 + 1.5  # pixel centres: x_big = 4 x + 1.5
    assert np.linalg.norm(faces[0].landmarks - expected, axis=1).mean() < 0.05 * faces[0].width


def test_cnn_path_landmarks_agree_with_hog(obama, obama_face):
    """The CNN box is mapped to a HOG-style box, so landmarks agree with the HOG path."""
    faces = FaceDetector(detectors=("cnn",), cnn_max_side=300).detect(obama)
    assert len(faces) == 1 and faces[0].detector == "cnn"
    err = np.linalg.norm(faces[0].landmarks - obama_face.landmarks, axis=1).mean()
    assert err < 0.03 * obama_face.width
    box = hog_box_from_landmarks(obama_face.landmarks)
    assert np.abs(box - obama_face.box).max() < 0.15 * obama_face.width


def test_detector_pickles_and_min_size(obama):
    det = pickle.loads(pickle.dumps(FaceDetector(min_size=400)))
    assert det.detect(obama) == []  # the face is ~125 px, under min_size
    with pytest.raises(ValueError):
        FaceDetector(detectors=("hog", "nope"))


def test_lfw_images(lfw_dir):
    """A few LFW images, including one HOG misses that the CNN fallback finds."""
    root = lfw_dir / "images_deepfunneled"
    names = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Abdoulaye_Wade/Abdoulaye_Wade_0003.jpg"]
    detectors = []
    for name in names:
        img = read_image(root / name)
        faces = detect_faces(img)
        assert faces, name
        f = pick_face(faces, "central", img.shape)
        detectors.append(f.detector)
        centre = (f.box[:2] + f.box[2:]) / 2
        assert np.abs(centre - 125).max() < 30  # deep-funneled: the subject is centred
        plausible(f)
        al = align_face(img, f.landmarks)
        err = np.linalg.norm(al.landmarks - canonical_landmarks(224), axis=1)[FIT_INDICES].mean()
        assert err < 8
    assert detectors == ["hog", "cnn"]
    assert detect_faces(read_image(root / names[1]), fallback=False) == []


def test_want_centre_finds_the_subject_behind_a_bystander(lfw_dir):
    """HOG finds only a bystander in this LFW image; want_centre goes on to the fallbacks."""
    img = read_image(lfw_dir / "images_deepfunneled" / "Joaquin_Phoenix" / "Joaquin_Phoenix_0001.jpg")
    plain = detect_faces(img)
    assert len(plain) == 1 and plain[0].box[0] > 150  # the bystander, lower right
    faces = FaceDetector(want_centre=True).detect(img)
    assert len(faces) == 2
    subject = pick_face(faces, "central", img.shape)
    assert subject.detector in ("hog+up", "cnn") and subject.box[0] <= 125 <= subject.box[2]
    lm = subject.landmarks  # a turned head: only the vertical order is checked
    assert max(lm[36:48, 1]) < lm[62, 1] < lm[8, 1]


def test_threads_share_models_safely(obama, obama_face):
    from concurrent.futures import ThreadPoolExecutor

    det = FaceDetector(detectors=("hog",))
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(det.detect, [obama] * 3))
    for faces in results:
        np.testing.assert_array_equal(faces[0].landmarks, obama_face.landmarks)


@pytest.mark.parametrize("side", [800, 2000])
def test_smallest_face_is_where_detection_stops(obama, obama_face, side):
    """The size ``no_face_message`` quotes: the face, pasted at half that size onto a grey picture of
    ``side`` px, is missed; at 1.5 times it, found (HOG and its fallback, as a report runs them)."""
    from dfrec.faces.detect import no_face_message, smallest_face

    least = smallest_face((side, side, 3))
    x0, y0, x1, y1 = obama_face.box.astype(int)
    w = x1 - x0
    head = obama[max(0, y0 - w // 2):y1 + w // 2, max(0, x0 - w // 2):x1 + w // 2]
    det = FaceDetector(detectors=("hog", "hog+up"), verify_below=0)
    found = {}
    for factor in (0.5, 1.5):
        small = cv2.resize(head, None, fx=factor * least / w, fy=factor * least / w, interpolation=cv2.INTER_AREA)
        canvas = np.full((side, side, 3), 128, np.uint8)
        canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
        found[factor] = len(det.detect(canvas))
    assert found == {0.5: 0, 1.5: 1}
    msg = no_face_message((side, side, 3), upsample=1, option="--detection-upsample")
    assert msg.startswith("no face found") and f"about {least} px" in msg
    assert f"--detection-upsample 2 looks for faces down to about {smallest_face((side, side, 3), upsample=2)} px" in msg
    assert "--detection-upsample" not in no_face_message((side, side, 3), upsample=2, option="--detection-upsample")


def test_smallest_face_follows_the_detection_copy():
    """Small pictures get the one-more-upsampling fallback; big ones are searched on a 1024-px copy."""
    from dfrec.faces.detect import smallest_face

    assert smallest_face((300, 300)) == 20 and smallest_face((800, 600)) == 40   # 300 * 4 <= 2048 < 800 * 4
    assert smallest_face((4000, 3000)) == 157 and smallest_face((4000, 3000), upsample=2) == 79
    assert smallest_face((100, 100), upsample=2) == 20  # never under the detector's min_size
