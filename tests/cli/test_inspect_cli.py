"""``dfrec inspect``: what a report would record of a file itself, without the model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from dfrec.cli.main import main
from dfrec.io import read_image
from needs import need_module


@pytest.fixture(scope="module")
def face_image(fixture_dir) -> np.ndarray:
    """A small photo with one face (Obama, public domain), (260, 208, 3) uint8."""
    return cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)


def test_a_jpeg_and_an_x264_video_are_told_as_a_report_would(tmp_path, face_image, capsys):
    """A JPEG saved at quality 75 reads its quality and the caveat its faces would carry; an x264
    transport stream its codec, quantiser and CRF, the software-encoder note and the caveat by that
    CRF; neither loads the model."""
    from repo_scripts import load_script

    from dfrec.report.inspect import inspect_file
    from dfrec.report.writer import image_input
    from dfrec.results import compression_caveat

    need_module("av")
    Image.fromarray(face_image).save(tmp_path / "photo.jpg", quality=75)
    clips = load_script("benchmarks/video_clip.py")
    clips.encode_clip(tmp_path / "clip.ts", [np.roll(face_image, 2 * i, axis=1) for i in range(4)], {"crf": "28"}, fps=4)
    assert main(["inspect", str(tmp_path / "photo.jpg"), str(tmp_path / "clip.ts")]) == 0
    out = capsys.readouterr().out
    assert "  Input format: JPEG (last saved at quality 75: libjpeg's standard tables); read as 8-bit RGB" in out
    photo = inspect_file(tmp_path / "photo.jpg")
    record, notes, saved = image_input(tmp_path / "photo.jpg", np.asarray(Image.open(tmp_path / "photo.jpg")))
    assert photo["input"] == record and photo["notes"] == notes == [] and photo["caveat"] == compression_caveat(*saved)
    assert f"  caveat for its faces: {photo['caveat']['message']}" in out
    assert "  Video: MPEG transport stream video, codec h264 (H.264 by x264 " in out and " at CRF 28 (its settings" in out
    assert "  note: The video stream was encoded by x264, a software encoder" in out
    assert "caveat for its faces: encoded as H.264 by x264 at CRF 28 (the setting x264 wrote into the stream)" in out
    assert "  Metadata: none" in out and "  Content Credentials (C2PA): none in the file" in out


def test_folders_bad_files_and_json(tmp_path, face_image, capsys):
    """A folder is searched as recover searches it; a truncated picture is listed as failed and the
    rest still told (exit 0); --json gives every record; only bad inputs: exit 2."""
    (tmp_path / "in").mkdir()
    Image.fromarray(face_image).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (tmp_path / "in" / "notes.txt").write_text("not a picture")
    assert main(["inspect", str(tmp_path / "in"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [f["input"]["name"] for f in got["files"]] == ["a.png"]
    assert got["files"][0]["input"]["format"] == "PNG" and got["files"][0]["caveat"] is None
    assert got["files"][0]["rows"][0] == ["Input format", "PNG; read as 8-bit RGB"]
    assert [f["input"] for f in got["failed"]] == [str(tmp_path / "in" / "cut.jpg")]
    assert any(i["input"].endswith("notes.txt") for i in got["ignored"])
    assert main(["inspect", str(tmp_path / "in" / "cut.jpg"), str(tmp_path / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert "2 input(s) could not be inspected" in err and "no such file or folder" in err


def test_inspect_loads_neither_torch_nor_the_model(tmp_path, face_image):
    """A second or so on a laptop: the command imports no torch and no model (a fresh interpreter)."""
    import os
    import subprocess
    import sys

    Image.fromarray(face_image).save(tmp_path / "a.jpg", quality=90)
    code = ("import sys; from dfrec.cli.main import main; rc = main(['inspect', sys.argv[1], '--json']); "
            "print('torch' in sys.modules, 'dfrec.models' in sys.modules, rc, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.jpg")], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "False False 0", done.stderr
    assert json.loads(done.stdout)["files"][0]["input"]["jpeg_quality"]["quality"] == 90
