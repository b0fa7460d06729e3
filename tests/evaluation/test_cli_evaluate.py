"""``dfrec evaluate`` end to end on a tiny random checkpoint and a few LFW test people."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dfrec.cli.main import main


def test_evaluate_writes_every_table_and_the_figure(lfw_dir, tiny_checkpoint, tmp_path):
    out = tmp_path / "eval"
    rc = main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--data", str(lfw_dir), "--limit", "2",
               "--robust-limit", "1", "--device", "cpu", "--out", str(out), "--no-progress"])
    # (faces are indexed into dfrec's default landmark cache, so later runs skip detection)
    assert rc == 0
    names = ["table1_target", "table_source", "table_separation", "table3_accuracy", "table5_robustness", "table6_ablation", "tracing"]
    for n in names:
        assert (out / f"{n}.csv").read_text().count("\n") >= 2, n
    doc = json.loads((out / "results.json").read_text())
    assert set(names) <= set(doc["tables"])
    md = (out / "tables.md").read_text()
    assert "Table I" in md and "Table III" in md and "Table V" in md and "Table VI" in md and "dlib" in md
    # which crops it ran on: a folder is indexed now, so its small faces are enlarged with Lanczos-4
    assert doc["eval_set"]["crop_enlarge"] == "lanczos4" and "enlarged to the crop with lanczos4" in md

    t1 = doc["tables"]["table1_target"]["rows"]
    methods = {r["method"] for r in t1}
    assert {"None (forgery)", "Inpainting (telea)", "DFREC", "DFREC w/o fusion (MAE)", "DFREC w/o ISM"} <= methods
    assert {r["kind"] for r in t1} == {"swap", "blend"}
    none_swap = next(r for r in t1 if r["method"] == "None (forgery)" and r["kind"] == "swap")
    # a swap carries another person's face: the forgery is not the target, yet keeps its pose
    assert none_swap["IDSim"] < 0.9 and none_swap["FID"] > 0 and none_swap["PSNR"] < 60
    for r in t1:
        assert -1 <= r["IDSim"] <= 1 and 0 <= r["verif"] <= 1 and math.isfinite(r["FID"])
    sep = {(r["method"], r["kind"]): r for r in doc["tables"]["table_separation"]["rows"]}
    none = sep[("None (forgery)", "swap")]
    # the forgery carries the source's face: it is closer to the source than the two people are
    assert none["IDSim_to_source"] > none["IDSim_true_pair"] and none["n"] == 2
    for method in ("Inpainting (telea)", "None (forgery)"):  # no source recovered / both faces are the forgery
        for col in ("IDSim_to_recovered_source", "source_IDSim_to_target"):
            v = sep[(method, "swap")][col]
            assert v is None or math.isnan(v), (method, col)  # NaN, null in JSON
    assert -1 <= sep[("DFREC", "blend")]["IDSim_to_recovered_source"] <= 1
    assert -1 <= sep[("DFREC", "swap")]["source_IDSim_to_target"] <= 1
    acc = {r["method"]: r for r in doc["tables"]["table3_accuracy"]["rows"]}
    assert acc["DFREC"]["n_real"] == 2 and acc["DFREC"]["n_fake"] == 4
    assert acc["DFREC"]["tau"] == pytest.approx(doc["tau"])
    robust = doc["tables"]["table5_robustness"]["rows"]
    assert {r["perturbation"] for r in robust} == {"blur", "jpeg", "noise", "shift", "downscale"}
    shifted = {r["level"]: r for r in robust if r["perturbation"] == "shift"}
    assert sorted(shifted) == [2, 4, 8]
    assert all(-1 <= r[c] <= 1 for r in shifted.values() for c in ("IDSim_target", "IDSim_source", "None_IDSim_target"))
    for r in robust:  # the perturbed forgery (a real LFW face) shows no grid, JPEG blocks or not
        assert 0.8 < r["None_blockiness_mid"] < 1.2, r
        assert math.isfinite(r["blockiness_mid_target"])
    assert all(math.isfinite(r["blockiness_mid"]) and math.isfinite(r["checker"]) for r in t1)
    assert none_swap["checker"] < 0.8  # a forgery's fine detail is a photo's, not a checkerboard (2)
    tracing = doc["tables"]["tracing"]["rows"]
    assert tracing[0]["probe"] == "raw forgery" and all(0 <= r["top1"] <= r["top5"] <= 1 for r in tracing)

    from dfrec.io import read_image

    fig = read_image(out / "figure_samples.png")
    assert fig.shape[0] > 4 * 100 and fig.shape[1] > 6 * 100 and np.ptp(fig) > 100


def test_evaluate_user_errors(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "missing"), "--data", str(tmp_path)]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    (tmp_path / "ck").mkdir()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "ck"), "--data", str(tmp_path), "--kinds", "magic"]) == 5
    capsys.readouterr()
    # no --checkpoint: the bundled model is used, so the error is about the (empty) data folder
    assert main(["evaluate", "--data", str(tmp_path), "--out", str(tmp_path / "ev"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "identities" in err and "checkpoint" not in err


def test_evaluate_against_a_reference_checkpoint_pairs_the_same_forgeries(lfw_dir, tiny_checkpoint, tmp_path, capsys):
    """``--reference``: the other checkpoint's rows join the tables and the paired table
    compares per forgery; a checkpoint against itself differs by exactly 0 everywhere, and the
    paired table's means are Table I's and the source table's."""
    out = tmp_path / "eval"
    rc = main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--reference", str(tiny_checkpoint), "--data",
               str(lfw_dir), "--limit", "2", "--device", "cpu", "--out", str(out), "--no-progress", "--no-robustness",
               "--no-ablation", "--no-tracing", "--no-fid"])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    ref_name = next(r["method"] for r in doc["tables"]["table1_target"]["rows"] if r["method"].startswith("DFREC ("))
    t1 = {(r["method"], r["kind"]): r for r in doc["tables"]["table1_target"]["rows"]}
    src = {(r["method"], r["kind"]): r for r in doc["tables"]["table_source"]["rows"]}
    paired = doc["tables"]["table_paired"]["rows"]
    assert {r["kind"] for r in paired} == {"swap", "blend"}
    assert {"IDSim_target", "IDSim_source", "IDSim_target_to_source"} <= {r["score"] for r in paired}
    for r in paired:
        assert r["difference"] == 0 and r["z"] == 0 and r["checkpoint"] == pytest.approx(r["reference"])
        if r["score"] == "IDSim_target":
            assert r["checkpoint"] == pytest.approx(t1[("DFREC", r["kind"])]["IDSim"], abs=1e-6)
            assert t1[(ref_name, r["kind"])]["IDSim"] == pytest.approx(t1[("DFREC", r["kind"])]["IDSim"], abs=1e-6)
        if r["score"] == "IDSim_source":
            assert r["reference"] == pytest.approx(src[(ref_name, r["kind"])]["IDSim"], abs=1e-6)
    assert "Paired comparison" in (out / "tables.md").read_text()
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--reference", str(tmp_path / "nope"), "--data",
                 str(lfw_dir), "--out", str(tmp_path / "e2")]) == 2
    assert "--reference" in capsys.readouterr().err
