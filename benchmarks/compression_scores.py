"""The fake score after the whole picture is re-encoded (JPEG, WebP), through ``dfrec recover``'s path.

Sites re-encode what is uploaded, as JPEG and more and more as WebP, and they re-encode the whole
picture after the face was pasted in: the codec's blocks sit on the picture's grid, and the crop the
model sees is resampled from them (the fake score's own degradation tables,
``benchmarks/real_photo_scores.py`` and the gate's, compress the aligned crop instead). Two sets
of swaps, made as ``examples/`` are (``scripts/make_examples.py``'s ``paste_swap``: the
synthesiser's landmark swap of the aligned crop, no augmentation, pasted back into the photo by
its own alpha):

- **LFW**: ``--n`` pairs of people of dfrec's LFW validation identities (``--lfw``, the LFW
  folder), each swap pasted into the target's own 250 px photo; the target photos as they are are
  the reals.
- **outside LFW**: every swap among the untouched photos at hand, ``.cache/fixtures`` (fetched by
  ``scripts/setup.sh``): the ``face_recognition`` portraits of Barack Obama (three) and Joe Biden
  and scikit-image's astronaut as targets, cut around the face and shrunk to 360 px as the
  examples are; those five and the ``insightface`` group photo's faces as sources (never the
  target's own person); the five portraits are the reals.

Each picture as it is, then after one JPEG or WebP round trip at quality 90, 70, 50 and 30
(``--codecs``, ``--qualities``); the face scored is the one found where the swap was pasted. Per
set, codec and quality: swaps called swapped (score > ``--threshold``), reals called swapped, the
swaps' mean score, and the AUC of swaps against reals (the chance that a swap scores above a real,
whatever the threshold). ``--at crop`` makes each round trip on the aligned crop instead (the face
found in the clean picture, aligned, then encoded): what the training chain's ``jpeg_prob`` does,
so the two tables tell what encoding the whole picture adds.

Usage::

    python benchmarks/compression_scores.py [--checkpoint DIR] [--n 40] [--sets lfw,outside] [--json F] \
        [--codecs jpeg,webp] [--qualities 90,70,50,30] [--asset src/dfrec/assets/CODEC_fake_score.json]

``--asset`` (with one codec) writes the per-quality rows of the LFW set that ``dfrec recover``'s
``jpeg_compressed`` or ``webp_compressed`` caveat quotes (:data:`ASSET_COMMANDS` are the full
commands; rerun them whenever the bundled model changes: ``tests/test_assets.py`` checks the
weights they name).

About 3 s per LFW pair and 2.5 minutes for the outside set on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))
INSIGHTFACE = ROOT / ".cache" / "fixtures" / "insightface" / "t1.jpg"

from dfrec.results import LOSSY_CODECS, VIDEO_CODECS  # noqa: E402  (light: numpy, Pillow)

#: the round trips each picture goes through, besides none (by default; "h264" and "hevc" too on
#: request: a short x264 / x265 clip of the picture at each CRF, ``video_clip.VideoRoundTrip``, which
#: needs PyAV)
CODECS = ("jpeg", "webp")
ALL_CODECS = tuple(LOSSY_CODECS)
QUALITIES = (90, 70, 50, 30)
#: the portraits of the outside set: photo name (scripts/make_examples.py) -> person
OUTSIDE_PEOPLE = {"obama": "Obama", "obama2": "Obama", "obama3": "Obama", "biden": "Biden", "astronaut": "Collins"}


def codec_name(codec: str) -> str:
    """How round trips and tables name ``codec``: "JPEG", "WebP", "H.264", "HEVC" (as the caveats do)."""
    return LOSSY_CODECS[codec]


def finest_first(per_quality: dict[str, dict], codec: str) -> dict[str, dict]:
    """An asset's rows per quality in order, finest first: qualities descending, a video codec's
    CRFs (``VIDEO_CODECS``) ascending."""
    return dict(sorted(per_quality.items(), key=lambda kv: int(kv[0]) if codec in VIDEO_CODECS else -int(kv[0])))


class HeifRoundTrip:
    """``f(picture (H, W, 3) uint8 RGB) -> picture``: saved as HEIC (``codec`` "heic": libheif's x265
    through pillow-heif) or AVIF ("avif": Pillow's libavif) at ``quality`` (1-100; the libraries'
    defaults otherwise: 4:2:0) and decoded again; ``qps`` collects each save's quantiser as ``dfrec
    recover`` reads it from the file (:func:`dfrec.heif.read_heif_encoding`: QP, AV1 base_q_idx)."""

    #: codec -> what its saves' ``qp`` is, and the headers it is read from
    QUANTISER = {"heic": ("QP", "HEVC slice"), "avif": ("base_q_idx", "AV1 frame")}

    def __init__(self, codec: str, quality: int) -> None:
        self.codec, self.quality, self.qps = codec, int(quality), []

    def __call__(self, picture):
        import io
        import tempfile

        import numpy as np
        from PIL import Image

        from dfrec.heif import read_heif_encoding
        from dfrec.io import enable_heif

        if self.codec == "heic" and not enable_heif():
            raise SystemExit("the HEIC round trips need pillow-heif: pip install pillow-heif")
        buf = io.BytesIO()
        Image.fromarray(picture).save(buf, format="HEIF" if self.codec == "heic" else "AVIF", quality=self.quality)
        with tempfile.NamedTemporaryFile(suffix="." + self.codec) as f:
            f.write(buf.getvalue())
            f.flush()
            encoding = read_heif_encoding(f.name)
        if encoding is None:
            raise RuntimeError(f"{self.codec} at quality {self.quality}: its quantiser could not be read")
        self.qps.append(encoding["qp"])
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            return np.asarray(img.convert("RGB"))


def round_trips(codecs=CODECS, qualities=QUALITIES) -> dict[str, object]:
    """name -> ``f(picture (H, W, 3) uint8 RGB) -> picture``: "as it is", then each codec at each quality
    (for a video codec, "h264" or "hevc", a CRF: a :class:`video_clip.VideoRoundTrip`, whose ``qps``
    collect the clips' QPs)."""
    from dfrec.data.synth.augment import compress

    out: dict[str, object] = {"as it is": lambda a: a}
    for codec in codecs:
        for q in qualities:
            if codec in VIDEO_CODECS:
                from video_clip import VideoRoundTrip

                out[f"{codec_name(codec)} {q}"] = VideoRoundTrip(codec, q)
            elif codec in ("heic", "avif"):
                out[f"{codec_name(codec)} {q}"] = HeifRoundTrip(codec, q)
            else:
                out[f"{codec_name(codec)} {q}"] = lambda a, c=codec, q=q: compress(a, q, c)
    return out


def quantiser_name(codec: str) -> str:
    """What a round trip's ``qp`` is for ``codec``: "slice QP", "base_q_idx" (a video codec's, as
    :data:`video_clip.QUANTISER` names it) or "QP" (HEIC's; :attr:`HeifRoundTrip.QUANTISER`)."""
    from video_clip import QUANTISER

    return QUANTISER.get(codec) or HeifRoundTrip.QUANTISER.get(codec, ("QP",))[0]


def quantiser_note(row: dict) -> str:
    """``" (QP 30)"`` or ``" (base_q_idx 155)"``: the median quantiser of a video (or HEIC, AVIF) round
    trip's table row (:func:`quantiser_name` of the row's codec); ``""`` for none."""
    if "qp" not in row:
        return ""
    codec = next((c for c, name in LOSSY_CODECS.items() if row["round_trip"].startswith(name + " ")), None)
    return f" ({quantiser_name(codec).replace('slice QP', 'QP')} {row['qp']})"


def clip_qp(fn) -> float | None:
    """The median QP of the clips a round trip ``fn`` made since its ``qps`` were last cleared (None:
    not an H.264 round trip, or none made)."""
    import numpy as np

    qps = getattr(fn, "qps", None)
    return round(float(np.median(qps)), 1) if qps else None


def _aligned(photo, face, size: int):
    from dfrec.faces import align_face

    return align_face(photo, face.landmarks, size=size)


def _swap_picture(synth, photo, target_face, source_crop, size: int, seed: int, who: tuple[str, str]):
    """``photo`` with ``source_crop``'s inner face swapped onto ``target_face`` (a detection in it)."""
    from dfrec.data.synth import FaceCrop
    from make_examples import paste_swap

    at = _aligned(photo, target_face, size)
    sample = synth(FaceCrop(at.image, at.landmarks, identity=who[0], key=who[0]),
                   FaceCrop(source_crop.image, source_crop.landmarks, identity=who[1], key=who[1]),
                   kind="swap", rng=seed)
    return paste_swap(photo, sample, at.matrix)


def lfw_pictures(lfw: Path, n: int, size: int, seed: int = 0) -> dict[str, list]:
    """``{"swap": [(picture, box)], "real": [(picture, box)]}``: ``n`` swaps between two people of
    dfrec's LFW validation identities (a photo of each drawn at random), pasted into the target's
    photo, and those target photos; ``box`` the target face's (x0, y0, x1, y1) in the picture."""
    import numpy as np

    from dfrec.data.cache import choose_face
    from dfrec.data.datasets import load_split
    from dfrec.data.synth import SynthConfig, Synthesizer
    from dfrec.faces import detect_faces
    from dfrec.io import read_image

    root = lfw / "images_deepfunneled"
    if not root.is_dir():
        sys.exit(f"{root}: no such folder (--lfw names the LFW folder)")
    people = [p for p in sorted(load_split()["val"]) if (root / p).is_dir()]
    rng = np.random.default_rng(seed)
    synth = Synthesizer(SynthConfig(size=size), augment=False)
    out: dict[str, list] = {"swap": [], "real": []}
    tries = 0
    while len(out["swap"]) < n and tries < 20 * n:
        tries += 1
        t, s = rng.choice(len(people), size=2, replace=False)
        photos = [sorted((root / people[k]).glob("*.jpg")) for k in (t, s)]
        if not photos[0] or not photos[1]:
            continue
        target, source = (read_image(p[int(rng.integers(len(p)))]) for p in photos)
        tf, sf = choose_face(detect_faces(target), target.shape), choose_face(detect_faces(source), source.shape)
        if tf is None or sf is None:
            continue
        who = (people[t], people[s])
        pic = _swap_picture(synth, target, tf, _aligned(source, sf, size), size, len(out["swap"]), who)
        out["swap"].append((pic, np.asarray(tf.box, float)))
        out["real"].append((target, np.asarray(tf.box, float)))
    return out


def outside_pictures(size: int, max_side: int = 360) -> dict[str, list]:
    """``{"swap": [(picture, box)], "real": [(picture, box)]}`` from the untouched photos at hand
    (see the module docstring); exits with a hint when the fixtures are missing."""
    import numpy as np

    from dfrec.data.synth import SynthConfig, Synthesizer
    from dfrec.faces import detect_faces
    from dfrec.io import read_image
    from make_examples import FIXTURES, frame_face, load, shrink

    if not (FIXTURES / "biden.jpg").exists() or not INSIGHTFACE.exists():
        sys.exit("fixtures missing under .cache/fixtures: run python scripts/fetch_fixtures.py (scripts/setup.sh does)")

    def largest(photo):
        return max(detect_faces(photo), key=lambda f: f.area)

    sources = {}
    for name, person in OUTSIDE_PEOPLE.items():
        photo = load(name)
        sources[name] = (person, _aligned(photo, largest(photo), size))
    group = read_image(INSIGHTFACE)
    for k, face in enumerate(detect_faces(group)):
        sources[f"insightface t1, face {k + 1}"] = (f"t1 face {k + 1}", _aligned(group, face, size))
    synth = Synthesizer(SynthConfig(size=size), augment=False)
    out: dict[str, list] = {"swap": [], "real": []}
    for name, person in OUTSIDE_PEOPLE.items():
        photo = shrink(frame_face(load(name)), max_side)
        face = largest(photo)
        box = np.asarray(face.box, float)
        out["real"].append((photo, box))
        for other, (who, crop) in sources.items():
            if who != person:
                pic = _swap_picture(synth, photo, face, crop, size, len(out["swap"]) + 1, (person, who))
                out["swap"].append((pic, box))
    return out


def _overlapping(faces, box):
    """The one of ``faces`` (each with a ``box``) that overlaps ``box`` most, or None: none with IoU >= 0.3."""
    import numpy as np

    from dfrec.video import box_iou

    if not faces:
        return None
    iou = box_iou(np.stack([np.asarray(f.box, float) for f in faces]), box)[:, 0]
    best = int(iou.argmax())
    return faces[best] if iou[best] >= 0.3 else None


def score_at(recoverer, picture, box) -> float:
    """Fake score of the face ``recoverer`` finds in ``picture`` that overlaps ``box`` most (NaN: none
    with IoU >= 0.3)."""
    face = _overlapping(recoverer.recover(picture, paste=False), box)
    return float("nan") if face is None else float(face.score_fake)


def crop_score_at(recoverer, picture, box, trip) -> float:
    """Fake score of the face ``recoverer`` finds in ``picture`` that overlaps ``box`` most, its aligned
    crop put through ``trip`` (a round trip of :func:`round_trips`) before the model sees it; NaN as
    :func:`score_at`."""
    from dfrec.faces import align_face

    face = _overlapping(recoverer.detector.detect(picture), box)
    if face is None:
        return float("nan")
    crop = align_face(picture, face.landmarks, size=recoverer.image_size).image
    return float(recoverer.run_crops(trip(crop)[None])["score_fake"][0])


def score_table(recoverer, pictures: dict[str, list], threshold: float = 0.5, progress=None,
                trips: dict[str, object] | None = None, at: str = "picture") -> list[dict]:
    """One row per round trip (``trips``, default :func:`round_trips`): ``{"round_trip", "n_swaps",
    "swaps_caught", "swap_mean", "n_reals", "reals_called_swapped", "auc", "not_found", "scores"}``
    for ``pictures`` (from :func:`lfw_pictures` / :func:`outside_pictures`); ``scores``: ``{"swap":
    [...], "real": [...]}``, each picture's score in order (None: no face found there), so that two
    models' rows pair up picture by picture."""
    import numpy as np
    from identity_layer_auc import roc_auc

    rows = []
    for name, fn in (trips or round_trips()).items():
        if hasattr(fn, "qps"):
            fn.qps.clear()
        if at == "crop":
            s = {kind: np.array([crop_score_at(recoverer, p, box, fn) for p, box in items])
                 for kind, items in pictures.items()}
        else:
            s = {kind: np.array([score_at(recoverer, fn(p), box) for p, box in items]) for kind, items in pictures.items()}
        found = {kind: v[~np.isnan(v)] for kind, v in s.items()}
        rows.append({
            "round_trip": name, "n_swaps": len(found["swap"]),
            "swaps_caught": round(float((found["swap"] > threshold).mean()), 3) if len(found["swap"]) else None,
            "swap_mean": round(float(found["swap"].mean()), 3) if len(found["swap"]) else None,
            "n_reals": len(found["real"]),
            "reals_called_swapped": round(float((found["real"] > threshold).mean()), 3) if len(found["real"]) else None,
            "auc": (round(roc_auc(np.concatenate([found["swap"], found["real"]]),
                                  np.arange(len(found["swap"]) + len(found["real"])) < len(found["swap"])), 3)
                    if len(found["swap"]) and len(found["real"]) else None),
            "not_found": int(sum(np.isnan(v).sum() for v in s.values())),
            "scores": {kind: [None if np.isnan(x) else round(float(x), 4) for x in v] for kind, v in s.items()},
        })
        if (qp := clip_qp(fn)) is not None:
            rows[-1]["qp"] = qp  # the clips' median slice QP, as dfrec.h264 reads a video's
        if progress:
            progress(name)
    return rows


#: The commands that measure ``src/dfrec/assets/<codec>_fake_score.json`` (JPEG: about 25 min on 2
#: CPU cores; WebP: about 22 min; H.264 and HEVC: about 10 and 15 min).
ASSET_COMMANDS = {
    "jpeg": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs jpeg "
             "--qualities 95,90,85,80,75,70,65,60,55,50,40,30 --asset src/dfrec/assets/jpeg_fake_score.json "
             "--json docs/results/compression/DATE_bundled_jpeg_qualities.json"),
    "webp": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs webp "
             "--qualities 95,90,85,80,75,70,60,50,40,30 --asset src/dfrec/assets/webp_fake_score.json "
             "--json docs/results/compression/DATE_bundled_webp_qualities.json"),
    "h264": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs h264 "
             "--qualities 18,23,28,33,40,45 --asset src/dfrec/assets/h264_fake_score.json "
             "--json docs/results/compression/DATE_bundled_h264_crfs.json"),
    "hevc": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs hevc "
             "--qualities 18,23,28,33,40,45 --asset src/dfrec/assets/hevc_fake_score.json "
             "--json docs/results/compression/DATE_bundled_hevc_crfs.json"),
    "vp9": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs vp9 "
            "--qualities 15,24,31,40,50,60 --asset src/dfrec/assets/vp9_fake_score.json "
            "--json docs/results/compression/DATE_bundled_vp9_crfs.json"),
    "heic": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs heic "
             "--qualities 80,60,50,40,30,10 --asset src/dfrec/assets/heic_fake_score.json "
             "--json docs/results/compression/DATE_bundled_heic_qualities.json"),
    "avif": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs avif "
             "--qualities 90,75,60,50,30,10 --asset src/dfrec/assets/avif_fake_score.json "
             "--json docs/results/compression/DATE_bundled_avif_qualities.json"),
    "av1": ("python benchmarks/compression_scores.py --sets lfw --n 120 --codecs av1 "
            "--qualities 20,28,35,42,50,58 --asset src/dfrec/assets/av1_fake_score.json "
            "--json docs/results/compression/DATE_bundled_av1_crfs.json"),
}


