"""Gallery search on LFW: calibrate the "likely the same person" threshold, and measure tracing.

``calibrate``: embed every photo of the LFW *validation* identities (dfrec's split file) the
way ``dfrec gallery add`` does, compare every pair, pick the threshold for the false-match
rate (default 1e-4 per comparison) and write ``src/dfrec/assets/gallery_threshold.json``.

``trace``: a gallery of *all* LFW photos (every identity, 5,749 people), and forgeries made
from LFW *test* identities (``dfrec evaluate``'s evaluation set: landmark face swaps, the
target's and the source's first photos). Each forgery goes through the model; its recovered
target and recovered source are searched in the gallery with the two photos the forgery was
made from excluded ("all LFW identities except the query photo"), and so are the forgery
itself (the None row: what an investigator without dfrec would search with) and the true
photos (the ceiling: how well one photo finds the same person's other photos). Prints a
Markdown table of top-1 / top-5 accuracy and how often the top candidate passed the threshold.

    python benchmarks/gallery_lfw.py calibrate --data .cache/lfw_index
    python benchmarks/gallery_lfw.py trace --data .cache/lfw_index --gallery out/lfw_gallery
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dfrec.data.faceset import FaceSet, open_faces  # noqa: E402
from dfrec.gallery.calibration import DEFAULT_FMR, THRESHOLD_FILE, calibrate  # noqa: E402
from dfrec.gallery.gallery import Gallery, GalleryEntry, to_space  # noqa: E402
from dfrec.gallery.ingest import thumbnail_jpeg  # noqa: E402


def encoder(device: str = "cpu"):
    from dfrec.faces.align import DEFAULT_MARGIN
    from dfrec.faces.identity import IdentityEncoder

    return IdentityEncoder(size=224, margin=DEFAULT_MARGIN).to(device).eval()


@torch.inference_mode()
def embed_crops(enc, crops: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(N, 224, 224, 3) uint8`` or ``(N, 3, 224, 224) uint8`` -> raw embeddings ``(N, 128)``."""
    x = torch.as_tensor(np.asarray(crops))
    if x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    return enc(x.float().div(255)).float().numpy()


def embed_faceset(faces: FaceSet, batch: int = 64, desc: str = "embedding") -> np.ndarray:
    from tqdm.auto import tqdm

    enc = encoder()
    out = []
    for a in tqdm(range(0, len(faces), batch), desc=desc, unit="batch"):
        out.append(embed_crops(enc, np.stack([faces.image(i) for i in range(a, min(a + batch, len(faces)))])))
    return np.concatenate(out)


