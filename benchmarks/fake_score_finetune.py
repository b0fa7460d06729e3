"""Can the fake score be made robust without a GPU? Fine-tune the real/fake side of the ISM alone.

    python benchmarks/fake_score_finetune.py [--part ism|head|branch] [--degrade wide|small|none] [--minutes 35]
        [--threads 1] [--out runs/fake_score_ism_wide] [--json]

The bundled model's fake score is trained with four fakes to one real, and its reals are LFW's
deep-funnelled JPEGs only (README: "The fake score is calibrated on LFW only"). This trains the
ISM of the bundled model for a wall-clock budget on LFW training identities with balanced kinds
(swap 0.3, blend 0.15, self 0.1, real 0.45; every other batch with the wide appearance range of the
GAN-like swaps), by a class-balanced BCE on the logit, while a frozen copy holds the map where it
was (``--map-weight`` × L1 to the old map; BatchNorm statistics and dropout frozen). The SIRM and
TIRM are not touched, so the recovered faces change only through the map.

- ``--part ism``: encoder, decoder and head; ``--part head``: the linear head alone (a linear
  probe on the frozen, pooled deepest features; the map cannot move); ``--part branch``: a score
  branch (:mod:`dfrec.models.score_branch`, ``score_branch: true``) started as a copy of the ISM's
  encoder and head and trained alone: the ISM, and so the map and the recovered faces, stay bit
  for bit as they were.
- ``--degrade wide``: each input also gets, on top of the synthesiser's own augmentation, a chain
  of degradations seen in photos from elsewhere (:func:`wide_degrade`: down- and up-scaling with
  JPEG in between, blur, sharpening, noise, JPEG quality 30-99); ``small``: first, a third of the
  inputs as small faces enlarged to the crop as ``recover`` does (:func:`small_face_degrade`: eyes
  8-28 px apart, Lanczos-4), then the wide chain; ``none``: only the synthesiser's.

It then scores the bundled and the fine-tuned model on the same samples: the held-out LFW
validation sets (:func:`dfrec.train.heldout.heldout_sets`, n = 96: swaps, GAN-like swaps, blends,
self-swaps, reals) under each degradation of ``benchmarks/real_photo_scores.py`` and as small
faces (:func:`dfrec.data.synth.augment.as_small_face`, eyes 20 / 14 / 10 px; share of reals
called swapped, share of each fake kind caught, ROC AUC of all fakes against the reals), the map
IoU with the true mask, and the untouched faces from outside LFW of ``real_photo_scores.py``
(how many score above 0.5, their mean) and the examples' three forgeries. Writes the fine-tuned
model's ``ism.*`` tensors to ``OUT/ism.safetensors`` (``--part branch``: its ``scorer.*`` tensors to
``OUT/scorer.safetensors``) and the table to ``OUT/scores.json``.
docs/training.md ("The fake score outside LFW") quotes it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

#: kind mix of the fine-tuning data: reals nearly half (the bundled model's training had 0.2)
KINDS = {"swap": 0.3, "blend": 0.15, "self": 0.1, "real": 0.45}


def wide_degrade(a, rng, webp: float = 0.0, picture: float = 0.0, h264: float = 0.0):
    """``a`` (S, S, 3) uint8 RGB after a random chain of degradations: down- and up-scaling (p 0.3,
    factor 0.35-0.95, half of them JPEG 30-95 in between), Gaussian blur (p 0.15, sigma 0.4-1.5),
    unsharp masking (p 0.15, amount 0.3-1.5), Gaussian noise (p 0.25, variance 5-50), JPEG
    (p 0.5, quality 30-99); each lossy round trip WebP instead of JPEG with probability ``webp``
    (nothing more drawn while it is 0, so earlier runs' streams hold), and the last one made on
    the picture around the face with probability ``picture`` (at the synthesiser's default scales
    and angles; likewise nothing drawn while 0), or as a frame of H.264 video at the synthesiser's
    default CRFs (18-45) with probability ``h264`` (:func:`dfrec.data.synth.augment.h264`; nothing
    drawn while 0); ``rng`` a numpy Generator. The same steps as the synthesiser's
    ``augment.rescale_prob`` / ``sharpen_prob`` / ``webp_prob`` / ``picture_prob`` / ``h264_prob``
    options (:mod:`dfrec.data.synth.augment`)."""
    import cv2
    import numpy as np

    from dfrec.data.synth.augment import (compress, draw_picture, gaussian_noise, picture_round_trip,
                                          rescale_round_trip, unsharp_mask)
    from dfrec.data.synth.config import AugmentConfig

    def codec():
        return "webp" if webp > 0 and rng.random() < webp else "jpeg"

    defaults = AugmentConfig()  # the synthesiser's picture scales and angles, and its H.264 CRFs

    a = a.copy()
    if rng.random() < 0.3:
        f = rng.uniform(0.35, 0.95)
        q = int(rng.integers(30, 96)) if rng.random() < 0.5 else None
        a = rescale_round_trip(a, f, q, cv2.INTER_CUBIC if rng.integers(2) else cv2.INTER_LINEAR,
                               codec() if q is not None else "jpeg")
    if rng.random() < 0.15:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.15:
        a = unsharp_mask(a, rng.uniform(0.3, 1.5))
    if rng.random() < 0.25:
        a = gaussian_noise(a, rng.uniform(5, 50), rng)
    if rng.random() < 0.5:
        q = int(rng.integers(30, 100))
        c = codec()
        if h264 > 0 and rng.random() < h264:
            c, q = "h264", int(rng.integers(defaults.h264_crf[0], defaults.h264_crf[1] + 1))
        if picture > 0 and rng.random() < picture:
            a = picture_round_trip(a, *draw_picture(defaults, rng), q, c)
        else:
            a = compress(a, q, c)
    return np.ascontiguousarray(a)


#: eye distances (px) a small face is drawn at by :func:`small_face_degrade`, and scored at
SMALL_EYES = (8.0, 28.0)
SCORED_EYES = (20, 14, 10)


def small_face_degrade(a, rng, p: float = 0.35, webp: float = 0.0, picture: float = 0.0, h264: float = 0.0):
    """``a`` as a small face (:func:`dfrec.data.synth.augment.as_small_face`, eyes drawn in
    :data:`SMALL_EYES`) with probability ``p``, then :func:`wide_degrade`: reals and fakes alike,
    so softness from an enlargement stops reading as a pasted face."""
    from dfrec.data.synth.augment import as_small_face

    if rng.random() < p:
        a = as_small_face(a, float(rng.uniform(*SMALL_EYES)))
    return wide_degrade(a, rng, webp, picture, h264)


def parse_kinds(text: str) -> dict[str, float]:
    """``"swap=0.3,blend=0.15,self=0.1,real=0.45"`` -> that kind mix (shares summing to 1, a real
    share in (0, 1)); ``ValueError`` otherwise."""
    kinds = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        kinds[name.strip()] = float(value)
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds or abs(sum(kinds.values()) - 1) > 1e-6 or min(kinds.values()) < 0:
        raise ValueError(f"kinds {text!r}: shares of {sorted(KINDS)} summing to 1")
    if not 0 < kinds.get("real", 0) < 1:
        raise ValueError(f"kinds {text!r}: the real share must be in (0, 1)")
    return kinds


def finetune(model, faces, seconds: float, part: str = "ism", degrade: str = "wide", lr: float = 1e-4,
             map_weight: float = 20.0, batch: int = 16, seed: int = 0, max_steps: int | None = None,
             log=print, kinds: dict[str, float] | None = None, webp: float = 0.0, picture: float = 0.0,
             h264: float = 0.0) -> dict:
    """Train ``model.ism`` (``part`` "ism" or "head") or ``model.scorer`` (``part`` "branch", added by
    :meth:`DFREC.add_score_branch` when the model has none) in place for ``seconds`` of wall clock
    (or ``max_steps``) on ``faces`` (a FaceSet) with the kind mix ``kinds`` (default :data:`KINDS`);
    returns ``{"steps", "samples", "seconds"}``."""
    import numpy as np
    import torch

    from dfrec.data.datasets import SyntheticForgeries
    from dfrec.data.synth import SynthConfig
    from dfrec.train.heldout import wide_synth

    torch.manual_seed(seed)
    if part == "branch":
        model.add_score_branch()
    ism = model.ism
    teacher = copy.deepcopy(ism).eval() if part == "ism" else None
    for p in model.parameters():
        p.requires_grad_(False)
    trained = {"ism": ism, "head": ism.net.classification_head, "branch": model.scorer}[part]
    params = list(trained.parameters())
    for p in params:
        p.requires_grad_(True)
    kinds = dict(kinds or KINDS)
    data = [SyntheticForgeries(faces, SynthConfig.from_dict({"kinds": kinds, **extra}), seed=seed + 901 + k,
                               length=10 ** 7, augment=True, uint8_images=True)
            for k, extra in enumerate(({}, wide_synth()))]
    rng = np.random.default_rng(seed + 4321)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-5)
    real_share = kinds["real"]
    t0, step, recent = time.time(), 0, []
    while (max_steps is None or step < max_steps) and time.time() - t0 < seconds:
        done = min(1.0, (time.time() - t0) / seconds)
        for g in opt.param_groups:  # cosine from lr to lr / 10 over the budget
            g["lr"] = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))
        ds = data[step % 2]
        items = [ds[step * batch + i] for i in range(batch)]
        u8 = np.stack([it["forgery"].permute(1, 2, 0).numpy() for it in items])
        if degrade == "wide":
            u8 = np.stack([wide_degrade(a, rng, webp, picture, h264) for a in u8])
        elif degrade == "small":
            u8 = np.stack([small_face_degrade(a, rng, webp=webp, picture=picture, h264=h264) for a in u8])
        x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
        y = torch.tensor([float(it["is_fake"]) for it in items])
        model.eval()  # BatchNorm statistics and dropout stay as they were
        if part == "branch":
            logit = model.scorer(x)
        else:
            m, logit = ism(x)
        drift = torch.zeros(())  # the map moves only when the ISM's encoder and decoder train
        if teacher is not None:
            with torch.no_grad():
                m_old = teacher(x)[0]
            drift = (m - m_old).abs().mean()
        weight = torch.where(y == 1, torch.full_like(y, real_share / (1 - real_share)), torch.ones_like(y))
        cls = torch.nn.functional.binary_cross_entropy_with_logits(logit.float(), y, weight=weight)
        loss = cls + map_weight * drift
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        recent.append((float(cls.detach()), float(drift.detach())))
        step += 1
        if step % 20 == 0:
            c, d = np.mean(recent[-20:], axis=0)
            log(f"step {step}  {time.time() - t0:5.0f} s  BCE {c:.3f}  map L1 to the old map {d:.4f}")
    for p in model.parameters():
        p.requires_grad_(False)
    return {"steps": step, "samples": step * batch, "seconds": round(time.time() - t0, 1)}


def roc_auc(pos, neg) -> float:
    """Probability that a random one of the ``pos`` scores (1-D tensor) is above a random one of
    ``neg`` (ties count half): ``benchmarks/identity_layer_auc.py``'s rank form."""
    import numpy as np

    from identity_layer_auc import roc_auc as rank_auc

    scores = np.concatenate([pos.double().numpy(), neg.double().numpy()])
    return rank_auc(scores, np.arange(len(scores)) < len(pos))


def score(recoverer, cache: str, n: int = 96) -> dict:
    """The fake-score table of one model (see the module docstring)."""
    import numpy as np
    import torch

    from dfrec.data.synth.augment import as_small_face
    from dfrec.io import read_image
    from dfrec.train.heldout import heldout_sets
    from real_photo_scores import degradations, photo_scores

    model = recoverer.model.eval()
    sets = heldout_sets(cache, n, split="val", names=["swap", "gan_swap", "blend", "self", "real"])
    crops, masks = {}, {}
    for name, ds in sets.items():
        items = [ds[i] for i in range(len(ds))]
        f = torch.stack([it["forgery"] for it in items])
        f = f if f.dtype == torch.uint8 else (f * 255).round().to(torch.uint8)
        crops[name], masks[name] = f.permute(0, 2, 3, 1).numpy(), torch.stack([it["mask"] for it in items]) > 0.5
    fakes = ("swap", "gan_swap", "blend", "self")
    out: dict = {"degradations": []}
    ops = dict(degradations())
    for eyes in SCORED_EYES:  # the face as recover enlarges it from a small picture
        ops[f"small face, eyes {eyes} px (Lanczos)"] = lambda a, e=eyes: as_small_face(a, e)
    with torch.no_grad():
        for dname, fn in ops.items():
            p = {}
            for name, u8 in crops.items():
                x = torch.from_numpy(np.stack([fn(a) for a in u8])).permute(0, 3, 1, 2).float() / 255
                m, logit = model.ism(x)
                if model.scorer is not None:
                    logit = model.scorer(x)
                p[name] = torch.sigmoid(logit.float())
                if dname == "as they are" and name in ("swap", "gan_swap", "blend"):
                    pm, tm = m > 0.5, masks[name]
                    iou = (pm & tm).sum((1, 2, 3)) / (pm | tm).sum((1, 2, 3)).clamp(min=1)
                    out[f"map_iou_{name}"] = round(float(iou.float().mean()), 3)
            out["degradations"].append({
                "degradation": dname, "reals_called_swapped": round(float((p["real"] > 0.5).float().mean()), 3),
                **{f"{k}_caught": round(float((p[k] > 0.5).float().mean()), 3) for k in fakes},
                "auc": round(roc_auc(torch.cat([p[k] for k in fakes]), p["real"]), 3)})
    photos = photo_scores(recoverer)
    out["photos"] = photos
    out["photos_above"] = sum(r["score_fake"] > 0.5 for r in photos)
    out["photos_mean"] = round(float(np.mean([r["score_fake"] for r in photos])), 3) if photos else None
    out["example_forgeries"] = [round(recoverer.recover_image(read_image(ex / "forgery.png")).faces[0].score_fake, 3)
                                for ex in sorted((ROOT / "examples").iterdir()) if (ex / "forgery.png").exists()]
    return out


def print_table(rows: dict[str, dict]) -> None:
    names = list(rows)
    print(f"{'':34s}" + "".join(f"{n:>24s}" for n in names))
    print(f"{'untouched faces outside LFW > 0.5':34s}" + "".join(
        f"{str(r['photos_above']) + ' of ' + str(len(r['photos'])) + ' (mean ' + str(r['photos_mean']) + ')':>24s}"
        for r in rows.values()))
    print(f"{'examples forgeries':34s}" + "".join(f"{str(r['example_forgeries']):>24s}" for r in rows.values()))
    for k in ("map_iou_swap", "map_iou_gan_swap", "map_iou_blend"):
        print(f"{k:34s}" + "".join(f"{r[k]:>24.3f}" for r in rows.values()))
    print("\nLFW validation sets: reals called swapped / swaps, GAN-like, blends, self caught / AUC")
    for i, d in enumerate(rows[names[0]]["degradations"]):
        cells = []
        for r in rows.values():
            x = r["degradations"][i]
            cells.append(f"{x['reals_called_swapped']:.2f} / {x['swap_caught']:.2f} {x['gan_swap_caught']:.2f} "
                         f"{x['blend_caught']:.2f} {x['self_caught']:.2f} / {x['auc']:.3f}")
        print(f"{d['degradation']:34s}" + "".join(f"{c:>40s}" for c in cells))


#: what each ``--part`` trains: the file its tensors go to in the run folder, their name prefix
TRAINED_FILES = {"ism": ("ism.safetensors", "ism."), "head": ("ism.safetensors", "ism."),
                 "branch": ("scorer.safetensors", "scorer.")}


def save_trained(model, part: str, out: Path) -> Path:
    """Write the tensors ``part`` trained (:data:`TRAINED_FILES`) of ``model`` to the run folder ``out``;
    returns the file."""
    from safetensors.torch import save_file

    name, prefix = TRAINED_FILES[part]
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k.startswith(prefix)}, str(out / name))
    return out / name