def model_weights(checkpoint: str | None) -> dict[str, str]:
    """File name -> SHA-256 of the safetensors weights of ``checkpoint`` (None: the bundled model):
    what the caveat asset names as the model it was measured with."""
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.report.provenance import model_record

    files = model_record(checkpoint or DEFAULT_CHECKPOINT, dlib=[])["files"]
    return {f["path"]: f["sha256"] for f in files if f["path"].endswith(".safetensors")}


def repo_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as the asset records its tables)."""
    full = Path(path).resolve()
    return os.path.relpath(full, ROOT) if full.is_relative_to(ROOT) else str(path)


def parse_round_trip_options(ap: argparse.ArgumentParser, codecs: str, qualities: str) -> tuple[list[str], list[int]]:
    """``--codecs`` and ``--qualities`` as lists, or ``ap.error`` (exit 2) naming what is wrong. A video
    codec's "qualities" are CRFs, 0-51 (VP9 and AV1: 0-63; lower is finer)."""
    names = [c for c in codecs.split(",") if c]
    if not names or set(names) - set(ALL_CODECS):
        ap.error(f"--codecs {codecs!r}: a comma-separated choice of {', '.join(ALL_CODECS)}")
    try:
        values = [int(q) for q in qualities.split(",") if q]
    except ValueError:
        values = []
    if not values or not all(1 <= q <= 100 for q in values):
        ap.error(f"--qualities {qualities!r}: comma-separated integers in 1-100")
    video = set(names) & set(VIDEO_CODECS)
    if video:
        from video_clip import CRF_MAX

        top = min(CRF_MAX[c] for c in video)
        if max(values) > top:
            ap.error(f"--qualities {qualities!r}: a video codec's are CRFs, 0-{top} (--codecs {'/'.join(sorted(video))}; "
                     "h264 and hevc to 51, vp9 and av1 to 63)")
    return names, values


