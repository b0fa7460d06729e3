"""benchmarks/jpeg_history_accuracy.py: how often an earlier JPEG save is found in LFW photos'
pixels, and how close its quality is read."""

from __future__ import annotations

import json

from repo_scripts import load_script


def test_four_lfw_photos_never_saved_saved_once_and_twice(lfw_dir, tmp_path, capsys):
    """On four LFW photos: nothing is found where the photo was not saved since its resize, every
    save at quality 30-80 is found within 2, and a save at 60 under a later 95 is the one read."""
    bench = load_script("benchmarks/jpeg_history_accuracy.py")
    out = tmp_path / "h.json"
    assert bench.main(["--n", "4", "--lfw", str(lfw_dir), "--json", str(out)]) == 0
    rows = {r["case"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["never"]["found"] == 0 and rows["never"]["within_2"] is None
    for q in (80, 75, 60, 50, 30):
        assert rows[f"JPEG {q}"]["found"] == rows[f"JPEG {q}"]["within_2"] == 4, q
    assert rows["JPEG 60 then 95"]["within_2"] == 4
    assert rows["JPEG 95"]["found"] == 0  # too fine a step to see: and no caveat is due there
    assert "| JPEG 60 then 95 | 4 | 4 | 4 |" in capsys.readouterr().out
