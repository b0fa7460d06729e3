"""LFW face verification (standard protocol) with the pipelines dfrec's users run.

Standard protocol (``pairs.txt``: 10 folds of 300 same + 300 different pairs): for each
fold, the L2-distance threshold with the best accuracy on the other 9 folds is applied to
it; the table shows mean accuracy +- standard deviation (numpy ``std``, ddof 0) over the
10 folds, and the accuracy of dlib's fixed 0.6 rule.

Detection per image: :class:`dfrec.faces.detect.FaceDetector` with ``--upsample`` (default 1,
the setting of :func:`dfrec.faces.detect_faces`, i.e. what ``dfrec verify``, ``recover`` and
``evaluate`` run: dlib HOG with one upsampling; on a miss HOG with one more, then dlib's CNN
detector), every face with its 68 landmarks. Each face is embedded two ways:

* dlib's 150 px chip (``get_face_chip``, padding 0.25) through
  :class:`dfrec.faces.identity.IdentityNet` — what ``dfrec verify`` does;
* the 224 aligned crop (:func:`dfrec.faces.align_face`) through
  :class:`dfrec.faces.identity.IdentityEncoder` (the chip resampled out of the crop) — what
  ``dfrec recover`` and ``dfrec evaluate`` do;

each also as the mean with its mirror image's embedding (``--flip`` in ``dfrec verify``).
Rows: the users' pipelines (the **largest** face, as ``verify`` and ``recover`` pick), then
the LFW-labelling variants (the face nearest the image centre, LFW's labelled person), with
and without the CNN fallback. Images where no detector finds a face get landmarks from the
shape predictor on a fixed box: the median box of all HOG detections (LFW deep-funneled
images are aligned, so the face sits there).

``--dlib-anchor`` adds dlib's own pipeline on the same pairs: ``dlib.get_frontal_face_detector()``
(one upsampling), the 68-point predictor, ``face_recognition_model_v1.compute_face_descriptor``
(dlib's own chip, no jitter), the face nearest the centre, the same median-box fallback.

Embeddings are cached under ``.cache/lfw_verification/`` (per image, all detected faces),
so a rerun only evaluates. The identity mean used by IDSim is built by
``python scripts/build_identity_mean.py`` (``--make-mean`` runs it first).

Usage: ``python benchmarks/lfw_verification.py [--lfw DIR] [--workers 2] [--dlib-anchor] [--json OUT]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))
CACHE = ROOT / ".cache" / "lfw_verification"
CHUNK = 128
DETECTORS = ("none", "hog", "hog+up", "cnn")
EMB_KEYS = ("emb", "emb_flip", "emb_crop", "emb_crop_flip")


# ---------------------------------------------------------------------------------------
# protocol


def read_pairs(path: Path) -> list[list[tuple[str, str, bool]]]:
    """pairs.txt -> 10 folds of (image A, image B, same) with paths relative to images_deepfunneled."""
    lines = path.read_text().split("\n")
    n_folds, n = (int(v) for v in lines[0].split())
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    if len(rows) != 2 * n * n_folds:
        raise SystemExit(f"{path}: expected {2 * n * n_folds} pairs, found {len(rows)}")

    def img(name: str, k: str) -> str:
        return f"{name}/{name}_{int(k):04d}.jpg"

    folds = []
    for f in range(n_folds):
        fold = []
        for r in rows[2 * n * f : 2 * n * (f + 1)]:
            if len(r) == 3:
                fold.append((img(r[0], r[1]), img(r[0], r[2]), True))
            else:
                fold.append((img(r[0], r[1]), img(r[2], r[3]), False))
        folds.append(fold)
    return folds


def best_threshold(scores: np.ndarray, same: np.ndarray, higher_is_same: bool = False) -> float:
    """Threshold with the best accuracy for the rule ``score < t`` (or ``> t``) => same.

    Candidates are midpoints between consecutive sorted scores (and the two ends).
    """
    s = -scores if higher_is_same else scores
    order = np.argsort(s, kind="stable")
    s_sorted, y = s[order], same[order].astype(np.int64)
    # cut after position i (0..n): predicted same = first i items
    tp = np.concatenate([[0], np.cumsum(y)])
    fp_neg = np.concatenate([[0], np.cumsum(1 - y)])  # different pairs predicted same
    correct = tp + ((1 - y).sum() - fp_neg)
    i = int(np.argmax(correct))
    finite = s_sorted[np.isfinite(s_sorted)]
    if i == 0:
        t = (finite[0] - 1.0) if finite.size else 0.0
    elif i == len(s_sorted) or not np.isfinite(s_sorted[i]):
        t = (finite[-1] + 1.0) if finite.size else 0.0
    else:
        t = 0.5 * (s_sorted[i - 1] + s_sorted[i])
    return float(-t if higher_is_same else t)


def ten_fold(scores: list[np.ndarray], same: list[np.ndarray], higher_is_same: bool = False):
    """Per-fold accuracy with the threshold fitted on the other folds; returns (accs, thresholds)."""
    accs, ths = [], []
    for k in range(len(scores)):
        tr_s = np.concatenate([s for j, s in enumerate(scores) if j != k])
        tr_y = np.concatenate([y for j, y in enumerate(same) if j != k])
        t = best_threshold(tr_s, tr_y, higher_is_same)
        pred = scores[k] > t if higher_is_same else scores[k] < t
        accs.append(float((pred == same[k]).mean()))
        ths.append(t)
    return np.array(accs), np.array(ths)


# ---------------------------------------------------------------------------------------
# embedding (workers)

_W: dict = {}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    from dfrec.faces.detect import FaceDetector
    from dfrec.faces.identity import IdentityEncoder, get_identity_net

    _W["det"] = FaceDetector(upsample=_W.get("upsample", 1))  # all detectors, in order
    _W["net"] = get_identity_net("cpu")
    _W["enc"] = IdentityEncoder(net=_W["net"]).eval()


def _embed_faces(img, landmarks: list) -> dict[str, np.ndarray]:
    """Four (k, 128) embeddings of k faces: dlib chip, + flip, 224-crop IdentityEncoder, + flip."""
    import torch

    from dfrec.faces.align import align_face
    from dfrec.faces.identity import dlib_chip, embed_chips

    chips = [dlib_chip(img, lm) for lm in landmarks]
    both = embed_chips(chips + [np.ascontiguousarray(c[:, ::-1]) for c in chips], _W["net"])
    k = len(chips)
    crops = np.stack([align_face(img, lm, size=224).image for lm in landmarks])
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ec = _W["enc"].embed(torch.cat([x, torch.flip(x, dims=[3])])).numpy()
    return {"emb": both[:k], "emb_flip": (both[:k] + both[k:]) / 2, "emb_crop": ec[:k], "emb_crop_flip": (ec[:k] + ec[k:]) / 2}


def _embed_files(args: tuple[Path, list[str]]) -> dict:
    """Detect and embed every face of each image: arrays for one chunk."""
    from dfrec.io import read_image

    root, names = args
    det = _W["det"]
    rows: dict[str, list] = {"image": [], "detector": [], "box": [], **{k: [] for k in EMB_KEYS}}
    for i, name in enumerate(names):
        img = read_image(root / name)
        faces = det.detect(img)
        if not faces:
            rows["image"].append(i)
            rows["detector"].append(0)
            rows["box"].append(np.full(4, np.nan))
            for k in EMB_KEYS:
                rows[k].append(np.full(128, np.nan, np.float32))
            continue
        embs = _embed_faces(img, [f.landmarks for f in faces])
        for j, f in enumerate(faces):
            rows["image"].append(i)
            rows["detector"].append(DETECTORS.index(f.detector))
            rows["box"].append(np.asarray(f.box, np.float64))
            for k in EMB_KEYS:
                rows[k].append(embs[k][j])
    return {k: np.stack(v) if k in ("box", *EMB_KEYS) else np.asarray(v, np.int64) for k, v in rows.items()}


def _init_dlib_worker() -> None:
    import dlib

    from dfrec.faces.model_files import recognition_model_path, shape_predictor_68_path

    _W["dlib"] = (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shape_predictor_68_path())),
                  dlib.face_recognition_model_v1(str(recognition_model_path())))


def _dlib_files(args: tuple[Path, list[str]]) -> dict:
    """dlib's own pipeline: HOG (one upsampling), 68 landmarks, compute_face_descriptor, all faces."""
    from dfrec.io import read_image

    root, names = args
    hog, sp, rec = _W["dlib"]
    rows: dict[str, list] = {"image": [], "detector": [], "box": [], "emb": []}
    for i, name in enumerate(names):
        img = read_image(root / name)
        rects = hog(img, 1)
        if not len(rects):
            rows["image"].append(i)
            rows["detector"].append(0)
            rows["box"].append(np.full(4, np.nan))
            rows["emb"].append(np.full(128, np.nan, np.float32))
        for r in rects:
            rows["image"].append(i)
            rows["detector"].append(DETECTORS.index("hog"))
            rows["box"].append(np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64))
            rows["emb"].append(np.array(rec.compute_face_descriptor(img, sp(img, r)), np.float32))
    return {k: np.stack(v) if k in ("box", "emb") else np.asarray(v, np.int64) for k, v in rows.items()}


