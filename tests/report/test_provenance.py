"""Provenance beyond the DFREC checkpoint: dlib's model files (hashed once per file), torch's
thread count, the gallery photos behind candidates, and the resume key that covers them."""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pytest
import torch

import dfrec.report.provenance as prov
from dfrec.report.provenance import cached_sha256, dlib_files, environment, model_record


def sha(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def test_dlib_files_name_and_hash_the_files_detection_and_identity_load():
    """The records are of the very files dfrec's detector and identity network open."""
    from dfrec.faces.dlib_resnet import default_model_path
    from dfrec.faces.model_files import cnn_detector_path, shape_predictor_68_path

    recs = {r["role"]: r for r in dlib_files()}
    want = {"landmarks": shape_predictor_68_path(), "face_detector_cnn": cnn_detector_path(),
            "identity": default_model_path()}
    assert set(recs) == set(want)
    for role, path in want.items():
        r = recs[role]
        assert r["path"] == str(path.resolve()) and r["name"] == path.name
        assert r["bytes"] == path.stat().st_size and r["sha256"] == sha(path), role
    assert "shape_predictor_68_face_landmarks.dat" == recs["landmarks"]["name"]
    assert [r["role"] for r in dlib_files(cnn=False, identity=False)] == ["landmarks"]
    # model_record carries them, for a checkpoint folder and for a model built in memory
    assert model_record(None)["dlib_files"] == dlib_files()


def test_identity_weights_follow_the_file_in_use(tmp_path, monkeypatch):
    """A safetensors export named by DFREC_IDENTITY_WEIGHTS (what IdentityNet.from_file loads then)
    is the file recorded; a missing file is recorded as missing, not skipped."""
    export = tmp_path / "identity.safetensors"
    export.write_bytes(b"weights" * 100)
    monkeypatch.setenv("DFREC_IDENTITY_WEIGHTS", str(export))
    rec = {r["role"]: r for r in dlib_files()}["identity"]
    assert rec == {"role": "identity", "name": "identity.safetensors", "path": str(export.resolve()),
                   "bytes": 700, "sha256": sha(export)}
    gone = {r["role"]: r for r in dlib_files(identity=tmp_path / "nope.dat")}["identity"]
    assert gone["path"] is None and gone["name"] == "nope.dat" and gone["error"]


def test_hashes_are_cached_per_path_mtime_and_size(tmp_path, monkeypatch):
    calls = []
    real = prov.sha256_file
    monkeypatch.setattr(prov, "sha256_file", lambda p: calls.append(p) or real(p))
    f = tmp_path / "model.dat"
    f.write_bytes(b"a" * 1000)
    first = cached_sha256(f)
    assert first == (1000, sha(f)) and cached_sha256(f) == first and len(calls) == 1
    f.write_bytes(b"b" * 1000)  # same size, new content and mtime: hashed again
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cached_sha256(f) == (1000, sha(f)) and len(calls) == 2
    # a batch: the record of a checkpoint and dlib's files, asked for per image, hashes nothing again
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text("{}")
    model_record(ck)
    n = len(calls)
    for _ in range(3):
        model_record(ck)
    assert len(calls) == n


def test_environment_records_torch_threads_and_dlib():
    import dlib

    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert environment("cpu")["torch_threads"] == n
    finally:
        torch.set_num_threads(before)
    assert environment("cpu")["dlib"] == dlib.__version__


def test_resume_key_covers_dlib_files():
    """A result made with other dlib files is not 'already done'."""
    from dfrec.report.store import run_key

    result = {"input": {"sha256": "x"}, "settings": {}, "model": model_record(None), "dfrec_version": "1"}
    other = {**result, "model": {**result["model"], "dlib_files": [dict(r) for r in result["model"]["dlib_files"]]}}
    assert run_key(other) == run_key(result)
    other["model"]["dlib_files"][0]["sha256"] = "0" * 64
    assert run_key(other) != run_key(result)


def test_gallery_candidates_carry_the_photo_sha256(tmp_path):
    """Each candidate names its gallery photo by path and by the SHA-256 the gallery stored for it,
    and the report lists it in its provenance."""
    from dfrec.faces.identity import mean_embedding
    from dfrec.gallery.gallery import Gallery, GalleryEntry
    from dfrec.report.gallery import gallery_matches
    from dfrec.report.html import render_report

    photo = tmp_path / "alice.jpg"
    photo.write_bytes(b"\xff\xd8 a photo of alice")
    emb = (mean_embedding().numpy() + np.random.default_rng(0).normal(scale=0.1, size=128)).astype(np.float32)
    with Gallery.create(tmp_path / "gal") as gal:
        gal.add([GalleryEntry(name="alice", source=str(photo), sha256=sha(photo), bytes=photo.stat().st_size,
                              embedding=emb)])
        folder = tmp_path / "report"
        folder.mkdir()
        found = gallery_matches(folder, "face1", {"source": emb, "target": emb}, gal, top_k=1)
    cand = found["source"][0]
    assert cand["gallery_file"] == str(photo) and cand["gallery_file_sha256"] == sha(photo)
    result = {"input": {"name": "x.png", "kind": "image", "path": "x.png", "sha256": "s"}, "settings": {},
              "faces": [{"label": "Face 1", "score_fake": 0.9, "box": [0, 0, 1, 1], "files": {}, "gallery": found}]}
    page = render_report(result, folder)
    prov_part = page[page.index("<h2>Provenance"):]
    assert re.search(re.escape(str(photo)) + r".{0,80}" + sha(photo), prov_part)