def export_model(run_dir: Path, out: Path, base: str | None = None) -> Path:
    """A model folder at ``out``: the ``base`` checkpoint (default: the bundled model) with the
    tensors the run trained (``run_dir/ism.safetensors``, or ``scorer.safetensors`` with a score
    branch added to the base), stored as the base is, its metadata kept and one history entry added
    from ``run_dir/scores.json`` (what the gate and ``accept_model.py`` take)."""
    import datetime

    from safetensors.torch import load_file

    from dfrec.models import DFREC
    from dfrec.models.card import SCORE_BRANCH, history_entry, runs_of_part, with_history, with_status
    from dfrec.models.checkpoint import read_config
    from dfrec.recover import DEFAULT_CHECKPOINT

    base = base or str(DEFAULT_CHECKPOINT)
    model = DFREC.from_pretrained(base)
    doc = json.loads((run_dir / "scores.json").read_text())
    st, tr = doc["settings"], doc["training"]
    name, prefix = TRAINED_FILES[st["part"]]
    tensors = load_file(str(run_dir / name))
    if not tensors or any(not k.startswith(prefix) for k in tensors):
        raise SystemExit(f"{run_dir / name}: not a set of {prefix}* tensors")
    had_branch = model.scorer is not None
    if st["part"] == "branch":
        model.add_score_branch()
    missing = model.load_state_dict(tensors, strict=False)
    if missing.unexpected_keys:
        raise SystemExit(f"{run_dir}: tensors the model does not have: {missing.unexpected_keys[:5]}")
    flags = (f"--degrade {st['degrade']}" + (f" --webp {st['webp']}" if st.get("webp") else "")
             + (f" --picture {st['picture']}" if st.get("picture") else "")
             + (f" --h264 {st['h264']}" if st.get("h264") else ""))
    if st["part"] == "branch" and had_branch:
        what = (f"the score branch continued (benchmarks/fake_score_finetune.py --part branch {flags} --lr {st['lr']} "
                f"--seed {st['seed']}); the ISM, SIRM and TIRM untouched")
    elif st["part"] == "branch":
        what = ("a score branch (the ISM's encoder and head, copied, then trained alone) fine-tuned "
                f"(benchmarks/fake_score_finetune.py --part branch {flags}); the ISM, SIRM and TIRM untouched")
    else:
        what = (f"the ISM's real/fake side fine-tuned (benchmarks/fake_score_finetune.py --part {st['part']} "
                f"{flags}; the map held by L1 x {st['map_weight']} to its old self; SIRM and TIRM untouched)")
    meta = model.checkpoint_metadata
    if st["part"] == "branch":  # what the report's model card says of the model, beside its last training run
        branch_runs = runs_of_part(meta, SCORE_BRANCH) if had_branch else []
        seen = sum(int(h.get("images") or 0) for h in branch_runs) + tr["samples"]
        codecs = "JPEG and WebP" if st.get("webp") else "JPEG"
        codecs += ", H.264 video frames" if st.get("h264") else ""
        codecs = f"compressed ({codecs}, of crops and of whole pictures)" if st.get("picture") else (
            f"compressed ({codecs})" if st.get("webp") or st.get("h264") else "compressed")
        runs = f" in {len(branch_runs) + 1} runs" if branch_runs else ""
        meta = with_status(meta, f"its fake score from a score branch fine-tuned until {datetime.date.today().isoformat()} "
                                 f"on {codecs}, rescaled and small faces ({seen:,} forgeries{runs}), its map and recovered "
                                 "faces unchanged", replaces="its fake score from")
    meta = with_history(meta, history_entry(
        what, device=f"cpu ({st['threads']} thread{'s' if st['threads'] != 1 else ''})",
        minutes=round(tr["seconds"] / 60, 3), images=tr["samples"], steps=tr["steps"],
        init_from=os.path.relpath(base, ROOT) if Path(base).resolve().is_relative_to(ROOT) else base,
        part=SCORE_BRANCH if st["part"] == "branch" else None))
    dtype = read_config(base).get("storage_dtype", "float32")
    model.save_pretrained(out, metadata=meta, dtype=dtype)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=tuple(TRAINED_FILES), default="ism")
    ap.add_argument("--degrade", choices=("wide", "small", "none"), default="wide")
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock training budget")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--kinds", type=parse_kinds, default=dict(KINDS),
                    help="kind mix of the training data, e.g. swap=0.25,blend=0.25,self=0.05,real=0.45 (default: KINDS)")
    ap.add_argument("--webp", type=float, default=0.0,
                    help="share of the degradations' lossy round trips made as WebP instead of JPEG (0: JPEG only)")
    ap.add_argument("--picture", type=float, default=0.0,
                    help="share of the last lossy round trips made on the picture around the face, not the crop "
                         "(augment.picture_round_trip; 0: none)")
    ap.add_argument("--h264", type=float, default=0.0,
                    help="share of the last lossy round trips made as a frame of H.264 video at CRF 18-45 "
                         "(augment.h264, needs libx264; 0: none)")
    ap.add_argument("--map-weight", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: two runs side by side on 2 cores)")
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "lfw_index"))
    ap.add_argument("--out", default=None, help="folder for ism.safetensors and scores.json")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--export-from", type=Path, default=None, metavar="RUN_DIR",
                    help="no training: write the bundled model with RUN_DIR's fine-tuned ISM (or score branch) "
                         "to --out as a model folder")
    a = ap.parse_args(argv)
    if a.export_from is not None:
        if a.out is None:
            ap.error("--export-from needs --out (the model folder to write)")
        print(export_model(a.export_from, Path(a.out)))
        return 0

    import torch

    from dfrec.data.datasets import lfw_faces
    from dfrec.data.faceset import open_faces
    from dfrec.recover import Recoverer

    torch.set_num_threads(a.threads)
    out = Path(a.out or ROOT / "runs" / f"fake_score_{a.part}_{a.degrade}")
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if a.json else (lambda s: print(s, flush=True))
    base = score(Recoverer.from_pretrained(None, device="cpu"), a.cache)
    rec = Recoverer.from_pretrained(None, device="cpu")
    run = finetune(rec.model, lfw_faces(open_faces(a.cache), "train"), a.minutes * 60, a.part, a.degrade,
                   a.lr, a.map_weight, a.batch, a.seed, log=log, kinds=a.kinds, webp=a.webp, picture=a.picture,
                   h264=a.h264)
    save_trained(rec.model, a.part, out)
    tuned = score(rec, a.cache)
    doc = {"settings": vars(a), "training": run, "bundled": base, "fine-tuned": tuned}
    (out / "scores.json").write_text(json.dumps(doc, indent=1))
    if a.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"\ntrained the {a.part} ({a.degrade} degradations): {run['steps']} steps, {run['samples']} forgeries, "
              f"{run['seconds'] / 60:.1f} min on {a.threads} thread(s)\n")
        print_table({"bundled": base, f"{a.part}, {a.degrade}": tuned})
    return 0


if __name__ == "__main__":
    sys.exit(main())
