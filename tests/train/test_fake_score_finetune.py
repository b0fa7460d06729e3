"""benchmarks/fake_score_finetune.py: its degradations, and that its fine-tuning moves only the
part it names (the SIRM, TIRM and BatchNorm statistics stay as they were; with ``--part branch``
the ISM too)."""

from __future__ import annotations

import numpy as np
import torch
from repo_scripts import load_script


def test_wide_degrade_keeps_the_crop_and_is_seeded():
    bench = load_script("benchmarks/fake_score_finetune.py")
    crop = (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    outs = [bench.wide_degrade(crop, np.random.default_rng(s)) for s in range(12)]
    assert all(o.shape == crop.shape and o.dtype == np.uint8 for o in outs)
    assert np.array_equal(outs[3], bench.wide_degrade(crop, np.random.default_rng(3)))
    assert sum(not np.array_equal(o, crop) for o in outs) >= 8  # most draws degrade something


def test_roc_auc_counts_pairs_and_ties():
    bench = load_script("benchmarks/fake_score_finetune.py")
    assert bench.roc_auc(torch.tensor([0.9, 0.8, 0.3]), torch.tensor([0.1, 0.3, 0.5])) == 7.5 / 9


def test_kinds_option_reads_a_mix_and_refuses_a_wrong_one():
    import pytest

    bench = load_script("benchmarks/fake_score_finetune.py")
    assert bench.parse_kinds("swap=0.25, blend=0.25,self=0.05,real=0.45") == {
        "swap": 0.25, "blend": 0.25, "self": 0.05, "real": 0.45}
    for bad in ("swap=0.5,real=0.4", "swap=0.5,gan=0.05,real=0.45", "swap=1.0", "real=1.0", ""):
        with pytest.raises(ValueError):
            bench.parse_kinds(bad)


def test_finetune_moves_only_the_named_part(lfw_cache, tiny_checkpoint):
    from dfrec.data.datasets import lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.models import DFREC

    bench = load_script("benchmarks/fake_score_finetune.py")
    faces = lfw_faces(open_faces(lfw_cache), "train")
    for part, prefixes in (("head", ("ism.net.classification_head.",)), ("ism", ("ism.",)), ("branch", ("scorer.",))):
        model = DFREC.from_pretrained(tiny_checkpoint)
        if part == "branch":
            model.add_score_branch()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        run = bench.finetune(model, faces, seconds=600, part=part, max_steps=2, batch=2, log=lambda s: None)
        assert run["steps"] == 2 and run["samples"] == 4
        after = model.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed and all(k.startswith(prefixes) for k in changed), (part, sorted(changed)[:5])
        assert not any("running_" in k for k in changed)  # BatchNorm statistics are frozen
        assert not any(p.requires_grad for p in model.parameters())


def test_small_face_degrade_softens_like_an_enlarged_small_face():
    """``--degrade small``: a face as ``recover`` sees it from a small picture (shrunk until its eyes
    are E px apart, enlarged back with Lanczos-4): same crop, less fine detail the smaller E; the
    draw is seeded and applies to a share of the inputs only."""
    bench = load_script("benchmarks/fake_score_finetune.py")
    from dfrec.data.synth.augment import as_small_face, rescale_round_trip
    from dfrec.faces.align import CROP_EYES_PX, ENLARGE_INTERPOLATION

    rng = np.random.default_rng(0)
    crop = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
    detail = [np.abs(np.diff(as_small_face(crop, e).astype(float), axis=1)).mean() for e in (53, 20, 10)]
    assert detail[0] == np.abs(np.diff(crop.astype(float), axis=1)).mean()  # at the crop's own size: untouched
    assert detail[0] > detail[1] > detail[2]
    np.testing.assert_array_equal(as_small_face(crop, 14),
                                  rescale_round_trip(crop, 14 / CROP_EYES_PX, up=ENLARGE_INTERPOLATION))
    outs = [bench.small_face_degrade(crop, np.random.default_rng(s), p=1.0) for s in range(3)]
    assert all(o.shape == crop.shape and o.dtype == np.uint8 for o in outs)
    assert np.array_equal(outs[1], bench.small_face_degrade(crop, np.random.default_rng(1), p=1.0))


def _finetuned_run(lfw_cache, tiny_checkpoint, tmp_path, part: str, degrade: str):
    """(the fine-tuned tiny model, its run folder as the benchmark writes it, the benchmark module)."""
    import json

    from dfrec.data.datasets import lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.models import DFREC

    bench = load_script("benchmarks/fake_score_finetune.py")
    model = DFREC.from_pretrained(tiny_checkpoint)
    run = bench.finetune(model, lfw_faces(open_faces(lfw_cache), "train"), seconds=600, part=part, degrade=degrade,
                         max_steps=2, batch=2, log=lambda s: None)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bench.save_trained(model, part, run_dir)
    settings = {"part": part, "degrade": degrade, "map_weight": 20.0, "threads": 1, "lr": 1e-4, "seed": 0}  # as vars(args)
    (run_dir / "scores.json").write_text(json.dumps({"settings": settings, "training": run}))
    return model, run_dir, bench


def test_export_puts_the_fine_tuned_ism_into_a_model_folder(lfw_cache, tiny_checkpoint, tmp_path):
    """``--export-from RUN --out DIR``: the base model with the run's ISM, every other tensor and the
    metadata kept, one history entry added (what ``scripts/accept_model.py`` takes)."""
    from dfrec.models import DFREC

    model, run_dir, bench = _finetuned_run(lfw_cache, tiny_checkpoint, tmp_path, "ism", "small")
    out = bench.export_model(run_dir, tmp_path / "tiny_tuned", base=str(tiny_checkpoint))
    tuned, base = DFREC.from_pretrained(out), DFREC.from_pretrained(tiny_checkpoint)
    for k, v in tuned.state_dict().items():
        want = model.state_dict()[k] if k.startswith("ism.") else base.state_dict()[k]
        assert torch.equal(v, want), k
    assert any(not torch.equal(v, base.state_dict()[k]) for k, v in tuned.state_dict().items() if k.startswith("ism."))
    hist = tuned.checkpoint_metadata["history"]
    assert len(hist) == len(base.checkpoint_metadata.get("history", [])) + 1
    assert hist[-1]["images"] == 4 and "--degrade small" in hist[-1]["run"]


def test_export_adds_the_fine_tuned_score_branch(lfw_cache, tiny_checkpoint, tmp_path):
    """``--part branch`` then ``--export-from``: the base model with a score branch of the run's
    weights; every tensor of the base (the ISM included) and so its maps and faces are unchanged."""
    from dfrec.models import DFREC

    model, run_dir, bench = _finetuned_run(lfw_cache, tiny_checkpoint, tmp_path, "branch", "wide")
    assert (run_dir / "scorer.safetensors").is_file()
    tuned = DFREC.from_pretrained(bench.export_model(run_dir, tmp_path / "tiny_branch", base=str(tiny_checkpoint)))
    base = DFREC.from_pretrained(tiny_checkpoint)
    assert tuned.config.score_branch and not base.config.score_branch
    for k, v in tuned.state_dict().items():
        want = model.state_dict()[k] if k.startswith("scorer.") else base.state_dict()[k]
        assert torch.equal(v, want), k
    assert "score branch" in tuned.checkpoint_metadata["history"][-1]["run"]
    assert tuned.checkpoint_metadata["history"][-1]["part"] == "score_branch"
    # the branch continued: exported onto the model that has it, the card counts both runs and says so once
    again = DFREC.from_pretrained(bench.export_model(run_dir, tmp_path / "tiny_branch2", base=str(tmp_path / "tiny_branch")))
    status = again.checkpoint_metadata["status"]
    assert status.count("its fake score from") == 1 and "(8 forgeries in 2 runs)" in status, status
    assert "score branch continued" in again.checkpoint_metadata["history"][-1]["run"]