def caveat_asset(doc: dict, codec: str, checkpoint: str | None, measured: str, tables: str | None = None) -> dict:
    """What ``dfrec recover``'s ``<codec>_compressed`` caveat quotes
    (``dfrec.results.compression_measurement``), from a ``--json`` document ``doc`` of whole-picture
    round trips with ``codec`` ("jpeg" or "webp") on the LFW set: per quality, swaps caught, reals
    called swapped and AUC, with the model's weight hashes, how it was measured and ``tables``,
    where ``doc`` was written (relative to the repository)."""
    if doc.get("at", "picture") != "picture" or "lfw" not in doc.get("tables", {}):
        raise SystemExit("the asset needs whole-picture round trips (--at picture) of the lfw set")
    rows = {r["round_trip"]: r for r in doc["tables"]["lfw"]}
    keep = ("swaps_caught", "reals_called_swapped", "auc", "n_swaps", "n_reals", "qp")
    name = codec_name(codec)
    per_quality = {trip.split()[1]: {k: rows[trip][k] for k in keep if k in rows[trip]} for trip in rows
                   if trip.startswith(f"{name} ")}
    if "as it is" not in rows or not per_quality:
        raise SystemExit(f"the asset needs the pictures as they are and {name} round trips (--codecs {codec})")
    from video_clip import CLIP_FRAMES, ENCODERS

    heif = HeifRoundTrip.QUANTISER.get(codec)
    how = (f"after the whole picture is saved as {name} at each quality"
           + (f" (qp: the median {heif[0]} of the saves, as read from their {heif[1]} headers)" if heif else "")
           if codec not in VIDEO_CODECS else
           f"as the last frame of an {CLIP_FRAMES}-frame {name} clip of it panning, at each {ENCODERS[codec]} CRF "
           f"(qp: the clips' median {quantiser_name(codec)})")
    return {
        "what": ("dfrec recover's fake score on LFW validation swaps pasted into their target's photo and on the "
                 f"photos themselves, as they are and {how} "
                 f"(benchmarks/compression_scores.py); dfrec.results reads it for the {codec}_compressed caveat"),
        "codec": codec, "measured": measured, "command": ASSET_COMMANDS[codec], "tables": tables,
        "threshold": doc["threshold"], "model_weights": model_weights(checkpoint),
        "as_it_is": {k: rows["as it is"][k] for k in keep if k in rows["as it is"]},
        codec: finest_first(per_quality, codec),
    }


