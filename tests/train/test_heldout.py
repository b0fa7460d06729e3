"""Held-out evaluation and the model gate: fixed sets from LFW validation identities, the same
samples for every model, and a gate that keeps the bundled model unless both identities hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from repo_scripts import load_script

from dfrec.metrics import paired_difference


def test_heldout_sets_are_fixed_and_held_out(lfw_cache):
    from dfrec.data.datasets import load_split
    from dfrec.train.heldout import heldout_sets

    a, b = heldout_sets(lfw_cache, n=6), heldout_sets(lfw_cache, n=6)
    assert {k: len(v) for k, v in a.items()} == {"swap": 6, "gan_swap": 6, "blend": 8, "real": 8}
    val = set(load_split()["val"])
    for name in a:
        x, y = a[name][0], b[name][0]
        assert torch.equal(x["forgery"], y["forgery"]), name  # same samples on every call
        assert x["target_id"] in val and x["source_id"] in val
    assert a["real"][0]["is_fake"] == 0.0 and a["swap"][0]["is_fake"] == 1.0
    # the GAN-like set differs from the plain swaps only by the appearance of the pasted face
    assert torch.equal(a["swap"][0]["target"], a["gan_swap"][0]["target"])
    assert not torch.equal(a["swap"][0]["forgery"], a["gan_swap"][0]["forgery"])


def test_heldout_test_sets_leave_out_the_people_evaluate_reports_on(lfw_test_cache):
    """Choosing a model on the test split must not bias the published test table: the gate's
    test sets never show a person ``dfrec evaluate --limit 100 --seed 0`` may report on."""
    from dfrec.data.people import candidate_people, identity_counts, reported_people
    from dfrec.train.heldout import heldout_sets

    counts = identity_counts(lfw_test_cache)
    reported = reported_people(counts)
    assert reported == {n for n, c in counts.items() if c >= 2} and len(reported) == 4
    # a smaller evaluation draws fewer (limit + limit // 4 + 2), seeded, among those same people
    few = candidate_people(counts, None, 1, 0)
    assert len(few) == 3 and set(few) < reported and few == candidate_people(counts, None, 1, 0)
    sets = heldout_sets(lfw_test_cache, n=8, split="test", names=("swap", "real"))
    seen = {x[k] for s in sets.values() for x in s for k in ("source_id", "target_id")}
    assert seen and not seen & reported
    assert seen <= {n for n, c in counts.items() if c == 1}
    # nobody left out on request, the reported people come back
    everyone = heldout_sets(lfw_test_cache, n=24, split="test", names=("swap",), exclude=set())
    assert {x["target_id"] for x in everyone["swap"]} & reported
    with pytest.raises(ValueError, match="fewer than two"):
        heldout_sets(lfw_test_cache, n=8, split="test", exclude=set(counts) - {next(iter(counts))})


def test_heldout_self_swaps_on_request(lfw_cache):
    from dfrec.train.heldout import heldout_sets

    sets = heldout_sets(lfw_cache, n=6, names=("swap", "self"))
    assert list(sets) == ["swap", "self"] and len(sets["self"]) == 8
    s = sets["self"][0]
    assert s["source_id"] == s["target_id"] and s["is_fake"] == 1.0
    assert torch.equal(sets["swap"][0]["forgery"], heldout_sets(lfw_cache, n=6)["swap"][0]["forgery"])  # others unchanged
    with pytest.raises(ValueError, match="unknown held-out sets"):
        heldout_sets(lfw_cache, n=6, names=("swaps",))


def test_evaluator_scores_every_set(lfw_cache, tiny_checkpoint):
    from dfrec.models import DFREC
    from dfrec.train.heldout import HeldOutEvaluator, heldout_sets

    ev = HeldOutEvaluator(heldout_sets(lfw_cache, n=2), fid=False, batch=8, degraded=True)
    res = ev(DFREC.from_pretrained(tiny_checkpoint))
    assert set(res) == {"swap", "gan_swap", "blend", "real"}
    for name, m in res.items():
        assert {"idsim_target", "idsim_target_none", "verif_target", "blockiness_target", "blockiness_mid_target", "checker_target"} <= set(m), name
    assert res["real"]["idsim_target_none"] == pytest.approx(1.0, abs=1e-5)  # a real face is its own target
    assert "map_iou" in res["swap"] and "map_fp_real" in res["real"]
    # identity separation: defined for two-person forgeries, never for a real face
    sep = {"idsim_target_source", "idsim_target_source_none", "idsim_pair", "idsim_pair_true"}
    assert sep <= set(res["swap"]) and sep <= set(res["blend"]) and not sep & set(res["real"])
    for name in ("swap", "blend"):
        for k in sep:
            assert -1.0 <= res[name][k] <= 1.0, (name, k)
        # two different people: the true pair is far from the same-person level (~0.7)
        assert res[name]["idsim_pair_true"] < 0.5, name
        # every sample of these sets is a two-person forgery: the two-person target scores are the scores
        assert res[name]["two_people"] == 1.0
        assert res[name]["idsim_target_two_people"] == pytest.approx(res[name]["idsim_target"])
        assert res[name]["idsim_target_none_two_people"] == pytest.approx(res[name]["idsim_target_none"])
    assert res["real"]["two_people"] == 0.0 and "idsim_target_two_people" not in res["real"]
    # per-sample scores, in the sets' order, average to the reported means
    again, per = ev.score(DFREC.from_pretrained(tiny_checkpoint))
    assert again == res
    for name in res:
        assert per[name]["idsim_target"].shape == (len(ev.sets[name]),)
        for k in ("idsim_target", "blockiness_target", "psnr_target"):
            v = per[name][k]
            assert float(v[~v.isnan()].mean()) == pytest.approx(res[name][k], abs=1e-9), (name, k)
    assert per["real"]["map_iou"].isnan().all()  # undefined for a real face: NaN per sample, absent from the means
    # the fake score once more under each degradation: per sample the fraction called right
    from dfrec.train.heldout import SCORE_DEGRADATIONS

    for name in res:
        v = per[name]["accuracy_degraded"]
        assert v.shape == (len(ev.sets[name]),) and float(v.mean()) == pytest.approx(res[name]["accuracy_degraded"])
        assert torch.allclose(v * len(SCORE_DEGRADATIONS), (v * len(SCORE_DEGRADATIONS)).round())


def test_degraded_accuracy_scores_every_degraded_version(lfw_cache):
    """Each sample is scored once per degradation, each version differs from the clean crop (JPEG 30
    the most among the JPEGs), and right/wrong follows the labels: a score that calls everything fake
    is right on every version of a forgery and on none of a real face's."""
    from dfrec.train.heldout import SCORE_DEGRADATIONS, degraded_accuracy, heldout_sets

    seen = []

    class AlwaysFake(torch.nn.Module):
        def score(self, x):
            seen.append(x)
            return torch.ones(len(x))

    real, swap = (heldout_sets(lfw_cache, n=2, names=(k,))[k][0] for k in ("real", "swap"))
    x = torch.stack([real["forgery"], swap["forgery"]])
    right = degraded_accuracy(AlwaysFake(), x, torch.tensor([0.0, 1.0]), per_degradation=True)
    D = len(SCORE_DEGRADATIONS)
    assert right.shape == (2, D) and right[0].sum() == 0 and right[1].sum() == D
    assert degraded_accuracy(AlwaysFake(), x, torch.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
    versions = seen[0].view(2, D, *x.shape[1:])
    err = (versions - x[:, None]).abs().mean(dim=(2, 3, 4))  # (2, D): how far each version is from its crop
    assert (err > 1e-3).all()
    by = dict(zip(SCORE_DEGRADATIONS, err[0].tolist()))
    assert by["JPEG 30"] > by["JPEG 50"]


def _gate_module():
    return load_script("scripts/model_gate.py")


@pytest.mark.parametrize("target, source, block, checker, real_acc, real_deg, passes", [
    (0.30, 0.60, 1.10, 0.4, 0.9, 0.8, True), (0.20, 0.60, 1.10, 0.4, 0.9, 0.8, True),
    (0.30, 0.50, 1.10, 0.4, 0.9, 0.8, False), (0.10, 0.70, 1.10, 0.4, 0.9, 0.8, False),
    (0.30, 0.60, 1.15, 0.4, 0.9, 0.8, True),    # up to the ceiling, though blockier than the incumbent
    (0.30, 0.60, 1.18, 0.4, 0.9, 0.8, False),   # a visible patch grid again
    (0.30, 0.60, float("nan"), 0.4, 0.9, 0.8, False),
    (0.30, 0.60, 1.10, 0.7, 0.9, 0.8, True),    # a checkerboard, but less of one than the incumbent's
    (0.30, 0.60, 1.10, 0.9, 0.9, 0.8, False),   # more checkerboard: noise that would buy the grid measure down
    (0.30, 0.60, 1.10, float("nan"), 0.9, 0.8, False),
    (0.30, 0.60, 1.10, 0.4, 1.0, 0.8, True),    # the fake score right more often on the reals
    (0.30, 0.60, 1.10, 0.4, 0.5, 0.8, False),   # ... or less often, on every face alike: z = -inf
    (0.30, 0.60, 1.10, 0.4, 0.9, 0.9, True),    # right more often on degraded reals
    (0.30, 0.60, 1.10, 0.4, 0.9, 0.5, False),   # clean reals as before, compressed ones called swapped
    (0.30, 0.60, 1.10, 0.4, 0.9, None, False)])  # a score the gate cannot see degraded fails
def test_gate_needs_both_identities_to_hold_and_no_patch_grid(monkeypatch, tmp_path, target, source, block, checker,
                                                              real_acc, real_deg, passes):
    import dfrec.models
    import dfrec.train.heldout as heldout

    # the grid rule reads the midline blockiness; the plain one is scored and printed, not gated
    incumbent = {"swap": {"idsim_target": 0.20, "idsim_source": 0.55, "blockiness_mid_target": 1.13,
                          "blockiness_target": 1.05, "checker_target": 0.8, "accuracy": 1.0, "accuracy_degraded": 0.9},
                 "real": {"accuracy": 0.9, "accuracy_degraded": 0.8}}
    candidate = {"swap": {"idsim_target": target, "idsim_source": source, "blockiness_mid_target": block,
                          "blockiness_target": 1.3, "checker_target": checker, "accuracy": 1.0, "accuracy_degraded": 0.9},
                 "real": {"accuracy": real_acc, "accuracy_degraded": real_deg}}
    if real_deg is None:
        for kind in candidate.values():
            del kind["accuracy_degraded"]

    class FakeEvaluator:
        def __init__(self, *a, **k):
            pass

        def score(self, model):
            return ({s: dict(m) for s, m in model.items()},
                    {s: {k: torch.full((4,), v, dtype=torch.float64) for k, v in m.items()} for s, m in model.items()})

    monkeypatch.setattr(heldout, "HeldOutEvaluator", FakeEvaluator)
    monkeypatch.setattr(heldout, "heldout_sets", lambda *a, **k: {})
    monkeypatch.setattr(dfrec.models.DFREC, "from_pretrained",
                        classmethod(lambda cls, p, **k: candidate if Path(p).name == "new" else incumbent))
    gate = _gate_module()
    rc = gate.main([str(tmp_path / "new"), "--incumbent", str(tmp_path / "old"), "--json", str(tmp_path / "g.json"),
                    "--device", "cpu"])
    assert (rc == 0) is passes
    import json

    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["passed"] is passes and np.isclose(doc["candidate"]["swap"]["idsim_target"], target)
    assert np.isclose(doc["paired"]["real"]["accuracy"]["mean"], real_acc - 0.9)
    # the paired differences on the same samples are recorded beside the verdict
    assert np.isclose(doc["paired"]["swap"]["idsim_source"]["mean"], source - 0.55)
    assert doc["paired"]["swap"]["idsim_target"]["n"] == 4


def test_gate_balanced_pool_weighs_reals_as_much_as_all_forgeries():
    """The balanced pool's mean is the mean of the forgeries' and the reals' accuracy, however
    many of each there are; a score that calls every degraded face real (or swapped) loses there."""
    gate = _gate_module()

    def pooled(swap, blend, real, balanced=True):
        per = {"swap": {"accuracy_degraded": torch.tensor(swap, dtype=torch.float64)},
               "blend": {"accuracy_degraded": torch.tensor(blend, dtype=torch.float64)},
               "real": {"accuracy_degraded": torch.tensor(real, dtype=torch.float64)}}
        metrics = {}
        gate.pool_sets(metrics, per, balanced=balanced)
        name = gate.BALANCED if balanced else gate.POOLED
        return metrics[name]["accuracy_degraded"], per[name]["accuracy_degraded"]

    mean, _ = pooled([1.0] * 6, [0.5] * 2, [0.0, 1.0])
    assert mean == pytest.approx(0.5 * (7 / 8) + 0.5 * 0.5)
    assert pooled([1.0] * 6, [0.5] * 2, [0.0, 1.0], balanced=False)[0] == pytest.approx(8 / 10)
    _, old = pooled([0.9] * 60, [0.6] * 20, [0.9, 0.8] * 10)
    _, all_fake = pooled([1.0] * 60, [1.0] * 20, [0.0, 0.0] * 10)
    # unbalanced, the 80 forgeries' gain would hide the 20 reals' loss: the pool's mean rises
    weaker = ([0.8] * 60, [0.5] * 20, [0.85] * 20)
    assert pooled([1.0] * 60, [1.0] * 20, [0.0] * 20, balanced=False)[0] > pooled(*weaker, balanced=False)[0]
    assert pooled([1.0] * 60, [1.0] * 20, [0.0] * 20)[0] < pooled(*weaker)[0]
    assert not gate.holds("paired", 0, 0, paired_difference(old, all_fake))
    assert gate.holds("paired", 0, 0, paired_difference(old, old))


def test_gate_blockiness_rule_lets_a_blocky_incumbent_be_improved():
    gate = _gate_module()
    assert gate.holds("band", 1.30, 1.25)      # less grid than a blocky incumbent, though outside the band
    assert not gate.holds("band", 1.20, 1.25)
    assert gate.holds("band", float("nan"), 1 + gate.BLOCKINESS_BAND)
    assert gate.holds("higher", 0.2, 0.2) and not gate.holds("higher", 0.2, float("nan"))
    assert gate.holds("photo", 0.86, 0.34) and gate.holds("photo", 0.3, gate.CHECKER_PHOTO)
    assert not gate.holds("photo", 0.34, 0.6) and gate.holds("photo", 0.86, 0.8)
    # "paired": not significantly below the incumbent on the same samples; no paired data fails
    assert gate.holds("paired", 0.9, 0.88, {"mean": -0.02, "z": -1.0, "n": 48})
    assert not gate.holds("paired", 0.9, 0.8, {"mean": -0.1, "z": -2.5, "n": 48})
    assert gate.holds("paired", 0.9, 0.9, {"mean": 0.0, "z": 0.0, "n": 48})
    assert not gate.holds("paired", 0.9, 0.9, None)


def test_gate_blockiness_rule_fails_a_blurred_grid():
    """Below 1 the block edges are smoother than the picture (CPU run 11's border weight 8: 0.77)."""
    gate = _gate_module()
    assert gate.holds("band", 1.02, 0.88)
    assert not gate.holds("band", 1.02, 0.77)
    assert gate.holds("band", 0.70, 0.77)     # yet closer to 1 than an over-smoothed incumbent
    with pytest.raises(ValueError, match="unknown gate rule"):
        gate.holds("ceiling", 1.0, 1.0)


def test_revalidate_records_a_row_and_fills_an_unvalidated_run(lfw_cache, tmp_path):
    """scripts/revalidate_model.py scores a saved model on its own training run's validation set and,
    with --write, appends the row (note, samples, date) and fills the newest history entry when that
    run did not validate (data.val_samples 0)."""
    import json

    from dfrec.train.config import config_from_dict
    from dfrec.train.loop import Trainer
    from helpers import tiny_config

    data = tiny_config(lfw_cache, tmp_path / "run", steps=1, checkpoint_every=1)
    data["data"]["val_samples"] = 0
    Trainer(config_from_dict(data), device="cpu", progress=False).fit()
    model = tmp_path / "run" / "model"
    doc = json.loads((model / "config.json").read_text())
    assert not doc["metadata"].get("validation")
    doc["metadata"]["history"] = [{"run": "earlier", "validation": {"val/idsim_target": 0.1}}, {"run": "this one"}]
    (model / "config.json").write_text(json.dumps(doc))
    mod = load_script("scripts/revalidate_model.py")
    assert mod.main([str(model), "--cache", str(lfw_cache), "--samples", "4", "--batch", "2", "--note", "after",
                     "--write"]) == 0
    meta = json.loads((model / "config.json").read_text())["metadata"]
    row = meta["validation"][-1]
    assert row["note"] == "after" and row["samples"] == 4 and 0 <= row["val/idsim_target_none"] <= 1
    assert np.isfinite(row["val/idsim_target"]) and np.isfinite(row["val/idsim_source"])
    assert meta["history"][-1]["validation"] == row and meta["history"][0]["validation"] == {"val/idsim_target": 0.1}
    assert row["train_seed"] == 3  # tiny_config's train.seed
    # --seed: another run's validation forgeries (e.g. the replaced model's), recorded in the row
    assert mod.main([str(model), "--cache", str(lfw_cache), "--samples", "4", "--batch", "2", "--seed", "0",
                     "--write"]) == 0
    other = json.loads((model / "config.json").read_text())["metadata"]["validation"][-1]
    assert other["train_seed"] == 0 and other["val/idsim_target_none"] != row["val/idsim_target_none"]


def test_gate_reuses_a_models_scores_until_its_weights_change(monkeypatch, tmp_path):
    """The gate keys each model's scores by its weight files (and code, data, n): a second gate
    against the same incumbent does not score it again; changed weights are scored afresh."""
    import dfrec.models
    import dfrec.train.heldout as heldout

    old, new = tmp_path / "old", tmp_path / "new"
    for d, v in ((old, b"1"), (new, b"2")):
        d.mkdir()
        (d / "model.safetensors").write_bytes(v)
    values = {name: {"swap": {"idsim_target": t, "idsim_source": 0.5, "blockiness_mid_target": 1.0,
                              "checker_target": 0.4, "accuracy": 1.0, "accuracy_degraded": 1.0},
                     "real": {"accuracy": 1.0, "accuracy_degraded": 1.0}} for name, t in (("old", 0.2), ("new", 0.3))}
    scored = []

    class FakeEvaluator:
        def __init__(self, *a, **k):
            pass

        def score(self, model):
            scored.append(model)
            return ({s: dict(m) for s, m in values[model].items()},
                    {s: {k: torch.tensor([v, float("nan")], dtype=torch.float64) for k, v in m.items()}
                     for s, m in values[model].items()})

    monkeypatch.setattr(heldout, "HeldOutEvaluator", FakeEvaluator)
    monkeypatch.setattr(heldout, "heldout_sets", lambda *a, **k: {})
    monkeypatch.setattr(dfrec.models.DFREC, "from_pretrained", classmethod(lambda cls, p, **k: Path(p).name))
    gate = _gate_module()
    args = [str(new), "--incumbent", str(old), "--device", "cpu", "--score-cache", str(tmp_path / "scores"),
            "--json", str(tmp_path / "g.json")]
    assert gate.main(args) == 0 and scored == ["old", "new"]
    import json

    first = json.loads((tmp_path / "g.json").read_text())
    assert gate.main(args) == 0 and scored == ["old", "new"]  # both from the cache
    assert json.loads((tmp_path / "g.json").read_text())["paired"] == first["paired"]
    (new / "model.safetensors").write_bytes(b"3")  # new weights: scored again, the incumbent not
    assert gate.main(args) == 0 and scored == ["old", "new", "new"]
    assert gate.main([*args, "--no-score-cache"]) == 0 and scored == ["old", "new", "new", "old", "new"]


def test_evaluator_fid_comes_from_the_scoring_pass(lfw_cache, tiny_checkpoint):
    """With ``fid=True`` the recovered targets' FID features are taken in the same pass as the
    other scores; they equal a separate pass of the (deterministic, eval-mode) model."""
    from dfrec.metrics.fid import fid_from_features
    from dfrec.models import DFREC
    from dfrec.train.heldout import HeldOutEvaluator, heldout_sets

    sets = heldout_sets(lfw_cache, n=4, names=("swap",))
    ev = HeldOutEvaluator(sets, fid=True, batch=4)
    model = DFREC.from_pretrained(tiny_checkpoint)
    res = ev(model)["swap"]
    with torch.no_grad():
        rec = torch.cat([ev.fid_ex(model(b["forgery"])["target"].float().clamp(0, 1)) for b in ev._loader("swap")])
    true_f, forg_f = ev.ref["swap"]
    assert res["fid_target"] == pytest.approx(float(fid_from_features(rec, true_f)), rel=1e-4)
    assert res["fid_target_none"] == pytest.approx(float(fid_from_features(forg_f, true_f)), rel=1e-6)
    assert res["fid_target"] > 0
    assert "accuracy_degraded" not in res  # only the gate asks for the degraded score (degraded=True)


@pytest.mark.parametrize("failing, photos, replaced", [(None, 1, True), (None, 2, True), (None, 3, False),
                                                      ("test", 1, False), ("val", 1, False)])
def test_accept_needs_the_gate_to_pass_on_validation_and_test_identities(monkeypatch, tmp_path, failing, photos,
                                                                         replaced):
    """CPU runs 20 and 24 passed on validation and showed nothing on the test identities: the test
    split vetoes before the bundled folder is swapped, and a veto leaves it as it was. So do the
    untouched photos from outside LFW: the bundled model calls 1 swapped here, a candidate may call 2."""
    import json
    import subprocess
    import types

    accept = load_script("scripts/accept_model.py")
    bundled, cand = tmp_path / "default", tmp_path / "cand"
    for folder, text in ((bundled, "old"), (cand, "new")):
        folder.mkdir()
        (folder / "config.json").write_text(f'{{"who": "{text}"}}')
        (folder / "model.safetensors").write_bytes(text.encode())
    monkeypatch.setattr(accept, "BUNDLED", bundled)
    seen = []

    def fake_run(cmd, *a, **k):
        if "--split" not in cmd:  # benchmarks/real_photo_scores.py --no-lfw --json
            above = photos if Path(cmd[cmd.index("--checkpoint") + 1]) == cand else 1
            faces = [{"photo": f"p{i}.jpg", "face": 1, "score_fake": 0.9 if i < above else 0.1} for i in range(19)]
            seen.append(f"photos {above}")
            return types.SimpleNamespace(returncode=0, stdout=json.dumps({"above": above, "faces": faces}), stderr="")
        split = cmd[cmd.index("--split") + 1]
        seen.append(split)
        return types.SimpleNamespace(returncode=1 if split == failing else 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    rc = accept.main([str(cand), "--cache", str(tmp_path)])
    assert (rc == 0) is replaced
    assert seen == (["val"] if failing == "val" else ["val", "test"] if failing else
                    ["val", "test", "photos 1", f"photos {photos}"])
    assert (bundled / "config.json").read_text() == ('{"who": "new"}' if replaced else '{"who": "old"}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cand", "default"]  # no half-swapped folder left
    assert accept.main([str(cand), "--splits", "train"]) == 2
