"""``dfrec synth`` and ``dfrec data`` end to end on a tiny face folder."""

from __future__ import annotations

import csv
import json

from dfrec.cli.main import main


def test_synth_writes_samples_index_and_sheet(face_folder, face_cache, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["synth", "--faces", str(face_folder), "-n", "6", "-o", str(out), "--cache", str(face_cache),
               "--kinds", "swap,blend,self,real", "--seed", "1", "--no-progress", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == 6 and sum(summary["kinds"].values()) == 6
    for i in range(6):
        for role in ("forgery", "source", "target", "mask"):
            assert (out / f"{i:05d}_{role}.png").is_file()
    idx = json.loads((out / "index.json").read_text())
    assert len(idx["samples"]) == 6 and idx["seed"] == 1
    rows = list(csv.DictReader(open(out / "index.csv")))
    assert [r["kind"] for r in rows] == [s["kind"] for s in idx["samples"]]
    from dfrec.io import read_image

    sheet = read_image(out / "contact_sheet.png")
    assert sheet.shape == (6 * 112, 4 * 112, 3)
    # same seed, same samples: the cache alone (no image folder) gives the first samples bit for bit
    out2 = tmp_path / "out2"
    assert main(["synth", "--faces", str(face_cache), "-n", "2", "-o", str(out2), "--kinds", "swap,blend,self,real",
                 "--seed", "1", "--no-progress"]) == 0
    capsys.readouterr()
    idx2 = json.loads((out2 / "index.json").read_text())
    assert idx2["samples"] == idx["samples"][:2]
    for i in range(2):
        for role in ("forgery", "source", "target", "mask"):
            name = f"{i:05d}_{role}.png"
            assert (out2 / name).read_bytes() == (out / name).read_bytes(), name


def test_synth_same_seed_same_files(face_cache, tmp_path, capsys):
    args = ["synth", "--faces", str(face_cache), "-n", "3", "--seed", "4", "--no-progress"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    for i in range(3):
        assert (tmp_path / "a" / f"{i:05d}_forgery.png").read_bytes() == (tmp_path / "b" / f"{i:05d}_forgery.png").read_bytes()
    capsys.readouterr()


def test_data_index_pack_info(face_folder, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["data", "index", str(face_folder), "--cache", str(cache), "--limit", "3", "--no-progress", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["indexed"] + rep["failed"] == 3
    assert main(["data", "pack", str(cache), "-o", str(tmp_path / "pack"), "--size", "96", "--no-progress", "--json"]) == 0
    pk = json.loads(capsys.readouterr().out)
    assert pk["faces"] == rep["indexed"] and pk["bytes"] > 0
    assert main(["data", "info", str(tmp_path / "pack"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["type"] == "pack" and info["size"] == 96


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["synth", "--faces", str(tmp_path / "missing"), "-n", "2", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dfrec: error:") and "\n" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("kinds: {morph: 1}\n")
    assert main(["synth", "--faces", str(tmp_path), "-n", "2", "-o", str(tmp_path / "o"), "--config", str(bad)]) == 5
    assert "morph" in capsys.readouterr().err


def test_data_index_of_a_folder_without_images_says_so(tmp_path, capsys):
    empty = tmp_path / "faces"
    (empty / "Ann").mkdir(parents=True)
    (empty / "Ann" / "notes.txt").write_text("x")
    assert main(["data", "index", str(empty), "--cache", str(tmp_path / "cache"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no image files" in err and not (tmp_path / "cache").exists()
