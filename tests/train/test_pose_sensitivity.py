"""benchmarks/pose_sensitivity.py on real held-out LFW swaps and the bundled model: every swap's
target pose is measured and lands in exactly one yaw bin and one pitch bin; the bins' leads
average to the overall lead."""

from __future__ import annotations

import json
import math

from repo_scripts import load_script


def test_pose_bins(lfw_cache, capsys):
    bench = load_script("benchmarks/pose_sensitivity.py")
    assert bench.main(["--cache", str(lfw_cache), "--n", "8", "--threads", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    (total,) = [r for r in rows if r["axis"] == "all"]
    assert total["n"] >= 6 and math.isfinite(total["lead"])
    for axis in ("yaw (either side)", "pitch"):
        bins = [r for r in rows if r["axis"] == axis]
        assert sum(r["n"] for r in bins) == total["n"]
        weighted = sum(r["lead"] * r["n"] for r in bins if r["n"]) / total["n"]
        assert math.isclose(weighted, total["lead"], abs_tol=1e-9)
        assert all(-1 <= r["idsim_target"] <= 1 for r in bins if r["n"])
