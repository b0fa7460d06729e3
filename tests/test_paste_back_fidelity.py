"""benchmarks/paste_back_fidelity.py on a real photo: a face cut to its crop and pasted straight
back returns closer to the photo with Lanczos-4 (dfrec's paste) than bilinear, and the bundled
model's target frame of an untouched, large face keeps more of the photo than pasting the whole
composed crop did, and its source frame more than pasting the SIRM's whole crop."""

from __future__ import annotations

from repo_scripts import load_script


def test_round_trip_and_target_frame_on_a_large_face(fixture_dir):
    from dfrec.recover import DEFAULT_CHECKPOINT, Recoverer

    bench = load_script("benchmarks/paste_back_fidelity.py")
    photo = [("obama2.jpg", fixture_dir / "obama2.jpg")]
    rows = {r["scale"]: r for r in bench.round_trip([1.0, 0.5], photo)}
    assert rows[1.0]["crop_scale"] < 0.7 and 0.7 <= rows[0.5]["crop_scale"] < 1.4
    for r in rows.values():
        assert r["lanczos4"] > r["bilinear"] and r["bilinear"] > 25  # the face comes back, closer with Lanczos
    assert rows[0.5]["lanczos4"] > rows[0.5]["bilinear"] + 2
    rec = Recoverer.from_pretrained(DEFAULT_CHECKPOINT, device="cpu")
    (t,) = bench.through_recover(rec, [1.0], photo)
    assert t["composed"] and t["crop_scale"] < 0.7
    # the photo is the right target frame of an untouched face: now much closer to it
    assert t["psnr_new"] > t["psnr_old"] + 3 and t["changed_new"] < 0.5 * t["changed_old"]
    # and so is its source frame, now pasted by the region the SIRM saw, not with its guessed background
    assert t["psnr_source_new"] > t["psnr_source_old"] + 3
