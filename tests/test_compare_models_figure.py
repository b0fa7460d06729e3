"""benchmarks/compare_models_figure.py: one row per example, forgery | each model's recovered
source and target | the true faces, recovered by the same path as ``dfrec recover``."""

from __future__ import annotations

import numpy as np

from repo_scripts import ROOT, load_script


def test_figure_has_a_tile_per_face_and_the_true_faces_last(tiny_checkpoint, tmp_path):
    bench = load_script("benchmarks/compare_models_figure.py")
    ex = tmp_path / "examples" / "obama_on_biden"
    ex.mkdir(parents=True)
    for name in ("forgery.png", "true_source.png", "true_target.png"):
        (ex / name).write_bytes((ROOT / "examples" / "obama_on_biden" / name).read_bytes())
    out = tmp_path / "fig.png"
    assert bench.main([str(tiny_checkpoint), str(tiny_checkpoint), "--examples", str(ex.parent), "--size", "64",
                       "--out", str(out)]) == 0
    from dfrec.io import read_image

    img = read_image(out)
    assert img.shape == (64, 64 * (3 + 2 * 2), 3)
    true_target = bench.figure([], [ex], size=64)[:, -64:]  # no model: the forgery is not even read
    assert np.abs(img[:, -64:].astype(int) - true_target.astype(int)).max() <= 1
    # the same model twice gives the same tiles; its recovered target differs from the forgery
    assert np.array_equal(img[:, 64:192], img[:, 192:320])
    assert np.abs(img[:, 128:192].astype(int) - img[:, :64].astype(int)).mean() > 1