def embed_all(root: Path, names: list[str], cache_dir: Path, workers: int, tag: str,
              dlib_pipeline: bool = False) -> dict[str, dict]:
    """Per image name -> dict(detector (k,), box (k, 4), and (k, 128) embeddings) for its k faces
    (k = 1 with detector 'none' and NaNs when nothing was found). Cached in chunk files.
    ``dlib_pipeline``: dlib's own detector + descriptor (key ``emb`` only) instead of dfrec's."""
    from tqdm import tqdm

    init, work = (_init_dlib_worker, _dlib_files) if dlib_pipeline else (_init_worker, _embed_files)
    keys = ("emb",) if dlib_pipeline else EMB_KEYS
    cache_dir.mkdir(parents=True, exist_ok=True)
    chunks = [names[i : i + CHUNK] for i in range(0, len(names), CHUNK)]
    todo = []
    for ci, chunk in enumerate(chunks):
        f = cache_dir / f"{tag}-{ci:04d}.npz"
        if f.exists():
            with np.load(f) as z:
                if list(z["names"]) == chunk and all(k in z for k in keys):
                    continue
        todo.append(ci)
    if todo:
        bar = tqdm(total=sum(len(chunks[c]) for c in todo), desc=f"embedding {tag}", unit="img", file=sys.stderr)
        ctx = mp.get_context("fork")
        pool = ctx.Pool(workers, initializer=init) if workers > 1 else None
        try:
            if pool is None:
                init()
                it = map(work, [(root, chunks[c]) for c in todo])
            else:
                it = pool.imap(work, [(root, chunks[c]) for c in todo])
            for ci, res in zip(todo, it):
                from dfrec.io import atomic_path

                with atomic_path(cache_dir / f"{tag}-{ci:04d}.npz") as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, names=np.array(chunks[ci]), **res)
                bar.update(len(chunks[ci]))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
            bar.close()
    out: dict[str, dict] = {}
    for ci, chunk in enumerate(chunks):
        with np.load(cache_dir / f"{tag}-{ci:04d}.npz") as z:
            idx = z["image"]
            for i, name in enumerate(chunk):
                sel = idx == i
                out[name] = {k: z[k][sel] for k in ("detector", "box", *keys)}
    return out