def print_table(tables: dict[str, list[dict]], threshold: float) -> None:
    print(f"| set | round trip | swaps | swaps caught (> {threshold}) | mean swap score | reals | reals called swapped "
          "| AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for set_name, rows in tables.items():
        for r in rows:
            print(f"| {set_name} | {r['round_trip']}{quantiser_note(r)} | {r['n_swaps']} | {r['swaps_caught']} | {r['swap_mean']} | "
                  f"{r['n_reals']} | {r['reals_called_swapped']} | {r.get('auc')} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--sets", default="lfw,outside", help="lfw, outside or both (default)")
    ap.add_argument("--n", type=int, default=40, help="LFW swaps (and as many reals; default 40)")
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder with images_deepfunneled/")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the tables here")
    ap.add_argument("--asset", type=Path, default=None,
                    help="also write what the <codec>_compressed caveat quotes here (one codec; "
                         "src/dfrec/assets/<codec>_fake_score.json)")
    ap.add_argument("--at", choices=("picture", "crop"), default="picture",
                    help="encode the whole picture (default, as sites do) or the aligned crop (as training does)")
    ap.add_argument("--codecs", default=",".join(CODECS),
                    help=f"round-trip codecs, of {','.join(ALL_CODECS)} (default {','.join(CODECS)})")
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)),
                    help=f"round-trip qualities, 1-100, or CRFs, 0-51, for h264 and hevc (vp9, av1: 0-63) (default {','.join(map(str, QUALITIES))})")
    a = ap.parse_args(argv)
    names = [s for s in a.sets.split(",") if s]
    if not names or set(names) - {"lfw", "outside"}:
        ap.error(f"--sets {a.sets!r}: lfw, outside or lfw,outside")
    codecs, qualities = parse_round_trip_options(ap, a.codecs, a.qualities)
    if a.asset and len(codecs) != 1:
        ap.error("--asset takes the rows of one codec: --codecs jpeg, webp, h264 or hevc")
    trips = round_trips(codecs, qualities)

    import torch

    from dfrec.recover import Recoverer

    torch.set_num_threads(a.threads)
    rec = Recoverer.from_pretrained(a.checkpoint, device="cpu")
    size = rec.image_size
    tables = {}
    for name in names:
        pictures = lfw_pictures(a.lfw, a.n, size) if name == "lfw" else outside_pictures(size)
        print(f"{name}: {len(pictures['swap'])} swaps, {len(pictures['real'])} reals", file=sys.stderr, flush=True)
        tables[name] = score_table(rec, pictures, a.threshold, trips=trips, at=a.at)
    print(f"model: {a.checkpoint or 'bundled'}; round trips of the {a.at}\n")
    print_table(tables, a.threshold)
    if a.json:
        from dfrec.io import write_json_atomic

        write_json_atomic(a.json, {"checkpoint": a.checkpoint, "threshold": a.threshold, "n": a.n, "at": a.at,
                                   "tables": tables})
    if a.asset:
        import datetime

        from dfrec.io import write_json_atomic

        doc = {"threshold": a.threshold, "at": a.at, "tables": tables}
        asset = caveat_asset(doc, codecs[0], a.checkpoint, datetime.date.today().isoformat(),
                             repo_path(a.json) if a.json else None)
        old = json.loads(a.asset.read_text()) if a.asset.is_file() else {}
        if old.get("recovery") and old.get("model_weights") == asset["model_weights"]:
            asset["recovery"] = old["recovery"]  # compression_recovery.py's rows, measured with these weights
        write_json_atomic(a.asset, asset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
