"""Small face sets for training tests: a few LFW people (by split) or the public-domain fixtures,
indexed once per session into a landmark cache (dlib detection + 68 landmarks)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from needs import need_module

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _lfw_files(lfw_dir: Path, per_split: dict[str, int], per_person: int = 2) -> list[str]:
    from dfrec.data.datasets import load_split

    split = load_split()
    root = lfw_dir / "images_deepfunneled"
    files: list[str] = []
    for name, n_people in per_split.items():
        taken = 0
        for person in split[name]:
            imgs = sorted((root / person).glob("*.jpg"))
            if len(imgs) < per_person:
                continue
            files += [p.relative_to(root).as_posix() for p in imgs[:per_person]]
            taken += 1
            if taken == n_people:
                break
    return files


@pytest.fixture(scope="session")
def lfw_cache(lfw_dir, tmp_path_factory) -> Path:
    """Landmark cache of 24 LFW images: 8 train people and 4 val people, 2 images each."""
    need_module("dlib")
    from dfrec.data.cache import index_folder

    cache = tmp_path_factory.mktemp("lfw_cache")
    files = _lfw_files(lfw_dir, {"train": 8, "val": 4})
    report = index_folder(lfw_dir / "images_deepfunneled", cache, files=files, progress=False)
    assert report.indexed >= 20, report
    return cache


@pytest.fixture(scope="session")
def lfw_test_cache(lfw_dir, tmp_path_factory) -> Path:
    """Landmark cache of 12 LFW test images: 4 people with 2 images (whom ``dfrec evaluate`` may
    report on) and 4 people with 1 (whom it cannot: it needs a second photo for the gallery)."""
    need_module("dlib")
    from dfrec.data.cache import index_folder

    pairs = _lfw_files(lfw_dir, {"test": 4})
    taken = {f.split("/")[0] for f in pairs}
    singles = [f for f in _lfw_files(lfw_dir, {"test": 12}, per_person=1) if f.split("/")[0] not in taken][:4]
    cache = tmp_path_factory.mktemp("lfw_test_cache")
    report = index_folder(lfw_dir / "images_deepfunneled", cache, files=pairs + singles, progress=False)
    assert report.indexed == 12, report
    return cache


@pytest.fixture(scope="session")
def fixture_cache(fixture_dir, tmp_path_factory) -> Path:
    """Landmark cache of the public-domain face_recognition fixtures (one identity per file)."""
    need_module("dlib")
    from dfrec.data.cache import index_folder

    src = tmp_path_factory.mktemp("fixture_faces")
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        shutil.copy(fixture_dir / name, src / name)
    cache = tmp_path_factory.mktemp("fixture_cache")
    report = index_folder(src, cache, progress=False)
    assert report.indexed >= 3, report
    return cache
