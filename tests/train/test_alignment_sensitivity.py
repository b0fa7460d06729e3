"""benchmarks/alignment_sensitivity.py on real held-out LFW swaps and the bundled model: a shift
of 0 px changes nothing (the wrapper moves the faces back exactly), real shifts are scored."""

from __future__ import annotations

import json
import math

from repo_scripts import load_script


def test_alignment_sensitivity_rows(lfw_cache, capsys):
    bench = load_script("benchmarks/alignment_sensitivity.py")
    assert bench.main(["--cache", str(lfw_cache), "--n", "8", "--shifts", "0,8", "--threads", "1", "--json"]) == 0
    rows = {r["shift"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"none", "0 px down+right", "0 px up", "8 px down+right", "8 px up"}
    for k in ("idsim_target", "idsim_source", "verif_target"):
        assert rows["0 px down+right"][k] == rows["none"][k] and rows["0 px down+right"][f"{k}_diff"] == 0.0
    for r in (rows["8 px down+right"], rows["8 px up"]):
        assert all(math.isfinite(r[k]) for k in ("idsim_target", "idsim_target_diff", "idsim_source_diff"))
        assert r["idsim_target"] != rows["none"]["idsim_target"]  # the shifted crop is another input
