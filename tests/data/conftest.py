"""Fixtures for dfrec.data tests: aligned faces from public-domain images and a small LFW
landmark cache (people of the LFW *test* split with at least two photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfrec.data.synth import FaceCrop


@pytest.fixture(scope="session")
def fixture_faces(fixture_dir, astronaut) -> list[FaceCrop]:
    """Aligned 224 crops + landmarks: Obama (3 photos), Biden, the astronaut (5 faces, 3 people)."""
    from dfrec.faces.align import align_face
    from dfrec.faces.detect import detect_faces
    from dfrec.io import read_image

    out = []
    items = [(read_image(fixture_dir / f"{n}.jpg"), who, n) for n, who in
             (("obama", "obama"), ("obama2", "obama"), ("obama3", "obama"), ("biden", "biden"))]
    items.append((astronaut, "astronaut", "astronaut"))
    for img, who, key in items:
        faces = detect_faces(img)
        assert faces, f"no face in fixture {key}"
        al = align_face(img, faces[0].landmarks, size=224)
        out.append(FaceCrop(al.image, al.landmarks, who, key))
    return out


@pytest.fixture(scope="session")
def lfw_pairs_cache(lfw_dir, tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    """A landmark cache of 2 photos each of 56 LFW test-split people (seeded choice), and the
    list of (photo A key, photo B key) per person."""
    from dfrec.data.cache import index_folder
    from dfrec.data.datasets.lfw import split_identities

    root = lfw_dir / "images_deepfunneled"
    test_people = sorted(p for p in split_identities("test") if len(list((root / p).glob("*.jpg"))) >= 2)
    rng = np.random.default_rng(0)
    people = [test_people[i] for i in rng.permutation(len(test_people))[:56]]
    pairs = [(f"{p}/{p}_0001.jpg", f"{p}/{p}_0002.jpg") for p in people]
    cache = tmp_path_factory.mktemp("lfw_cache")
    index_folder(root, cache, files=[k for ab in pairs for k in ab], workers=2, progress=False)
    return cache, pairs


@pytest.fixture(scope="session")
def face_folder(fixture_dir, astronaut, tmp_path_factory) -> Path:
    """A small image folder, one subfolder per person, downscaled public-domain faces:
    obama (3), biden (1), astronaut (1), plus a face-less image and a broken file."""
    import cv2

    from dfrec.io import read_image, write_image

    root = tmp_path_factory.mktemp("faces")

    def small(img):
        s = 400 / max(img.shape[:2])
        return cv2.resize(img, (int(img.shape[1] * s) // 2 * 2, int(img.shape[0] * s) // 2 * 2), interpolation=cv2.INTER_AREA)

    for n in ("obama", "obama2", "obama3"):
        write_image(root / "obama" / f"{n}.jpg", small(read_image(fixture_dir / f"{n}.jpg")))
    write_image(root / "biden" / "biden.jpg", small(read_image(fixture_dir / "biden.jpg")))
    write_image(root / "astronaut" / "astronaut.png", small(astronaut))
    write_image(root / "noface" / "gray.png", np.full((120, 160, 3), 128, np.uint8))
    (root / "broken").mkdir()
    (root / "broken" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture(scope="session")
def face_cache(face_folder, tmp_path_factory) -> Path:
    """Landmark cache of :func:`face_folder` (5 faces of 3 people, 2 failures)."""
    from dfrec.data.cache import index_folder

    cache = tmp_path_factory.mktemp("cache")
    index_folder(face_folder, cache, workers=1, progress=False)
    return cache