def run_calibrate(args) -> int:
    from dfrec.data.datasets.lfw import lfw_faces

    faces = lfw_faces(open_faces(args.data), "val")
    t0 = time.time()
    emb = embed_faceset(faces, desc="val photos")
    cal = calibrate(to_space(emb), faces.identities, fmr=args.fmr)
    cal.update({
        "data": "LFW deep-funneled, validation identities of src/dfrec/data/splits/lfw.json (never trained or tested on)",
        "pipeline": "dfrec landmark cache crops (224 px, margin 0.6) -> IdentityEncoder -> centred unit vectors "
                    "(the same as dfrec gallery add)",
        "similarity": "IDSim (cosine of centred dlib embeddings), photo vs photo",
        "made_by": "python benchmarks/gallery_lfw.py calibrate",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    if not args.dry_run:
        from dfrec.io import write_json_atomic

        write_json_atomic(THRESHOLD_FILE, cal)
    print(json.dumps(cal, indent=2))
    print(f"\n{cal['photos']} photos of {cal['identities']} identities, {cal['genuine_pairs']:,} genuine and "
          f"{cal['impostor_pairs']:,} impostor pairs ({time.time() - t0:.0f} s)\n")
    print("| false-match rate (per comparison) | threshold (IDSim) | true-match rate |")
    print("|---|---|---|")
    for r in cal["table"]:
        print(f"| {r['fmr']:g} | {r['threshold']:.3f} | {r['tmr']:.1%} |")
    return 0


def build_lfw_gallery(faces: FaceSet, folder: Path, lfw_root: Path | None) -> Gallery:
    """A gallery of every face in ``faces`` (names = LFW identities), built once and reused."""
    from tqdm.auto import tqdm

    g = Gallery.open_or_create(folder, "flat")
    if len(g) >= len(faces):
        return g
    enc = encoder()
    batch = 128
    for a in tqdm(range(0, len(faces), batch), desc="gallery (all LFW)", unit="batch"):
        idx = list(range(a, min(a + batch, len(faces))))
        crops = np.stack([faces.image(i) for i in idx])
        embs = embed_crops(enc, crops)
        entries = []
        for i, crop, e in zip(idx, crops, embs):
            src = (lfw_root / faces.keys[i]) if lfw_root else None
            raw = src.read_bytes() if src is not None and src.is_file() else faces.crop_bytes(i)
            entries.append(GalleryEntry(name=faces.identities[i], source=faces.keys[i],
                                        sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw), embedding=e,
                                        thumbnail=thumbnail_jpeg(crop)))
        g.add(entries)
    return g


def run_trace(args) -> int:
    from dfrec.evaluation.testset import build_eval_set
    from dfrec.gallery.calibration import load_threshold
    from dfrec.recover import Recoverer

    t0 = time.time()
    faces = open_faces(args.data)
    lfw_root = Path(args.lfw) / "images_deepfunneled" if args.lfw else None
    g = build_lfw_gallery(faces, Path(args.gallery), lfw_root)
    print(f"gallery: {len(g)} photos of {len(g.persons())} people ({time.time() - t0:.0f} s)", flush=True)
    es = build_eval_set(args.data, split="test", limit=args.limit, kinds=("swap",), include_real=False,
                        seed=args.seed, progress=False)
    smp = es.samples
    n = len(smp)
    print(f"{n} forgeries of {len(es.people)} test identities", flush=True)

    # the photos each forgery was made from: found by their pixels among the person's gallery photos
    by_id = faces.by_identity()
    key_to_photo = dict(g._con.execute("SELECT source, id FROM photos").fetchall())

    def photo_of(person: str, img: torch.Tensor) -> int:
        ref = img.permute(1, 2, 0).numpy().astype(np.int16)
        errs = [(np.abs(faces.image(i).astype(np.int16) - ref).mean(), i) for i in by_id[person]]
        err, i = min(errs)
        if err > 1.0:
            raise RuntimeError(f"could not find the photo of {person} used in a forgery (error {err:.2f})")
        return int(key_to_photo[faces.keys[i]])

    exclude = [{photo_of(smp.target_id[k], smp.target[k]), photo_of(smp.source_id[k], smp.source[k])}
               for k in range(n)]
    r = Recoverer.from_pretrained(args.checkpoint, device=args.device)
    outs = [r.run_crops(smp.forgery[a : a + 32].float().div(255)) for a in range(0, n, 32)]
    emb = {k: torch.cat([o[k] for o in outs]).numpy() for k in ("emb_forgery", "emb_source", "emb_target")}
    enc = encoder(args.device)
    emb["true_target"] = embed_crops(enc, smp.target)
    emb["true_source"] = embed_crops(enc, smp.source)
    thr = (load_threshold() or {}).get("threshold")

    def score(probe: np.ndarray, truth: list[str]) -> dict[str, float]:
        res = g.search(probe, top_k=5, exclude=exclude, threshold=thr)
        top1 = np.mean([c[0].name == t for c, t in zip(res, truth)])
        top5 = np.mean([t in {x.name for x in c} for c, t in zip(res, truth)])
        right_sure = np.mean([c[0].name == t and bool(c[0].likely_same) for c, t in zip(res, truth)])
        wrong_sure = np.mean([c[0].name != t and bool(c[0].likely_same) for c, t in zip(res, truth)])
        return {"top1": top1, "top5": top5, "right_likely": right_sure, "wrong_likely": wrong_sure}

    rows = [
        ("target", "None: the forgery itself", emb["emb_forgery"], smp.target_id),
        ("target", "DFREC: recovered target", emb["emb_target"], smp.target_id),
        ("target", "ceiling: the true target photo", emb["true_target"], smp.target_id),
        ("source", "None: the forgery itself", emb["emb_forgery"], smp.source_id),
        ("source", "DFREC: recovered source", emb["emb_source"], smp.source_id),
        ("source", "ceiling: the true source photo", emb["true_source"], smp.source_id),
    ]
    results = []
    for finds, probe, e, truth in rows:
        results.append({"finds": finds, "probe": probe, **score(e, truth)})
    people = len(g.persons())
    print(f"\nLFW tracing: {n} landmark face swaps of LFW test identities searched in a gallery of all {len(g):,} "
          f"LFW photos of {people:,} people (the two photos each forgery was made from excluded; chance top-1 "
          f"{1 / people:.4f}); threshold {thr} ({time.time() - t0:.0f} s in all)\n")
    print("| looking for | searched with | top-1 | top-5 | top-1 right and 'likely the same person' | "
          "top-1 wrong but 'likely the same person' |")
    print("|---|---|---|---|---|---|")
    for x in results:
        print(f"| {x['finds']} | {x['probe']} | {x['top1']:.3f} | {x['top5']:.3f} | {x['right_likely']:.3f} | "
              f"{x['wrong_likely']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"forgeries": n, "gallery_photos": len(g), "gallery_people": people,
                                               "threshold": thr, "rows": results}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calibrate")
    c.add_argument("--data", default=str(ROOT / ".cache" / "lfw_index"), help="LFW landmark cache (dfrec data index)")
    c.add_argument("--fmr", type=float, default=DEFAULT_FMR)
    c.add_argument("--dry-run", action="store_true", help="print, do not write the asset")
    c.set_defaults(func=run_calibrate)
    t = sub.add_parser("trace")
    t.add_argument("--data", default=str(ROOT / ".cache" / "lfw_index"))
    t.add_argument("--lfw", default=str(ROOT.parent / "shared" / "data" / "lfw"), help="LFW root (for file hashes)")
    t.add_argument("--gallery", default=str(ROOT / "out" / "lfw_gallery"))
    t.add_argument("--limit", type=int, default=1000, help="test identities (all with two or more photos by default)")
    t.add_argument("--checkpoint", default=None)
    t.add_argument("--device", default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", default=None)
    t.set_defaults(func=run_trace)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
