"""Finding 1-2 of issue 14: thin and tiny images crashed dlib's CNN detector (SIGSEGV,
SIGABRT) or surfaced its C++ assertion text; now geometry is checked before native code,
the CNN only ever sees padded copies, and in batch runs detection lives in a worker process
whose crash costs one file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dfrec.cli.main import main
from dfrec.errors import InputError
from dfrec.faces.detect import CNN_MIN_SIDE, MAX_ASPECT, MIN_SIDE, FaceDetector, _pad_to
from dfrec.faces.worker import DetectorCrash, IsolatedDetector
from dfrec.io import write_image

from .conftest import CRASHER, raw_lines

pytest.importorskip("dlib")

# (width, height): the issue's crashers and assertion-raisers, and the limits' edges
REFUSED = [(1, 4000), (2, 4000), (8, 2000), (1, 1), (4000, 1), (3, 3), (19, 400), (400, 19),
           (20, 1001), (2001, 40)]
ACCEPTED = [(20, 20), (20, 1000), (1000, 20), (40, 2000)]


def _noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("w, h", REFUSED)
def test_thin_and_tiny_images_are_refused_in_one_line(w, h):
    with pytest.raises(InputError) as e:
        FaceDetector().detect(_noise(w, h))
    msg = str(e.value)
    assert f"{w}x{h} pixels" in msg and "\n" not in msg and not raw_lines(msg)


def test_limits_are_consistent():
    # the detection copy (long side 1024) of the thinnest accepted image keeps a side >= MIN_SIDE
    assert 1024 / MAX_ASPECT >= MIN_SIDE
    assert _pad_to(np.zeros((6, 320, 3), np.uint8), CNN_MIN_SIDE).shape == (CNN_MIN_SIDE, 320, 3)
    assert _pad_to(np.zeros((64, 64, 3), np.uint8), CNN_MIN_SIDE).shape == (64, 64, 3)


def test_accepted_edge_geometry_runs_every_detector_in_a_worker():
    """The thinnest images accepted go through HOG, HOG+up and the CNN (whose copy of a
    1000x20 image is 320x6 before padding: the case that corrupted the heap). Run in a worker
    so that a regression shows as a counted crash instead of killing the test run."""
    with IsolatedDetector(FaceDetector(detectors=("hog", "hog+up", "cnn"))) as det:
        for w, h in ACCEPTED:
            assert det.detect(_noise(w, h, seed=w)) == []
        assert det.crashes == 0
    # a CNN copy far thinner than the limits allow (20x1000 shrunk to 1x50): only the padding
    # to CNN_MIN_SIDE keeps dlib inside its buffers
    with IsolatedDetector(FaceDetector(detectors=("cnn",), cnn_max_side=50)) as det:
        for w, h in [(1000, 20), (20, 1000), (40, 2000)]:
            assert det.detect(_noise(w, h, seed=h)) == []
        assert det.crashes == 0


def test_worker_crash_costs_one_image_and_the_next_works(face_small, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(CRASHER))
    monkeypatch.setenv("DFREC_TEST_CRASH_WIDTH", "333")
    with IsolatedDetector() as det:
        assert len(det.detect(face_small)) == 1
        with pytest.raises(DetectorCrash) as e:
            det.detect(_noise(333, 200))
        assert "SIGSEGV" in str(e.value) and "\n" not in str(e.value) and not raw_lines(str(e.value))
        assert len(det.detect(face_small)) == 1  # a fresh worker
        assert det.crashes == 1


def test_batch_survives_a_native_crash(tmp_path, face_small, tiny_checkpoint, monkeypatch, capsys):
    """``dfrec recover crash.png good.png``: the crash is one failed line, good.png is done,
    the summary is written (before: nothing for good.png and no summary)."""
    monkeypatch.setenv("PYTHONPATH", str(CRASHER))
    monkeypatch.setenv("DFREC_TEST_CRASH_WIDTH", "333")
    write_image(tmp_path / "crash.png", _noise(333, 200))
    write_image(tmp_path / "good.png", face_small)
    out = tmp_path / "out"
    rc = main(["recover", str(tmp_path / "crash.png"), str(tmp_path / "good.png"), "-o", str(out),
               "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert [r["folder"] for r in summary["results"]] == ["good"]
    (bad,) = summary["failed"]
    assert bad["input"].endswith("crash.png") and "crashed" in bad["reason"] and "SIGSEGV" in bad["reason"]
    assert not raw_lines(err)


def test_the_issues_thin_images_in_recover_and_faces(tmp_path, face_small, tiny_checkpoint, capsys):
    """The issue's reproduction: thin images and a good one in one batch, then ``dfrec faces``
    on the folder: every file gets one line, the good one its results."""
    d = tmp_path / "in"
    for w, h in [(1, 4000), (2, 4000), (8, 2000), (1, 1), (4000, 1)]:
        write_image(d / f"thin_{w}x{h}.png", _noise(w, h))
    write_image(d / "good.png", face_small)
    rc = main(["recover", str(d), "-o", str(tmp_path / "out"), "--checkpoint", str(tiny_checkpoint),
               "--device", "cpu", "--no-progress", "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    summary = json.loads(cap.out)
    assert summary["processed"] == 1 and len(summary["failed"]) == 5
    assert all("pixels" in f["reason"] for f in summary["failed"])
    assert not raw_lines(cap.err), cap.err
    assert main(["faces", str(d), "-o", str(tmp_path / "crops")]) == 0
    cap = capsys.readouterr()
    assert "1 image(s), 1 face(s)" in cap.out, cap.err
    assert cap.err.count("dfrec: skipped ") == 5 and not raw_lines(cap.err)


def test_landmark_cache_lists_a_thin_image_as_failed_and_goes_on(tmp_path, face_small):
    """``dfrec data index`` (the training data path) uses the same detector in-process: a
    refused image is one failure line in its log, not the end of the run."""
    from dfrec.data.cache import index_folder, read_failures

    d = tmp_path / "faces"
    write_image(d / "someone" / "thin.png", _noise(8, 2000))
    write_image(d / "someone" / "photo.png", face_small)
    rep = index_folder(d, tmp_path / "cache", progress=False)
    assert (rep.indexed, rep.failed) == (1, 1)
    assert "8x2000 pixels" in read_failures(tmp_path / "cache")["someone/thin.png"]
