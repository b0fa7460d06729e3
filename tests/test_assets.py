"""Every shipped asset equals a fresh regeneration by its documented command (on LFW).

| asset | command |
|---|---|
| ``assets/identity_mean.npy`` | ``python scripts/build_identity_mean.py --lfw ../shared/data/lfw`` |
| ``assets/eval_threshold.json`` | ``dfrec evaluate --calibrate --data ../shared/data/lfw --split val --limit 200 --seed 0 --out src/dfrec/assets`` |
| ``assets/attribute_appearance.json`` | ``python scripts/build_attribute_asset.py --lfw ../shared/data/lfw`` |
| ``assets/training_faces.json`` | ``python benchmarks/training_face_size.py --every 10 --write`` (a 10 × sparser sample is checked against it) |

Each test runs the command's function with the command's defaults and compares with the
shipped file, to float round-off (summation order may differ between machines).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def test_identity_mean_is_the_documented_regeneration(lfw_dir):
    from dfrec.faces.identity import IDENTITY_MEAN_FILE
    from dfrec.faces.identity_mean import DEFAULT_IDENTITIES, build_identity_mean

    mean, info = build_identity_mean(lfw_dir, progress=False)
    shipped = np.load(IDENTITY_MEAN_FILE)
    assert shipped.dtype == np.float32 and shipped.shape == (128,)
    assert info["identities"] + len(info["undetected"]) == DEFAULT_IDENTITIES
    np.testing.assert_allclose(mean, shipped, rtol=0, atol=1e-5)


def test_eval_threshold_is_the_documented_regeneration(lfw_dir):
    from dfrec.metrics.accuracy import load_threshold
    from dfrec.evaluation.runner import calibrate

    doc = calibrate(lfw_dir, "val", n=200, seed=0, device="cpu", progress=False)
    shipped = load_threshold()
    assert doc["n"] == shipped["n"] and doc["quantile"] == shipped["quantile"] == 0.05
    for k in ("tau", "score_mean", "score_min", "same_person_pass_rate", "different_person_pass_rate"):
        assert doc[k] == pytest.approx(shipped[k], rel=1e-5, abs=1e-6), k
    # and what the calibration means: perfect copies of real faces pass, other people do not
    assert shipped["score_min"] <= shipped["tau"] <= shipped["score_mean"]
    assert shipped["different_person_pass_rate"] <= 0.01


def test_attribute_asset_is_the_documented_regeneration(lfw_dir):
    from dfrec.losses.attribute_asset import DEFAULT_OUT, build_asset

    asset = build_asset(lfw_dir)  # the command's defaults: 400 train identities, seed 0
    shipped = json.loads(DEFAULT_OUT.read_text())
    assert set(asset) == set(shipped)
    for k in ("what", "source", "n_images", "seed", "size", "margin", "crop_enlarge", "groups"):
        assert asset[k] == shipped[k], k
    np.testing.assert_allclose(asset["mean_face"], shipped["mean_face"], rtol=0, atol=2e-5)  # stored to 5 decimals
    np.testing.assert_allclose(asset["scales"], shipped["scales"], rtol=1e-4)


def test_training_faces_asset_agrees_with_a_fresh_sample(lfw_dir):
    """The face sizes ``dfrec recover``'s small-face caveat compares with: a sparser fresh sample of
    LFW train photos (every 100th person instead of every 10th) falls inside the shipped spread."""
    from repo_scripts import load_script

    from dfrec.results import training_faces

    shipped = training_faces()
    assert shipped["command"] == "python benchmarks/training_face_size.py --every 10 --write" and shipped["n"] >= 400
    fresh, n, missed = load_script("benchmarks/training_face_size.py").measure(lfw_dir, every=100)
    assert n >= 40 and missed <= 2
    for key in ("eye_distance_px", "crop_scale", "abs_yaw_deg", "pitch_deg"):
        assert shipped[key]["p10"] <= fresh[key]["p50"] <= shipped[key]["p90"], key
    for key in ("eye_distance_px", "crop_scale"):  # sizes vary little: the medians agree closely
        assert fresh[key]["p50"] == pytest.approx(shipped[key]["p50"], rel=0.05), key


@pytest.mark.parametrize("codec", ["jpeg", "webp", "heic", "avif", "h264", "hevc", "vp9", "av1"])
def test_compression_asset_belongs_to_the_bundled_model_and_its_measurement(codec):
    """The jpeg_, webp_, heic_, avif_, h264_, hevc_, vp9_ and av1_compressed caveats quote the bundled
    model: each asset names its weights (rerun ``benchmarks/compression_scores.py``'s and ``compression_recovery.py``'s
    ASSET_COMMANDS, with ``--json``, when they change) and holds the rows of the measurements it
    names (``tables``, under docs/results)."""
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.report.provenance import model_record
    from dfrec.results import LOSSY_CODECS, compression_measurement

    asset = compression_measurement(codec)
    name = LOSSY_CODECS[codec]
    assert asset["codec"] == codec and f"--codecs {codec}" in asset["command"]
    weights = {f["path"]: f["sha256"] for f in model_record(DEFAULT_CHECKPOINT, dlib=[])["files"]
               if f["path"].endswith(".safetensors")}
    assert asset["model_weights"] == weights, f"the bundled model changed: rerun {asset['command']}"
    doc = json.loads((Path(__file__).resolve().parents[1] / asset["tables"]).read_text())
    rows = {r["round_trip"]: r for r in doc["tables"]["lfw"]}
    assert asset[codec]
    for q, row in asset[codec].items():
        assert {k: rows[f"{name} {q}"][k] for k in row} == row, q
    assert asset["as_it_is"]["swaps_caught"] == rows["as it is"]["swaps_caught"]
    rec = asset["recovery"]  # the map and recovered target rows, from their own measurement
    measured = {r["round_trip"]: r for r in json.loads((Path(__file__).resolve().parents[1] / rec["tables"]).read_text())["rows"]}
    assert rec[codec]
    for q, row in rec[codec].items():
        assert {k: measured[f"{name} {q}"][k] for k in row} == row, q
    assert rec["as_it_is"]["lead"] == measured["as it is"]["lead"] > 0
