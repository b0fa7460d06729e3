"""``dfrec verify``: same/different on real faces, JSON output, one-line errors."""

from __future__ import annotations

import json

import numpy as np

from dfrec.cli.main import main
from needs import need_module

need_module("dlib")


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_same_and_different_on_fixtures(fixture_dir, capsys):
    rc, out, err = _run(["verify", str(fixture_dir / "obama.jpg"), str(fixture_dir / "obama2.jpg"), "--device", "cpu"], capsys)
    assert rc == 0, err
    assert out.startswith("same person")
    assert "IDSim" in out and "cosine" in out
    rc, out, _ = _run(["verify", str(fixture_dir / "obama.jpg"), str(fixture_dir / "biden.jpg")], capsys)
    assert rc == 0 and out.startswith("different people")


def test_json_output_on_lfw(lfw_dir, capsys):
    img = lfw_dir / "images_deepfunneled"
    a, b = img / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg", img / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"
    other = img / "Tina_Fey" / "Tina_Fey_0001.jpg"
    rc, out, _ = _run(["verify", str(a), str(b), "--json"], capsys)
    same = json.loads(out)
    assert rc == 0 and same["same"] is True and same["distance"] < 0.6
    rc, out, _ = _run(["verify", str(a), str(other), "--json", "--flip"], capsys)
    diff = json.loads(out)
    assert rc == 0 and diff["same"] is False and diff["distance"] >= 0.6
    assert same["idsim"] > diff["idsim"] and same["cosine"] > diff["cosine"]
    assert len(diff["faces"]) == 2 and len(diff["faces"][0]["box"]) == 4
    # a stricter threshold flips the decision
    rc, out, _ = _run(["verify", str(a), str(b), "--json", "--threshold", str(same["distance"] * 0.9)], capsys)
    assert json.loads(out)["same"] is False


def test_no_face_and_bad_files_exit_with_one_line(fixture_dir, tmp_path, capsys):
    from dfrec.io import write_image

    blank = write_image(tmp_path / "blank.png", np.full((120, 160, 3), 128, np.uint8))
    rc, out, err = _run(["verify", str(blank), str(fixture_dir / "obama.jpg")], capsys)
    assert rc == 3 and "no face" in err and len(err.strip().splitlines()) == 1 and out == ""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for bad in (empty, text, tmp_path / "missing.jpg"):
        rc, out, err = _run(["verify", str(fixture_dir / "obama.jpg"), str(bad)], capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    rc, _, err = _run(["verify", str(fixture_dir / "obama.jpg"), str(fixture_dir / "obama2.jpg"), "--threshold", "0"], capsys)
    assert rc != 0 and "threshold" in err
