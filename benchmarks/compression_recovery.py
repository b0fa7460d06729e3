"""The map and the recovered target after the whole picture is re-encoded, through ``dfrec recover``'s path.

``compression_scores.py`` asks whether the fake score survives a site's re-encoding; this asks the
same of what the score does not show: where the map puts the source, and whether the recovered
target is still more the true target than the forgery is. The same LFW set (``--n`` swaps of LFW
validation identities, each pasted into the target's own photo, ``compression_scores.lfw_pictures``);
the truth is the target's photo before the swap, aligned with the landmarks found in the clean swap
picture. For each picture as it is, then after each round trip (``--codecs``, ``--qualities``) of
the whole picture (``--at picture``) or of the aligned crop only (``--at crop``, what training's
``jpeg_prob`` does; ``both``, the default, runs the two):

- ``map_mean`` / ``map_area``: the map's mean over the crop and the share above 0.5;
- ``target`` / ``forgery``: IDSim of the recovered target and of the face as seen with the truth;
- ``lead``: ``target - forgery`` (what the recovery adds), and per round trip its paired change
  against the picture as it is (mean ± s.e., z): the two are the same swaps;
- ``score``: the mean fake score.

Usage::

    python benchmarks/compression_recovery.py [--checkpoint DIR] [--n 120] [--qualities 95,85,75,60] \\
        [--codecs jpeg] [--at both] [--json F] [--asset src/dfrec/assets/jpeg_fake_score.json]

``--asset`` adds the whole-picture rows of the asset's codec to the asset ``dfrec recover``'s
``jpeg_compressed`` or ``webp_compressed`` caveat quotes (:data:`ASSET_COMMANDS`; after
``compression_scores.py``'s, for the same weights).

About 1 s per swap and round trip on 2 CPU cores (120 swaps, 7 round trips: 14 min).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

from compression_scores import (  # noqa: E402
    DEFAULT_LFW,
    VIDEO_CODECS,
    HeifRoundTrip,
    _overlapping,
    clip_qp,
    codec_name,
    finest_first,
    lfw_pictures,
    model_weights,
    parse_round_trip_options,
    quantiser_name,
    quantiser_note,
    repo_path,
    round_trips,
)


def trips(codecs: list[str], qualities: list[int], at: str) -> list[tuple[str, str, object]]:
    """``(name, where, f(image) -> image)``: the picture as it is, then each codec and quality of
    ``compression_scores.round_trips`` on the whole picture and/or the aligned crop (``at``: picture,
    crop or both; a crop's round trip named with ", crop")."""
    lossy = [(name, fn) for name, fn in round_trips(codecs, qualities).items() if name != "as it is"]
    out: list[tuple[str, str, object]] = [("as it is", "picture", None)]
    for where in ("picture", "crop") if at == "both" else (at,):
        out += [(name + (", crop" if where == "crop" else ""), where, fn) for name, fn in lossy]
    return out


def measure(recoverer, pictures: dict[str, list], round_trips, progress=print) -> dict[str, dict]:
    """Per round trip: the per-swap ``map_mean``, ``map_area``, ``target``, ``forgery``, ``lead`` and
    ``score`` (lists in the order of ``pictures["swap"]``; swaps whose face is not found in the clean
    picture are left out of every round trip, and one lost after a round trip counts as no recovery:
    map 0, lead 0, score 0)."""
    import numpy as np

    from dfrec.faces import align_face
    from dfrec.faces.identity import idsim
    from dfrec.io import to_uint8

    size = recoverer.image_size
    cases = []
    for (swap, box), (photo, _) in zip(pictures["swap"], pictures["real"]):
        face = _overlapping(recoverer.detector.detect(swap), box)
        if face is not None:
            cases.append((swap, box, face, align_face(photo, face.landmarks, size=size).image))
    out = {}
    t0 = time.time()
    for name, where, fn in round_trips:
        rows = {k: [] for k in ("map_mean", "map_area", "target", "forgery", "lead", "score")}
        if hasattr(fn, "qps"):
            fn.qps.clear()
        for swap, box, face, truth in cases:
            if where == "picture":
                found = _overlapping(recoverer.recover(swap if fn is None else fn(swap), paste=False), box)
                got = None if found is None else (found.map, found.target, found.forgery, found.score_fake)
            else:
                crop = fn(align_face(swap, face.landmarks, size=size).image)
                r = recoverer.run_crops(crop[None])
                target = to_uint8(r["target"][0].permute(1, 2, 0).numpy())
                got = (r["map"][0, 0].numpy(), target, crop, float(r["score_fake"][0]))
            if got is None:
                emb = recoverer.run_crops(np.stack([truth, align_face(swap, face.landmarks, size=size).image]))["emb_forgery"]
                base = float(idsim(emb[1], emb[0]))
                vals = (0.0, 0.0, base, base, 0.0, 0.0)
            else:
                mp, target, forgery, score = got
                emb = recoverer.run_crops(np.stack([truth, target, forgery]))["emb_forgery"]
                t, f = float(idsim(emb[1], emb[0])), float(idsim(emb[2], emb[0]))
                vals = (float(mp.mean()), float((mp > 0.5).mean()), t, f, t - f, float(score))
            for k, v in zip(rows, vals):
                rows[k].append(round(v, 5))
        if (qp := clip_qp(fn)) is not None:
            rows["qp"] = qp  # a video round trip: its clips' median quantiser (slice QP; VP9 base_q_idx)
        out[name] = rows
        if progress:
            progress(f"{name}: {time.time() - t0:.0f} s")
    return out


def summary(per_trip: dict[str, dict]) -> list[dict]:
    """One row per round trip: means, the lead's s.e., and its paired change against "as it is"."""
    import numpy as np

    base = np.array(per_trip["as it is"]["lead"])
    rows = []
    for name, r in per_trip.items():
        lead = np.array(r["lead"])
        n = len(lead)
        diff = lead - base
        se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 and name != "as it is" else float("nan")
        rows.append({"round_trip": name, "n": n, "map_mean": round(float(np.mean(r["map_mean"])), 4),
                     "map_area": round(float(np.mean(r["map_area"])), 4),
                     "target": round(float(np.mean(r["target"])), 4), "forgery": round(float(np.mean(r["forgery"])), 4),
                     "lead": round(float(lead.mean()), 4), "lead_se": round(float(lead.std(ddof=1) / np.sqrt(n)), 4),
                     "lead_change": None if name == "as it is" else round(float(diff.mean()), 4),
                     "lead_change_se": None if name == "as it is" else round(se, 4),
                     "score": round(float(np.mean(r["score"])), 4)})
        if "qp" in r:
            rows[-1]["qp"] = r["qp"]
    return rows


#: The commands that add the recovery rows to ``src/dfrec/assets/<codec>_fake_score.json`` (after
#: ``compression_scores.py``'s ``ASSET_COMMANDS`` wrote it for the same weights; JPEG about 18 min on
#: 2 CPU cores, WebP about 16, H.264 and HEVC about 11 and 14).
ASSET_COMMANDS = {
    "jpeg": ("python benchmarks/compression_recovery.py --n 120 --qualities 95,85,75,60,40 --at both "
             "--asset src/dfrec/assets/jpeg_fake_score.json --json docs/results/compression/DATE_bundled_jpeg_recovery.json"),
    "webp": ("python benchmarks/compression_recovery.py --n 120 --codecs webp --qualities 95,90,80,70,60,50,40 "
             "--at picture --asset src/dfrec/assets/webp_fake_score.json "
             "--json docs/results/compression/DATE_bundled_webp_recovery.json"),
    "h264": ("python benchmarks/compression_recovery.py --n 120 --codecs h264 --qualities 18,23,28,33,40,45 "
             "--at picture --asset src/dfrec/assets/h264_fake_score.json "
             "--json docs/results/compression/DATE_bundled_h264_recovery.json"),
    "hevc": ("python benchmarks/compression_recovery.py --n 120 --codecs hevc --qualities 18,23,28,33,40,45 "
             "--at picture --asset src/dfrec/assets/hevc_fake_score.json "
             "--json docs/results/compression/DATE_bundled_hevc_recovery.json"),
    "vp9": ("python benchmarks/compression_recovery.py --n 120 --codecs vp9 --qualities 15,24,31,40,50,60 "
            "--at picture --asset src/dfrec/assets/vp9_fake_score.json "
            "--json docs/results/compression/DATE_bundled_vp9_recovery.json"),
    "heic": ("python benchmarks/compression_recovery.py --n 120 --codecs heic --qualities 80,60,50,40,30,10 "
             "--at picture --asset src/dfrec/assets/heic_fake_score.json "
             "--json docs/results/compression/DATE_bundled_heic_recovery.json"),
    "avif": ("python benchmarks/compression_recovery.py --n 120 --codecs avif --qualities 90,75,60,50,30,10 "
             "--at picture --asset src/dfrec/assets/avif_fake_score.json "
             "--json docs/results/compression/DATE_bundled_avif_recovery.json"),
    "av1": ("python benchmarks/compression_recovery.py --n 120 --codecs av1 --qualities 20,28,35,42,50,58 "
            "--at picture --asset src/dfrec/assets/av1_fake_score.json "
            "--json docs/results/compression/DATE_bundled_av1_recovery.json"),
}


def add_to_asset(asset: dict, rows: list[dict], weights: dict[str, str], measured: str, tables: str | None) -> dict:
    """``asset`` (a ``<codec>_compressed`` caveat's, written by ``compression_scores.py --asset``) with
    ``recovery``: the whole-picture rows of its codec from :func:`summary` (``map_area``, ``lead``,
    ``lead_change`` ...) per quality and as it is. Refuses (``SystemExit``) an asset measured with other
    weights (``weights``: file name -> SHA-256 of the model measured here)."""
    codec = asset.get("codec", "jpeg")  # assets from before WebP hold JPEG rows
    if asset.get("model_weights") != weights:
        raise SystemExit("the asset was measured with other weights: rerun compression_scores.py's ASSET_COMMANDS first")
    keep = ("n", "map_area", "target", "forgery", "lead", "lead_change", "lead_change_se", "qp")
    by = {r["round_trip"]: r for r in rows}
    name = codec_name(codec)
    per_quality = {trip.split()[1]: {k: by[trip][k] for k in keep if k in by[trip]} for trip in by
                   if trip.startswith(f"{name} ") and not trip.endswith(", crop")}
    if not per_quality:
        raise SystemExit(f"the asset needs whole-picture {name} round trips (--codecs {codec}, --at picture or both)")
    how = (f"after the whole picture is saved as {name}"
           + (f" (qp: the saves' median {quantiser_name(codec)})" if codec in HeifRoundTrip.QUANTISER else "")
           if codec not in VIDEO_CODECS else
           f"as the last frame of a short {name} clip of the picture at each CRF (qp: the clips' median "
           f"{quantiser_name(codec)})")
    return {**asset, "recovery": {
        "what": ("benchmarks/compression_recovery.py on the same kind of swaps: the map's share above 0.5 and the "
                 "recovered target's lead over the forgery (IDSim to the target's photo), as it is and "
                 f"{how}; lead_change paired against as it is"),
        "measured": measured, "command": ASSET_COMMANDS[codec], "tables": tables,
        "as_it_is": {k: by["as it is"][k] for k in keep if k in ("n", "map_area", "target", "forgery", "lead")},
        codec: finest_first(per_quality, codec),
    }}


def print_table(rows: list[dict]) -> None:
    print("| round trip | swaps | map mean | map > 0.5 | recovered target IDSim | the forgery's | lead | "
          "lead vs as it is (paired) | fake score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        change = "–" if r["lead_change"] is None else (
            f"{r['lead_change']:+.3f} ± {r['lead_change_se']:.3f} (z {r['lead_change'] / r['lead_change_se']:.1f})"
            if r["lead_change_se"] else f"{r['lead_change']:+.3f}")
        name = r["round_trip"] + quantiser_note(r)
        print(f"| {name} | {r['n']} | {r['map_mean']:.3f} | {r['map_area']:.3f} | {r['target']:.3f} | "
              f"{r['forgery']:.3f} | {r['lead']:+.3f} ± {r['lead_se']:.3f} | {change} | {r['score']:.3f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--n", type=int, default=120, help="LFW swaps (default 120)")
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder with images_deepfunneled/")
    ap.add_argument("--codecs", default="jpeg", help="jpeg, webp, h264, hevc, vp9, av1 or several, comma-separated (default jpeg)")
    ap.add_argument("--qualities", default="95,85,75,60",
                    help="comma-separated, 1-100; CRFs, 0-51, for h264 and hevc, 0-63 for vp9 and av1 (default 95,85,75,60)")
    ap.add_argument("--at", choices=("picture", "crop", "both"), default="both",
                    help="round trip of the whole picture, of the aligned crop, or both (default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows and per-swap values here")
    ap.add_argument("--asset", type=Path, default=None,
                    help="add the whole-picture rows of its codec to this caveat asset "
                         "(src/dfrec/assets/jpeg_fake_score.json or webp_fake_score.json, measured with the same weights)")
    a = ap.parse_args(argv)
    codecs, qualities = parse_round_trip_options(ap, a.codecs, a.qualities)
    if a.n < 2:
        ap.error("--n must be at least 2")

    import torch

    from dfrec.recover import Recoverer

    torch.set_num_threads(a.threads)
    rec = Recoverer.from_pretrained(a.checkpoint, device="cpu")
    pictures = lfw_pictures(a.lfw, a.n, rec.image_size)
    per_trip = measure(rec, pictures, trips(codecs, qualities, a.at),
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    rows = summary(per_trip)
    print(f"model: {a.checkpoint or 'bundled'}; {a.n} LFW validation swaps pasted into their photos\n")
    print_table(rows)
    if a.json:
        from dfrec.io import write_json_atomic

        write_json_atomic(a.json, {"checkpoint": a.checkpoint, "n": a.n, "rows": rows, "per_swap": per_trip})
    if a.asset:
        import datetime

        from dfrec.io import write_json_atomic

        asset = json.loads(a.asset.read_text())
        write_json_atomic(a.asset, add_to_asset(asset, rows, model_weights(a.checkpoint),
                                                datetime.date.today().isoformat(), repo_path(a.json) if a.json else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
