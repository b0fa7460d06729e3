"""benchmarks/fake_score_finetune.py: its degradations, and that its fine-tuning moves only the
part of the ISM it names (the SIRM, TIRM and BatchNorm statistics stay as they were)."""

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


def test_finetune_moves_only_the_named_part(lfw_cache, tiny_checkpoint):
    from dfrec.data.datasets import lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.models import DFREC

    bench = load_script("benchmarks/fake_score_finetune.py")
    faces = lfw_faces(open_faces(lfw_cache), "train")
    for part, prefixes in (("head", ("ism.net.classification_head.",)), ("ism", ("ism.",))):
        model = DFREC.from_pretrained(tiny_checkpoint)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        run = bench.finetune(model, faces, seconds=600, part=part, max_steps=2, batch=2, log=lambda s: None)
        assert run["steps"] == 2 and run["samples"] == 4
        after = model.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed and all(k.startswith(prefixes) for k in changed), (part, sorted(changed)[:5])
        assert not any("running_" in k for k in changed)  # BatchNorm statistics are frozen
        assert not any(p.requires_grad for p in model.parameters())
