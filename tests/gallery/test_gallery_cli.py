"""``dfrec gallery add/info/remove/search`` on real faces, and ``dfrec recover --gallery``."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dfrec.cli.main import main
from dfrec.io import write_image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "obama_on_biden"


@pytest.fixture(scope="module")
def people(tmp_path_factory, fixture_dir) -> Path:
    """One sub-folder per person (public-domain photos) and a picture without a face."""
    root = tmp_path_factory.mktemp("people")
    for name, files in (("Barack_Obama", ("obama.jpg", "obama2.jpg")), ("Joe_Biden", ("biden.jpg",))):
        (root / name).mkdir()
        for f in files:
            shutil.copy(fixture_dir / f, root / name / f)
    write_image(root / "Joe_Biden" / "wall.png", np.full((120, 160, 3), 90, np.uint8))
    return root


def run(*args, capsys=None) -> tuple[int, dict]:
    code = main([*map(str, args)])
    out = capsys.readouterr().out if capsys else ""
    return code, (json.loads(out) if out.strip().startswith("{") else {})


def test_add_is_incremental_and_remove_works(tmp_path, people, fixture_dir, capsys):
    g = tmp_path / "g"
    code, rep = run("gallery", "add", people, "-g", g, "--device", "cpu", "--no-progress", "--json", capsys=capsys)
    assert code == 0
    assert rep["added"] == 3 and rep["already_in_gallery"] == 0 and rep["gallery"]["persons"] == 2
    assert [f["reason"] for f in rep["failed"]] == ["no face found"]
    # re-running adds nothing and does not look at the faceless picture again
    code, rep = run("gallery", "add", people, "-g", g, "--device", "cpu", "--no-progress", "--json", capsys=capsys)
    assert rep["added"] == 0 and rep["already_in_gallery"] == 4 and rep["failed"] == []
    # a new photo of a known person: only it is added
    shutil.copy(fixture_dir / "obama3.jpg", people / "Barack_Obama" / "obama3.jpg")
    try:
        code, rep = run("gallery", "add", people, "-g", g, "--device", "cpu", "--no-progress", "--json", capsys=capsys)
        assert rep["added"] == 1 and rep["gallery"]["photos"] == 4
    finally:
        (people / "Barack_Obama" / "obama3.jpg").unlink()
    code, info = run("gallery", "info", "-g", g, "--persons", "--skipped", "--json", capsys=capsys)
    assert {p["name"]: p["photos"] for p in info["person_list"]} == {"Barack_Obama": 3, "Joe_Biden": 1}
    assert info["skipped_list"][0]["reason"] == "no face found" and info["index_type"] == "flat"
    # who is this? a photo not in the gallery
    code, found = run("gallery", "search", fixture_dir / "obama_partial_face.jpg", "-g", g, "--json", capsys=capsys)
    assert code == 0 and found["candidates"][0]["name"] == "Barack_Obama"
    # remove by file (matched by content) and by person
    code, rep = run("gallery", "remove", "-g", g, "--file", fixture_dir / "obama2.jpg", "--json", capsys=capsys)
    assert rep["removed"] == 1 and rep["gallery"]["photos"] == 3
    code, rep = run("gallery", "remove", "-g", g, "--person", "Joe_Biden", "--json", capsys=capsys)
    assert rep["removed"] == 1 and rep["gallery"]["persons"] == 1
    assert main(["gallery", "remove", "-g", str(g), "--person", "Nobody"]) == 2  # one clear error line
    assert "no person named 'Nobody'" in capsys.readouterr().err


def test_csv_and_index_type(tmp_path, people, capsys):
    (tmp_path / "photos").mkdir()
    shutil.copy(people / "Joe_Biden" / "biden.jpg", tmp_path / "photos" / "jb.jpg")
    csv = tmp_path / "list.csv"  # absolute paths, and paths relative to the CSV's folder
    csv.write_text(f"path,name\n{people / 'Barack_Obama' / 'obama.jpg'},Barack Obama\nphotos/jb.jpg,Joe Biden\n")
    code, rep = run("gallery", "add", csv, "-g", tmp_path / "g", "--index", "hnsw", "--device", "cpu", "--no-progress",
                    "--json", capsys=capsys)
    assert code == 0 and rep["added"] == 2 and rep["gallery"]["index_type"] == "hnsw"
    bad = tmp_path / "bad.csv"
    bad.write_text("only-one-column\n")
    assert main(["gallery", "add", str(bad), "-g", str(tmp_path / "g2")]) == 2
    assert "line 1" in capsys.readouterr().err
    assert main(["gallery", "info", "-g", str(tmp_path / "none")]) != 0
    assert "not a dfrec gallery" in capsys.readouterr().err


def test_recover_names_the_people(tmp_path, people, tiny_checkpoint, capsys):
    g = tmp_path / "g"
    assert main(["gallery", "add", str(people), "-g", str(g), "--device", "cpu", "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    code = main(["recover", str(EXAMPLE / "forgery.png"), "-o", str(out), "--gallery", str(g), "--top-k", "2",
                 "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    folder = out / "forgery"
    result = json.loads((folder / "result.json").read_text())
    gal = result["gallery"]
    assert gal["photos"] == 3 and gal["top_k"] == 2 and gal["likely_same_person"]["false_match_rate"] > 0
    face = result["faces"][0]
    for probe in ("source", "target"):  # the console names the nearest person as a match only when likely
        top = face["gallery"][probe][0]
        said = (f"{probe} ~ {top['name']} ({top['similarity']:.2f} likely the same person)" if top["likely_same_person"]
                else f"{probe}: no likely match (nearest {top['name']}, {top['similarity']:.2f})")
        assert said in printed.split("Face 1: ")[1].splitlines()[0]
    hashes = {o["path"]: o["sha256"] for o in result["outputs"]}
    for probe in ("source", "target", "forgery"):
        cands = face["gallery"][probe]
        assert [c["rank"] for c in cands] == [1, 2]
        assert {c["name"] for c in cands} == {"Barack_Obama", "Joe_Biden"}
        assert cands[0]["similarity"] >= cands[1]["similarity"]
        thr = gal["likely_same_person"]["threshold"]
        assert all(c["likely_same_person"] == (c["similarity"] >= thr) for c in cands)
        for c in cands:  # thumbnails beside the report, hashed like every output
            t = folder / c["thumbnail"]
            assert hashlib.sha256(t.read_bytes()).hexdigest() == hashes[c["thumbnail"]]
    # the face as seen is the source person pasted in: the gallery finds Obama
    assert face["gallery"]["forgery"][0]["name"] == "Barack_Obama"
    html = (folder / "report.html").read_text()
    assert "Gallery candidates" in html and "likely the same person" in html.lower() or "false-match rate" in html
    assert main(["recover", str(EXAMPLE / "forgery.png"), "-o", str(out), "--gallery", str(tmp_path / "none")]) != 0
    assert "not a dfrec gallery" in capsys.readouterr().err
