"""benchmarks/checkerboard_spectrum.py on real held-out LFW swaps and the bundled model: the
checkerboard it reports is the model's, and the binomial filter and ``antialias`` remove it."""

from __future__ import annotations

import json

from repo_scripts import load_script


def test_the_bundled_models_checkerboard_and_its_removal(lfw_cache, capsys):
    bench = load_script("benchmarks/checkerboard_spectrum.py")
    assert bench.main(["--cache", str(lfw_cache), "--n", "6", "--json"]) == 0
    rows = {r["images"]: r for r in json.loads(capsys.readouterr().out)}
    forgery, plain = rows["forgery"], rows["recovered (antialias off)"]
    blurred, on = rows["recovered, whole crop blurred (binomial 3x3)"], rows["recovered (antialias on)"]
    assert forgery["nyquist_power_vs_forgery"] == 1.0 and forgery["checker"] < 0.6
    # the recovered target carries far more power at Nyquist than the forgery it came from
    assert plain["checker"] > forgery["checker"] + 0.2 and plain["nyquist_power_vs_forgery"] > 10
    for row in (blurred, on):  # the binomial filter's response at Nyquist is zero
        assert row["checker"] < forgery["checker"] and row["nyquist_power_vs_forgery"] < 1
    assert plain["idsim_target_paired"] == 0.0 and rows["true target"]["idsim_target"] > 0.99