def fixed_box_embeddings(root: Path, names: list[str], box: np.ndarray, dlib_pipeline: bool = False) -> dict[str, dict]:
    """Embeddings (same keys as the cache) from landmarks predicted on a fixed ``box``, for
    images where no detector found a face."""
    import dlib

    from dfrec.faces.model_files import shape_predictor_68_path
    from dfrec.io import read_image

    sp = dlib.shape_predictor(str(shape_predictor_68_path()))
    rect = dlib.rectangle(*[int(round(v)) for v in (box[0], box[1], box[2] - 1, box[3] - 1)])
    if dlib_pipeline:
        _init_dlib_worker()
    else:
        _init_worker()
    out = {}
    for name in names:
        img = read_image(root / name)
        shape = sp(img, rect)
        if dlib_pipeline:
            out[name] = {"emb": np.array(_W["dlib"][2].compute_face_descriptor(img, shape), np.float32)}
        else:
            lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
            out[name] = {k: v[0] for k, v in _embed_faces(img, [lm]).items()}
    return out


def choose_face(rec: dict, allowed: tuple[str, ...], how: str = "centre", image_size: float = 250.0) -> int | None:
    """Index of the face among faces from ``allowed`` detectors: nearest the image centre
    (``centre``, LFW's labelled person) or the ``largest`` box (what dfrec's commands pick)."""
    best, best_v = None, np.inf
    for i, (d, b) in enumerate(zip(rec["detector"], rec["box"])):
        if DETECTORS[d] not in allowed:
            continue
        if how == "largest":
            v = -float((b[2] - b[0]) * (b[3] - b[1]))
        else:
            v = float(np.linalg.norm(np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - image_size / 2))
        if v < best_v:
            best, best_v = i, v
    return best


