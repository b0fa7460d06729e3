"""Landmark cache (index, resume, failures) and compact packs."""

from __future__ import annotations

import json
import pickle

import numpy as np

from dfrec.data.cache import index_folder, read_failures, write_pack
from dfrec.data.faceset import open_cache, open_faces, open_pack


def test_index_lists_failures_and_resumes(face_folder, face_cache):
    faces = open_cache(face_cache)
    assert len(faces) == 5
    assert sorted(faces.identity_names) == ["astronaut", "biden", "obama"]
    fails = read_failures(face_cache)
    assert set(fails) == {"noface/gray.png", "broken/bad.jpg"}
    assert fails["noface/gray.png"] == "no face found"
    assert "bad.jpg" in fails["broken/bad.jpg"]
    rep = index_folder(face_folder, face_cache, progress=False)  # resume: nothing left to do
    assert (rep.indexed, rep.skipped, rep.failed) == (0, 7, 0)
    rep = index_folder(face_folder, face_cache, retry_failures=True, progress=False)
    assert (rep.indexed, rep.failed) == (0, 2)
    assert len(read_failures(face_cache)) == 2


def test_cache_matches_the_face_toolkit(face_folder, face_cache):
    from dfrec.faces.align import align_face
    from dfrec.faces.detect import detect_faces
    from dfrec.io import read_image

    faces = open_cache(face_cache)
    i = faces.keys.index("biden/biden.jpg")
    img = read_image(face_folder / "biden" / "biden.jpg")
    al = align_face(img, detect_faces(img)[0].landmarks, size=224)
    np.testing.assert_allclose(faces.landmarks[i], al.landmarks, atol=2e-3)
    crop = faces.crop(i)
    assert crop.image.shape == (224, 224, 3) and crop.identity == "biden"
    assert np.abs(crop.image.astype(int) - al.image.astype(int)).mean() < 3.0  # JPEG q95
    meta = json.loads((face_cache / "meta.json").read_text())
    assert meta["size"] == 224 and meta["crop_enlarge"] == "lanczos4"  # how its small faces were enlarged


def test_pack_roundtrip(face_cache, tmp_path):
    faces = open_cache(face_cache)
    out = write_pack(faces, tmp_path / "pack", size=112, quality=90, progress=False)
    pack = open_pack(out)
    assert pack.size == 112 and pack.keys == faces.keys and pack.identities == faces.identities
    scaled = (faces.landmarks + 0.5) * (112 / 224) - 0.5
    np.testing.assert_allclose(pack.landmarks, scaled, atol=1 / 32 + 1e-4)
    for i in range(len(pack)):
        ref = faces.crop(i).resized(112).image.astype(int)
        assert np.abs(pack.image(i).astype(int) - ref).mean() < 4.0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["faces"] == 5 and meta["identities"] == 3 and meta["crop_enlarge"] == "lanczos4"  # as its cache's
    sub = pack.select_identities({"obama"})
    assert len(sub) == 3 and np.array_equal(sub.image(1), pack.image(pack.keys.index(sub.keys[1])))
    clone = pickle.loads(pickle.dumps(sub))  # DataLoader workers get a copy
    assert np.array_equal(clone.image(2), sub.image(2))
    assert open_faces(out).size == 112


def test_face_order_does_not_depend_on_the_write_order(face_cache, tmp_path):
    import random
    import shutil

    cache = tmp_path / "c"
    shutil.copytree(face_cache, cache)
    lines = (cache / "index.jsonl").read_text().splitlines()
    random.Random(3).shuffle(lines)  # workers append in the order they finish
    (cache / "index.jsonl").write_text("\n".join(lines[::-1]) + "\n")
    a, b = open_cache(face_cache), open_cache(cache)
    assert a.keys == b.keys == sorted(a.keys)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert np.array_equal(a.image(2), b.image(2))
    # a pack written in another order opens in key order too
    pack = open_pack(write_pack(a.subset([3, 0, 4, 1, 2]), tmp_path / "pack", size=112, quality=90, progress=False))
    assert pack.keys == a.keys
    assert np.array_equal(pack.image(2), open_pack(write_pack(a, tmp_path / "p2", size=112, quality=90, progress=False)).image(2))


def test_duplicate_lines_and_concurrent_indexers(face_folder, face_cache, tmp_path, capsys):
    """A torn or repeated index line is read once; a second indexer into a cache another holds
    waits for it (saying so), then indexes only what is not there yet."""
    import fcntl
    import shutil
    import threading
    import time

    cache = tmp_path / "c"
    shutil.copytree(face_cache, cache)
    lines = (cache / "index.jsonl").read_text().splitlines()
    (cache / "index.jsonl").write_text("\n".join(lines + lines[:2] + ['{"key": "torn']) + "\n")
    assert len(open_cache(cache)) == 5  # one entry per key, torn line ignored
    reports = []
    with open(cache / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "another process" indexing
        second = threading.Thread(target=lambda: reports.append(index_folder(face_folder, cache, progress=False)))
        second.start()
        time.sleep(0.5)
        assert second.is_alive() and not reports  # waiting, not failing
    second.join(timeout=60)  # the lock released with the file
    assert not second.is_alive() and reports[0].indexed == 0 and reports[0].skipped >= 5
    assert "another process is indexing into this cache; waiting" in capsys.readouterr().err


def test_a_cache_of_other_crops_is_refused_not_served(face_folder, face_cache, tmp_path):
    """A cache made by a dfrec that enlarged small faces differently (before 2026-12-06: bilinear,
    no ``crop_enlarge`` in meta.json) or at another size is never grown or served as if it were
    this dfrec's; read as the data path itself it still loads."""
    import shutil

    import pytest

    from dfrec.data.build import default_cache_dir
    from dfrec.data.faceset import crop_enlarge_of
    from dfrec.errors import ConfigError

    cache = tmp_path / "old"
    shutil.copytree(face_cache, cache)
    meta = json.loads((cache / "meta.json").read_text())
    del meta["crop_enlarge"]
    (cache / "meta.json").write_text(json.dumps(meta))
    index_before = (cache / "index.jsonl").read_bytes()
    with pytest.raises(ConfigError, match="bilinear.*lanczos4"):
        index_folder(face_folder, cache, progress=False)
    assert (cache / "index.jsonl").read_bytes() == index_before  # nothing added or dropped
    assert len(open_cache(cache)) == 5
    pack = write_pack(open_cache(cache), tmp_path / "pack", size=64, progress=False)
    assert crop_enlarge_of(pack) == crop_enlarge_of(cache) == "bilinear"  # what such a cache holds
    assert index_folder(face_folder, face_cache, progress=False).skipped == 7  # the current kind: resumes

    # without --cache, each size and enlargement gets its own folder
    default = default_cache_dir(face_folder)
    assert default.name.endswith("-224-lanczos4") and default.name.startswith(face_folder.name)
    assert default_cache_dir(face_folder, 160) != default


def test_cap_per_identity_keeps_every_person(lfw_pairs_cache):
    from dfrec.data.faceset import open_faces

    cache, _ = lfw_pairs_cache
    faces = open_faces(cache)
    counts = {k: len(v) for k, v in faces.by_identity().items()}
    capped = faces.cap_per_identity(1)
    assert set(capped.identity_names) == set(faces.identity_names)
    assert all(len(v) == 1 for v in capped.by_identity().values()) and len(capped) == len(counts)
    assert len(faces.cap_per_identity(max(counts.values()))) == len(faces)
