"""``dfrec faces``: crops + landmarks JSON per image, folders, --largest, --json, skipped files."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from dfrec.cli.main import main
from dfrec.faces.align import canonical_landmarks, transform_points
from dfrec.io import read_image, write_image
from needs import need_module

need_module("dlib")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fixture_dir):
    """A folder with a half-size obama, a two-face image, and a nested copy of biden."""
    d = tmp_path_factory.mktemp("in")
    obama = cv2.resize(read_image(fixture_dir / "obama.jpg"), (455, 569), interpolation=cv2.INTER_AREA)
    write_image(d / "obama.png", obama)
    biden = read_image(fixture_dir / "biden.jpg")
    biden = cv2.resize(biden, (220, round(220 * biden.shape[0] / biden.shape[1])), interpolation=cv2.INTER_AREA)[:500]
    two = np.full((600, 1000, 3), 230, np.uint8)
    two[10:579, 500:955] = obama
    two[100:600, 20:240] = biden
    write_image(d / "two.jpg", two)
    write_image(d / "sub" / "biden.png", biden)
    return d


def test_folder_all_faces(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["faces", str(inputs), "-o", str(out), "--size", "128"]) == 0
    assert "3 image(s), 4 face(s)" in capsys.readouterr().out
    base = out / inputs.name
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*")) == [
        "obama.json", "obama_face0.png", "sub", "sub/biden.json", "sub/biden_face0.png",
        "two.json", "two_face0.png", "two_face1.png",
    ]  # fmt: skip
    rec = json.loads((base / "two.json").read_text())
    assert rec["width"] == 1000 and rec["height"] == 600 and rec["size"] == 128
    f0, f1 = rec["faces"]
    assert f0["crop"] == "two_face0.png" and f0["box"][0] > 500 and f1["box"][0] < 240  # largest first
    # landmarks_crop is the matrix applied to the image landmarks, close to the mean face
    lm, lmc, m = np.array(f0["landmarks"]), np.array(f0["landmarks_crop"]), np.array(f0["matrix"])
    np.testing.assert_allclose(transform_points(lm, m), lmc, atol=0.02)
    assert np.linalg.norm(lmc - canonical_landmarks(128), axis=1).mean() < 6
    crop = read_image(base / "two_face0.png")
    assert crop.shape == (128, 128, 3)
    # the crop is the image warped by the matrix
    img = read_image(inputs / "two.jpg")
    ref = cv2.warpAffine(img, m, (128, 128), flags=cv2.INTER_LINEAR)
    assert np.abs(ref[20:108, 20:108].astype(int) - crop[20:108, 20:108]).mean() < 2


def test_largest_and_json_stdout(inputs, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["faces", str(inputs / "two.jpg"), "-o", str(out), "--largest", "--json", "--margin", "0.3"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    (only,) = summary["processed"]
    assert len(only["faces"]) == 1 and only["margin"] == 0.3 and summary["skipped"] == []
    assert sorted(p.name for p in out.iterdir()) == ["two.json", "two_face0.png"]


def test_bad_files_are_skipped(inputs, tmp_path, capsys):
    d = tmp_path / "mixed"
    shutil.copytree(inputs, d)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    xx, yy = np.meshgrid(np.linspace(0, 255, 200), np.linspace(0, 255, 150))
    write_image(d / "plain.png", np.dstack([xx, yy, xx]).astype(np.uint8))
    rc = main(["faces", str(d), "-o", str(tmp_path / "out"), "--json"])
    cap = capsys.readouterr()
    assert rc == 0
    summary = json.loads(cap.out)
    assert len(summary["processed"]) == 3
    assert sorted(s["image"].rsplit("/", 1)[1] for s in summary["skipped"]) == ["broken.jpg", "plain.png"]
    assert "dfrec: skipped " in cap.err and "plain.png: no face found" in cap.err and "Traceback" not in cap.err


def test_same_stem_inputs_get_distinct_names(inputs, tmp_path, capsys):
    other = tmp_path / "x"
    other.mkdir()
    shutil.copy(inputs / "obama.png", other / "obama.png")
    out = tmp_path / "out"
    assert main(["faces", str(inputs / "obama.png"), str(other / "obama.png"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["obama.json", "obama_2.json", "obama_2_face0.png", "obama_face0.png"]


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["faces", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--size", "--margin", "--largest", "--all-faces", "--json", "-o"):
        assert opt in text
