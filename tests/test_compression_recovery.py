"""benchmarks/compression_recovery.py: the map and the recovered target of swaps pasted into whole
pictures, after the picture (or the aligned crop) is re-encoded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repo_scripts import load_script


def test_options_are_checked():
    bench = load_script("benchmarks/compression_recovery.py")
    for bad in (["--codecs", "png"], ["--qualities", "0"], ["--qualities", "high"], ["--n", "1"]):
        with pytest.raises(SystemExit) as e:
            bench.main(bad)
        assert e.value.code == 2, bad
    names = [t[0] for t in bench.trips(["jpeg"], [75], "both")]
    assert names == ["as it is", "JPEG 75", "JPEG 75, crop"]


def test_two_lfw_swaps_their_map_and_lead_before_and_after_jpeg(lfw_dir, tmp_path, capsys):
    """Two LFW swaps in their photos: as they are, the bundled model's map covers a real part of the
    crop and the swaps score fake; every round trip is measured on the same swaps, so the paired
    change of the lead is the difference of the per-swap leads."""
    bench = load_script("benchmarks/compression_recovery.py")
    out = tmp_path / "rec.json"
    assert bench.main(["--n", "2", "--lfw", str(lfw_dir), "--qualities", "75", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = {r["round_trip"]: r for r in doc["rows"]}
    assert list(rows) == ["as it is", "JPEG 75", "JPEG 75, crop"]
    clean = rows["as it is"]
    assert clean["n"] == 2 and clean["map_area"] > 0.05 and clean["score"] > 0.5
    for name in ("JPEG 75", "JPEG 75, crop"):
        per = doc["per_swap"][name]
        change = np.mean(np.array(per["lead"]) - np.array(doc["per_swap"]["as it is"]["lead"]))
        assert rows[name]["n"] == 2 and rows[name]["lead_change"] == pytest.approx(change, abs=1e-3)
        assert np.allclose(np.array(per["target"]) - np.array(per["forgery"]), per["lead"], atol=1e-4)
    assert "| JPEG 75, crop | 2 |" in capsys.readouterr().out


def test_the_asset_takes_the_whole_picture_rows_of_the_same_weights():
    bench = load_script("benchmarks/compression_recovery.py")
    rows = [{"round_trip": name, "n": 3, "map_area": 0.2, "target": 0.3, "forgery": 0.25, "lead": lead,
             "lead_change": None if name == "as it is" else lead - 0.05, "lead_change_se": 0.01}
            for name, lead in (("as it is", 0.05), ("JPEG 75", 0.03), ("JPEG 75, crop", 0.04))]
    asset = {"model_weights": {"model.safetensors": "ab"}, "jpeg": {}}
    out = bench.add_to_asset(asset, rows, {"model.safetensors": "ab"}, "2026-12-07", "docs/x.json")
    assert list(out["recovery"]["jpeg"]) == ["75"] and out["recovery"]["jpeg"]["75"]["lead"] == 0.03  # not the crop's
    assert out["recovery"]["as_it_is"]["lead"] == 0.05 and out["recovery"]["tables"] == "docs/x.json"
    with pytest.raises(SystemExit, match="other weights"):
        bench.add_to_asset(asset, rows, {"model.safetensors": "cd"}, "2026-12-07", None)
    webp_rows = [{**r, "round_trip": r["round_trip"].replace("JPEG", "WebP")} for r in rows]
    out = bench.add_to_asset({**asset, "codec": "webp"}, webp_rows, {"model.safetensors": "ab"}, "2026-12-07", None)
    assert list(out["recovery"]["webp"]) == ["75"] and "jpeg" not in out["recovery"]  # the asset's own codec
    assert out["recovery"]["command"] == bench.ASSET_COMMANDS["webp"]
    with pytest.raises(SystemExit, match="WebP round trips"):
        bench.add_to_asset({**asset, "codec": "webp"}, rows, {"model.safetensors": "ab"}, "2026-12-07", None)
