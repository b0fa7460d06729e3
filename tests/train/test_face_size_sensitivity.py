"""benchmarks/face_size_sensitivity.py on real held-out LFW swaps and the bundled model: each
forgery is shrunk to the eye distance asked for, found again by ``dfrec recover``'s detector
(its landmarks measure that distance), and scored against the largest size on the same forgeries."""

from __future__ import annotations

import json
import math

from repo_scripts import load_script


def test_face_size_rows(lfw_cache, capsys):
    bench = load_script("benchmarks/face_size_sensitivity.py")
    assert bench.main(["--cache", str(lfw_cache), "--n", "8", "--eyes", "40,14", "--threads", "1", "--json"]) == 0
    rows = {r["eyes_px"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {40.0, 14.0}
    for eyes, r in rows.items():
        assert r["n"] == 8 and r["found"] >= 6
        assert abs(r["eyes_measured_px"] - eyes) < 0.15 * eyes  # the picture holds the face at that size
        assert all(-1 <= r[f"idsim_{k}"] <= 1 for k in ("target", "source", "none"))
    assert "idsim_target_diff" not in rows[40.0]  # the reference size
    assert all(math.isfinite(rows[14.0][f"idsim_{k}_diff"]) for k in ("target", "source", "none"))