ALL = ("hog", "hog+up", "cnn")
#: (label, detectors allowed, face choice, embedding key)
VARIANTS = [
    ("verify: largest face, dlib chip", ALL, "largest", "emb"),
    ("verify --flip", ALL, "largest", "emb_flip"),
    ("recover/evaluate: 224 crop encoder", ALL, "largest", "emb_crop"),
    ("centre face, HOG only", ("hog", "hog+up"), "centre", "emb"),
    ("centre face, HOG only + flip", ("hog", "hog+up"), "centre", "emb_flip"),
    ("centre face, HOG + CNN", ALL, "centre", "emb"),
    ("centre face, HOG + CNN + flip", ALL, "centre", "emb_flip"),
]


def evaluate_variant(label: str, folds, names, recs, fixed, allowed, how, key) -> dict:
    """Accuracy table row of one variant (L2 10-fold, the 0.6 rule, IDSim, distributions)."""
    import torch

    from dfrec.faces.identity import IDENTITY_MEAN_FILE, idsim

    emb, undetected = {}, []
    for n in names:
        i = choose_face(recs[n], allowed, how)
        if i is None:
            undetected.append(n)
            emb[n] = fixed[n][key]
        else:
            emb[n] = recs[n][key][i]
    und = set(undetected)
    dists, sims, cos, same = [], [], [], []
    for fold in folds:
        a = np.stack([emb[x] for x, _, _ in fold])
        b = np.stack([emb[y] for _, y, _ in fold])
        dists.append(np.linalg.norm(a - b, axis=1))
        sims.append(idsim(torch.from_numpy(a), torch.from_numpy(b)).numpy() if IDENTITY_MEAN_FILE.exists() else None)
        cos.append((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
        same.append(np.array([s for _, _, s in fold]))
    accs, ths = ten_fold(dists, same)
    fixed06 = np.array([((d < 0.6) == y).mean() for d, y in zip(dists, same)])
    all_y, all_d, all_c = np.concatenate(same), np.concatenate(dists), np.concatenate(cos)
    row = {
        "variant": label, "detectors": list(allowed), "face": how, "embedding": key,
        "accuracy_mean": float(accs.mean()), "accuracy_std": float(accs.std()),
        "fold_accuracies": accs.tolist(), "thresholds": ths.tolist(),
        "accuracy_at_0.6": float(fixed06.mean()),
        "undetected": len(undetected), "undetected_handling": "landmarks on the median HOG box",
        "pairs_with_undetected": int(sum(x in und or y in und for fold in folds for x, y, _ in fold)),
        "l2": {"same": _stats(all_d[all_y]), "different": _stats(all_d[~all_y])},
        "cosine": {"same": _stats(all_c[all_y]), "different": _stats(all_c[~all_y])},
    }
    if sims[0] is not None:
        sacc, sths = ten_fold(sims, same, higher_is_same=True)
        all_s = np.concatenate(sims)
        row["idsim"] = {"accuracy_mean": float(sacc.mean()), "accuracy_std": float(sacc.std()),
                        "threshold_mean": float(sths.mean()), "same": _stats(all_s[all_y]),
                        "different": _stats(all_s[~all_y])}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder with images_deepfunneled/ and pairs.txt")
    ap.add_argument("--workers", type=int, default=2, help="processes for detection + embedding (default 2)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="embedding cache folder")
    ap.add_argument("--make-mean", action="store_true",
                    help="(re)write src/dfrec/assets/identity_mean.npy first (scripts/build_identity_mean.py)")
    ap.add_argument("--upsample", type=int, default=1,
                    help="HOG upsamplings of the first detection pass (default 1, as dfrec's commands; on a miss "
                         "the detector retries with one more, then the CNN detector)")
    ap.add_argument("--dlib-anchor", action="store_true",
                    help="also run dlib's own pipeline (detector, predictor, compute_face_descriptor) on the pairs")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)

    from dfrec.io import write_json_atomic

    root = args.lfw / "images_deepfunneled"
    if not (args.lfw / "pairs.txt").exists() or not root.is_dir():
        print(f"LFW not found at {args.lfw} (needs pairs.txt and images_deepfunneled/)", file=sys.stderr)
        return 2
    folds = read_pairs(args.lfw / "pairs.txt")
    names = sorted({p for fold in folds for a, b, _ in fold for p in (a, b)})
    t0 = time.time()
    _W["upsample"] = args.upsample

    if args.make_mean:
        from dfrec.faces.identity_mean import write_identity_mean

        info = write_identity_mean(args.lfw)
        print(f"identity mean of {info['identities']} identities written (norm {info['norm']:.3f})", file=sys.stderr)

    recs = embed_all(root, names, args.cache, args.workers, f"pairs-up{args.upsample}")
    hog_boxes = [r["box"][i] for r in recs.values() if (i := choose_face(r, ("hog", "hog+up"))) is not None]
    median_box = np.median(np.stack(hog_boxes), axis=0)
    need_fixed = [n for n in names if choose_face(recs[n], ("hog", "hog+up")) is None]
    fixed = fixed_box_embeddings(root, need_fixed, median_box)
    results = [evaluate_variant(label, folds, names, recs, fixed, allowed, how, key)
               for label, allowed, how, key in VARIANTS]
    if args.dlib_anchor:
        drecs = embed_all(root, names, args.cache, args.workers, "pairs-dlib", dlib_pipeline=True)
        dneed = [n for n in names if choose_face(drecs[n], ("hog",)) is None]
        dfixed = fixed_box_embeddings(root, dneed, median_box, dlib_pipeline=True)
        results.append(evaluate_variant("dlib's own pipeline (anchor)", folds, names, drecs, dfixed, ("hog",),
                                        "centre", "emb"))

    print(f"\nLFW verification ({args.lfw / 'pairs.txt'}, {len(folds)} folds x {len(folds[0])} pairs, {len(names)} images), "
          f"dfrec detection (HOG upsample {args.upsample}, fallbacks) + PyTorch dlib ResNet")
    print(f"{'variant':36s} {'accuracy (10-fold)':>18s} {'@0.6':>7s} {'undetected':>10s} {'IDSim acc':>15s} {'IDSim thr':>9s}")
    for r in results:
        s = r.get("idsim")
        sacc = f"{100 * s['accuracy_mean']:.2f} ± {100 * s['accuracy_std']:.2f}" if s else "-"
        thr = f"{s['threshold_mean']:.3f}" if s else "-"
        print(f"{r['variant']:36s} {100 * r['accuracy_mean']:>9.2f} ± {100 * r['accuracy_std']:.2f} % "
              f"{100 * r['accuracy_at_0.6']:>6.2f} {r['undetected']:>10d} {sacc:>15s} {thr:>9s}")
    print(f"undetected images: landmarks predicted on the median HOG box {np.round(median_box, 1).tolist()} "
          f"(deep-funneled faces are centred); accuracy ± = numpy std over the 10 folds; "
          f"learned L2 thresholds {min(min(r['thresholds']) for r in results):.2f}-"
          f"{max(max(r['thresholds']) for r in results):.2f}")
    for r in results[:1] + results[2:3]:
        for k in ("l2", "cosine", "idsim"):
            st = r.get(k)
            if st:
                print(f"{k:7s} same {st['same']['mean']:.3f} ± {st['same']['std']:.3f} (5-95 %: "
                      f"{st['same']['p5']:.2f}-{st['same']['p95']:.2f})   different {st['different']['mean']:.3f} ± "
                      f"{st['different']['std']:.3f} (5-95 %: {st['different']['p5']:.2f}-{st['different']['p95']:.2f})"
                      f"   ({r['variant']})")
    print(f"time {time.time() - t0:.0f} s")
    if args.json:
        write_json_atomic(args.json, {"median_box": median_box.tolist(), "upsample": args.upsample, "variants": results})
    return 0


def _stats(x: np.ndarray) -> dict:
    return {"mean": float(np.mean(x)), "std": float(np.std(x)), "p5": float(np.percentile(x, 5)),
            "p50": float(np.median(x)), "p95": float(np.percentile(x, 95)), "n": int(x.size)}


if __name__ == "__main__":
    sys.exit(main())
