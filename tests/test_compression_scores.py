"""benchmarks/compression_scores.py: swaps pasted into whole pictures, the pictures re-encoded, scored
through recover's path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repo_scripts import load_script


def test_round_trips_are_named_and_change_the_picture(astronaut):
    bench = load_script("benchmarks/compression_scores.py")
    trips = bench.round_trips()
    assert list(trips)[0] == "as it is" and len(trips) == 1 + len(bench.CODECS) * len(bench.QUALITIES)
    assert np.array_equal(trips["as it is"](astronaut), astronaut)
    for name in ("JPEG 30", "WebP 30"):
        out = trips[name](astronaut)
        assert out.shape == astronaut.shape and out.dtype == np.uint8 and not np.array_equal(out, astronaut)
    assert not np.array_equal(trips["JPEG 30"](astronaut), trips["WebP 30"](astronaut))
    assert list(bench.round_trips(("jpeg",), (80, 75))) == ["as it is", "JPEG 80", "JPEG 75"]


@pytest.mark.parametrize("codec, name, fine_crf, coarse_crf, gap", [("h264", "H.264", 23, 45, 15), ("vp9", "VP9", 24, 60, 60)])
def test_a_video_round_trip_is_a_clip_frame_put_back_in_place_with_its_quantiser(astronaut, codec, name, fine_crf,
                                                                                   coarse_crf, gap):
    """An H.264 (or VP9) round trip returns the picture's size and type, its last frame moved back into
    place (closer to the picture than a 1-px shift of it), coarser at a higher CRF, and records the
    clip's quantiser (QP; VP9's base_q_idx) as dfrec reads a video's."""
    from needs import need_module

    need_module("av")
    bench = load_script("benchmarks/compression_scores.py")
    trips = bench.round_trips((codec,), (fine_crf, coarse_crf))
    fine_name, coarse_name = f"{name} {fine_crf}", f"{name} {coarse_crf}"
    assert list(trips) == ["as it is", fine_name, coarse_name]
    pic = np.ascontiguousarray(astronaut[:251, 100:351])  # odd sides: 4:2:0 needs even ones, padded and cut back

    def err(a):
        return np.abs(a.astype(np.float64) - pic).mean()

    fine, coarse = trips[fine_name](pic), trips[coarse_name](pic)
    assert fine.shape == coarse.shape == pic.shape and fine.dtype == np.uint8
    assert 0 < err(fine) < err(coarse) and err(fine) < err(np.roll(pic, 1, axis=1))
    (q_fine,), (q_coarse,) = trips[fine_name].qps, trips[coarse_name].qps
    assert q_coarse > q_fine + gap and bench.clip_qp(trips[fine_name]) == q_fine and bench.clip_qp(trips["as it is"]) is None


def test_round_trip_options_are_checked():
    import pytest

    bench = load_script("benchmarks/compression_scores.py")
    for bad in (["--codecs", "png"], ["--qualities", "0"], ["--qualities", "high"], ["--codecs", "h264", "--qualities", "60"],
                ["--codecs", "hevc", "--qualities", "52"], ["--codecs", "vp9", "--qualities", "64"],
                ["--codecs", "h264,vp9", "--qualities", "55"]):
        with pytest.raises(SystemExit) as e:
            bench.main(["--sets", "lfw", *bad])
        assert e.value.code == 2, bad


def test_an_lfw_swap_in_its_picture_is_caught_under_every_round_trip(lfw_dir, tmp_path, capsys):
    """One LFW swap pasted into its target's photo: a face is found where it was pasted under every
    round trip, and the bundled model calls the clean swap swapped and the untouched photo real."""
    bench = load_script("benchmarks/compression_scores.py")
    out = tmp_path / "scores.json"
    assert bench.main(["--sets", "lfw", "--n", "1", "--lfw", str(lfw_dir), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["tables"]["lfw"]
    assert [r["round_trip"] for r in rows] == list(bench.round_trips())
    assert all(r["n_swaps"] == 1 and r["n_reals"] == 1 and r["not_found"] == 0 for r in rows)
    assert rows[0]["swaps_caught"] == 1.0 and rows[0]["reals_called_swapped"] == 0.0
    assert rows[0]["auc"] == 1.0  # the one swap above the one real
    assert "| lfw | WebP 30 | 1 |" in capsys.readouterr().out


def test_the_face_scored_is_the_one_where_the_swap_was_pasted():
    from dfrec.io import read_image
    from dfrec.recover import Recoverer

    bench = load_script("benchmarks/compression_scores.py")
    ex = bench.ROOT / "examples" / "obama_on_biden"
    picture = read_image(ex / "forgery.png")
    box = np.array(json.loads((ex / "meta.json").read_text())["face_box_in_forgery"])
    rec = Recoverer.from_pretrained(None, device="cpu")
    assert bench.score_at(rec, picture, box) > 0.5
    assert np.isnan(bench.score_at(rec, picture, np.array([0.0, 0.0, 20.0, 20.0])))
    # the crop encoded instead of the picture: as it is, the same face and the same score as recover's
    trips = bench.round_trips(("jpeg",), (30,))
    assert abs(bench.crop_score_at(rec, picture, box, trips["as it is"]) - bench.score_at(rec, picture, box)) < 1e-5
    assert bench.crop_score_at(rec, picture, box, trips["JPEG 30"]) != bench.score_at(rec, picture, box)
    assert np.isnan(bench.crop_score_at(rec, picture, np.array([0.0, 0.0, 20.0, 20.0]), trips["JPEG 30"]))


def test_the_caveat_asset_takes_its_codecs_rows_and_the_bundled_weights():
    import pytest

    from dfrec.results import compression_measurement

    bench = load_script("benchmarks/compression_scores.py")
    row = {"swaps_caught": 0.9, "reals_called_swapped": 0.05, "auc": 0.98, "n_swaps": 4, "n_reals": 4, "scores": {}}
    doc = {"threshold": 0.5, "at": "picture", "tables": {"lfw": [
        {**row, "round_trip": "as it is", "swaps_caught": 1.0}, {**row, "round_trip": "JPEG 75"},
        {**row, "round_trip": "WebP 75", "swaps_caught": 0.8}, {**row, "round_trip": "WebP 90"}]}}
    asset = bench.caveat_asset(doc, "jpeg", None, "2026-12-07", "docs/x.json")
    assert list(asset["jpeg"]) == ["75"] and asset["jpeg"]["75"]["swaps_caught"] == 0.9 and "scores" not in asset["jpeg"]["75"]
    assert asset["as_it_is"]["swaps_caught"] == 1.0 and asset["tables"] == "docs/x.json" and asset["codec"] == "jpeg"
    assert asset["model_weights"] == compression_measurement("jpeg")["model_weights"]  # the bundled model's, as shipped
    webp = bench.caveat_asset(doc, "webp", None, "2026-12-07")
    assert list(webp["webp"]) == ["90", "75"] and webp["webp"]["75"]["swaps_caught"] == 0.8 and "jpeg" not in webp
    assert webp["command"] == bench.ASSET_COMMANDS["webp"] and "--codecs webp" in webp["command"]
    with pytest.raises(SystemExit):
        bench.caveat_asset({**doc, "at": "crop"}, "jpeg", None, "2026-12-07")
    with pytest.raises(SystemExit, match="WebP round trips"):
        bench.caveat_asset({**doc, "tables": {"lfw": doc["tables"]["lfw"][:2]}}, "webp", None, "2026-12-07")
    with pytest.raises(SystemExit):  # --asset takes one codec's rows
        bench.main(["--codecs", "jpeg,webp", "--asset", "x.json"])
