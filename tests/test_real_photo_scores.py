"""benchmarks/real_photo_scores.py: the untouched photos it scores, its degradations, and the
README's count of untouched faces outside LFW that the bundled model calls swapped."""

from __future__ import annotations

import json

import numpy as np

from needs import skip_or_fail
from repo_scripts import ROOT, load_script


def test_degradations_keep_the_crop_and_change_it_as_named():
    bench = load_script("benchmarks/real_photo_scores.py")
    rng = np.random.default_rng(0)
    crop = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    ops = bench.degradations()
    assert np.array_equal(ops["as they are"](crop), crop)
    for name, f in ops.items():
        out = f(crop)
        assert out.shape == crop.shape and out.dtype == np.uint8, name
        if name != "as they are":
            assert not np.array_equal(out, crop), name
    smooth = ops["Gaussian blur, sigma 1"](crop).astype(float)
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(crop.astype(float), axis=1)).mean()


def test_the_readme_count_of_untouched_faces_called_swapped(fixture_dir, capsys):
    bench = load_script("benchmarks/real_photo_scores.py")
    if not (bench.MORE_FIXTURES / "t1.jpg").exists():
        skip_or_fail(f"fixtures missing in {bench.MORE_FIXTURES}; run: python scripts/fetch_fixtures.py")
    assert bench.main(["--json", "--no-lfw"]) == 0  # as accept_model.py runs it
    doc = json.loads(capsys.readouterr().out)
    n, above = len(doc["faces"]), doc["above"]
    assert n == 19 and doc["lfw_reals"] == []  # 12 as before and the insightface photos' 7
    assert sum(r["photo"].startswith("insightface/") for r in doc["faces"]) == 7
    assert f"of the {n} untouched faces at hand outside LFW" in " ".join((ROOT / "README.md").read_text().split())
    verb = "scores" if above == 1 else "score"
    assert f"**{above} {verb} above 0.5**" in " ".join((ROOT / "README.md").read_text().split())


def test_round_trips_score_each_photo_re_encoded_whole(fixture_dir, monkeypatch):
    """``--round-trips``: every photo once more after each whole-picture re-encoding, its faces
    found again (the Obama portrait's one face under JPEG and WebP 90-30), scores in [0, 1]."""
    bench = load_script("benchmarks/real_photo_scores.py")
    photo = fixture_dir / "obama.jpg"
    monkeypatch.setattr(bench, "real_photos", lambda: [("obama.jpg", photo)])
    from dfrec.io import read_image
    from dfrec.recover import Recoverer

    rows = bench.round_trip_scores(Recoverer.from_pretrained(None, device="cpu"))
    assert [(r["round_trip"], r["face"]) for r in rows] == [(t, 1) for t in bench.picture_round_trips()]
    assert list(bench.picture_round_trips()) == [f"{c} {q}" for c in ("JPEG", "WebP") for q in (90, 70, 50, 30)]
    assert all(0.0 <= r["score_fake"] <= 1.0 and r["photo"] == "obama.jpg" for r in rows)
    big = read_image(photo)
    for fn in bench.picture_round_trips().values():
        out = fn(big)
        assert out.shape == big.shape and not np.array_equal(out, big)
