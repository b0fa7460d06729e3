"""benchmarks/face_size_sensitivity.py on real held-out LFW swaps and reals and the bundled model:
each face is shrunk to the eye distance asked for, found again by ``dfrec recover``'s detector (its
landmarks measure that distance), scored against the largest size on the same faces, and, with two
interpolations of the alignment's enlargement, against the first at the same size. Interpolations
go by the names reports record (``lanczos4``, ``bilinear``); the option's older words still work."""

from __future__ import annotations

import json
import math

from repo_scripts import load_script


def test_face_size_rows(lfw_cache, capsys):
    import dfrec.faces.align as align

    before = align.ENLARGE_INTERPOLATION
    bench = load_script("benchmarks/face_size_sensitivity.py")
    assert bench.main(["--cache", str(lfw_cache), "--n", "8", "--eyes", "40,14", "--interpolation", "lanczos4,linear",
                       "--threads", "1", "--json"]) == 0
    assert align.ENLARGE_INTERPOLATION == before  # the benchmark puts dfrec's interpolation back
    rows = {(r["set"], r["interpolation"], r["eyes_px"]): r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {(s, i, e) for s in ("swap", "real") for i in ("lanczos4", "bilinear") for e in (40.0, 14.0)}
    for (kind, interp, eyes), r in rows.items():
        assert r["n"] == 8 and r["found"] >= 6
        assert abs(r["eyes_measured_px"] - eyes) < 0.15 * eyes  # the picture holds the face at that size
        assert all(-1 <= r[f"idsim_{k}"] <= 1 for k in ("target", "source", "none"))
        assert 0 <= r["called_fake"] <= 1
        assert ("idsim_target_diff" in r) == (eyes != 40.0)  # paired with the reference size
        assert ("idsim_target_diff_vs_ref" in r) == (interp == "bilinear")  # paired with the first
    assert rows["swap", "lanczos4", 40.0]["called_fake"] > 0.5  # a swap at the training size is called one
    assert rows["real", "lanczos4", 40.0]["idsim_none"] > 0.95  # a real face is its own "true target"
    assert all(math.isfinite(rows["swap", "bilinear", 14.0][f"idsim_{k}_diff{s}"])
               for k in ("target", "source", "none") for s in ("", "_vs_ref"))
