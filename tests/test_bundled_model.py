"""Regression tests of the bundled default model on the shipped examples (examples/*/): each
forgery is recovered exactly as ``dfrec recover`` does it, and the recovered faces are
compared with the true source and true target photos shipped beside it.

Measured with the bundled model of 2026-12-02 (small preset, fast recipe, ``compose_dilate: 0``;
109,832 forgeries seen over its history, docs/training.md):

| example | SSIM source: recovered / forgery | IDSim source: recovered / forgery | IDSim target: recovered / forgery |
|---|---|---|---|
| biden_on_obama | 0.361 / 0.322 | 0.526 / 0.510 | 0.357 / 0.462 |
| obama_on_astronaut | 0.350 / 0.299 | 0.481 / 0.431 | 0.188 / 0.106 |
| obama_on_biden | 0.379 / 0.306 | 0.567 / 0.571 | 0.091 / 0.348 |

(printed by ``python benchmarks/examples_recovery.py``). The recovered source is closer to
the true source than the forgery in structure (SSIM) on every example: a hard check. In
identity it is on average (0.524 vs 0.504), the recovered target is not; the model's own held-out
validation (``config.json`` metadata) says the same about its targets, so the identity
check is an expected failure, strict, gated on that recorded validation: it becomes a hard
check as soon as a model whose validation shows target recovery beating the forgery is
bundled, and a model that passes it while its validation says otherwise fails the suite
until this file is updated.
"""

from __future__ import annotations

import numpy as np
import pytest
from repo_scripts import load_script


def _validation() -> dict:
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.report.provenance import training_summary

    return training_summary(DEFAULT_CHECKPOINT).get("validation", {})


def _targets_beat_forgery_in_validation() -> bool:
    val = _validation()
    return val.get("idsim_target", -1.0) > val.get("idsim_target_none", 1.0)


@pytest.fixture(scope="module")
def recovered() -> dict[str, dict]:
    """example name -> SSIM / IDSim of the recovered faces and of the forgery (the bundled model on
    CPU), measured by benchmarks/examples_recovery.py's ``measure``."""
    bench = load_script("benchmarks/examples_recovery.py")
    folders = bench.examples()
    assert len(folders) >= 3
    return bench.measure(folders)


def test_bundled_model_records_held_out_validation():
    val = _validation()
    assert {"idsim_source", "idsim_target", "idsim_target_none", "samples"} <= set(val)
    assert val["samples"] >= 100


def test_recovered_source_is_structurally_closer_to_the_true_source(recovered):
    for name, m in recovered.items():
        assert m["ssim_source"] > m["ssim_source_none"], (name, m)


@pytest.mark.xfail(not _targets_beat_forgery_in_validation(), strict=True,
                   reason="the bundled model's held-out validation records recovered targets further from the "
                          "true target than the forgery (idsim_target <= idsim_target_none); see the module docstring")
def test_recovered_identities_are_closer_than_the_forgery(recovered):
    mean = {k: float(np.mean([m[k] for m in recovered.values()])) for k in next(iter(recovered.values()))}
    assert mean["idsim_source"] > mean["idsim_source_none"], mean
    assert mean["idsim_target"] > mean["idsim_target_none"], mean
