"""``dfrec evaluate``: run a model over the evaluation set and build the paper's tables.

Pipeline: :func:`dfrec.evaluation.testset.build_eval_set` (test identities, forgeries per
kind, real copies, gallery) → every method (:mod:`.methods`: None, inpainting, DFREC and its
ablations, an optional direct U-Net) → the tables, one function each (:mod:`.paper_tables`:
FID, IDSim, dlib verification, PSNR, SSIM, pose, attributes, map, Acc, ablation,
robustness, identity tracing) → Markdown/CSV/JSON and a figure grid. :func:`calibrate`
computes Acc's threshold.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from dfrec.evaluation.measures import Meter
from dfrec.evaluation.methods import build_methods
from dfrec.evaluation.paper_tables import (
    SUBSTITUTIONS,
    Recoveries,
    ablation_table,
    accuracy_table,
    map_table,
    measure_references,
    paired_table,
    recover_all,
    robustness_table,
    separation_table,
    source_table,
    target_table,
    tracing_table,
)
from dfrec.evaluation.tables import write_tables
from dfrec.evaluation.testset import DEFAULT_KINDS, EvalSet
from dfrec.io import to_float


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
    reference: str | None = None
    fid_weights: str | None = None
    cache: str | None = None
    figure_rows: int = 8
    threshold: float | None = None
    progress: bool = True


def load_threshold_value(override: float | None = None) -> tuple[float, str]:
    """τ for Acc and where it came from (the shipped calibration unless overridden)."""
    if override is not None:
        return float(override), "given with --threshold"
    from dfrec.metrics.accuracy import load_threshold

    try:
        doc = load_threshold()
        return float(doc["tau"]), (f"calibrated: {doc.get('quantile', 0.05):.0%} quantile of IDSim(real face, faithful "
                                   f"copy) over {doc.get('n', '?')} {doc.get('data', 'LFW')} faces")
    except (OSError, KeyError, ValueError):
        return 0.5, "fallback 0.5 (no calibration file shipped)"


# ------------------------------------------------------------------------------------------
# the evaluation


def evaluate(s: EvalSettings, model=None, eval_set: EvalSet | None = None) -> dict[str, Any]:
    """Run the whole evaluation and write the tables/figure into ``s.out``; returns the
    results document (also written as ``results.json``)."""
    from dfrec.device import select_device
    from dfrec.evaluation.testset import build_eval_set

    t0 = time.time()
    device = select_device(s.device)
    torch.manual_seed(s.seed)
    if model is None:
        from dfrec.models import DFREC

        model = DFREC.from_pretrained(s.checkpoint, map_location=device)
    model = model.to(device).eval()
    unet = None
    if s.baseline_unet:
        from dfrec.models.direct_unet import DirectUNet

        unet = DirectUNet.from_pretrained(s.baseline_unet, map_location=device)
    other = None
    if s.reference:
        from dfrec.models import DFREC

        other = DFREC.from_pretrained(s.reference, map_location=device).to(device).eval()
        if other.config.image_size != model.config.image_size:
            from dfrec.errors import ConfigError

            raise ConfigError(f"--reference {s.reference}: image size {other.config.image_size} differs from the "
                              f"checkpoint's {model.config.image_size}")
    size = model.config.image_size
    es = eval_set or build_eval_set(s.data, s.split, s.limit, tuple(s.kinds), s.seed, s.cache, size=size,
                                    progress=s.progress)
    meter = Meter(device, fid=s.fid, fid_weights=s.fid_weights)
    tau, tau_src = load_threshold_value(s.threshold)

    bar = tqdm(total=6, desc="evaluate", disable=not s.progress)
    references = measure_references(es.samples, meter)
    bar.update(1)
    methods = build_methods(model, device, s.seed, s.inpaint, s.ablation, unet, other, _checkpoint_name(s.reference))
    r = recover_all(es.samples, methods, meter, references, s.batch_size, size, model.config.patch_size, s.progress)
    bar.update(1)
    t1, ts, tsep, tp = target_table(r), source_table(r), separation_table(r), paired_table(r)
    bar.update(1)
    tm = map_table(r)
    t3 = accuracy_table(r, tau, tau_src)
    t6 = ablation_table(r, t1, ts, t3)
    bar.update(1)
    t5 = robustness_table(r, s.robust_limit, s.batch_size, s.seed, enabled=s.robustness, progress=s.progress)
    bar.update(1)
    tt = tracing_table(r, es, enabled=s.tracing)
    bar.update(1)
    bar.close()

    out_dir = Path(s.out)
    fig_path = save_figure(out_dir, r, s.figure_rows)
    tables = [t1, ts, tsep, tm, t3, t5, t6, tt] + ([tp] if other is not None else [])
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()}
    header = (f"# dfrec evaluation\n\ncheckpoint `{s.checkpoint}` (preset {model.config.preset}), data `{s.data}` "
              + (f"(small faces enlarged to the crop with {es.info['crop_enlarge']}) " if "crop_enlarge" in es.info else "")
              + f"split {s.split}: {es.info['people']} people, {len(r.fake_idx)} forgeries ({', '.join(r.kinds)}), "
              f"{len(r.real_idx)} real, gallery {len(es.gallery_ids)} photos; device {device}; seed {s.seed}; "
              f"{time.time() - t0:.0f} s."
              + (f" Reference checkpoint `{s.reference}` (paired table at the end)." if other is not None else "")
              + "\n\n![samples](figure_samples.png)")
    extra = {"settings": settings, "eval_set": es.info, "tau": tau, "tau_source": tau_src,
             "checkpoint_metadata": model.checkpoint_metadata, "substitutions": SUBSTITUTIONS,
             "seconds": time.time() - t0, "torch": torch.__version__, "python": platform.python_version()}
    paths = write_tables(out_dir, tables, header=header, extra=extra)
    doc = json.loads(Path(paths["json"]).read_text())
    doc["files"] = {k: str(v) for k, v in paths.items()} | {"figure": str(fig_path)}
    return doc


def _checkpoint_name(path: str | None) -> str:
    """A short name for a checkpoint folder: ``(run/model)`` from its last two path parts."""
    if not path:
        return "reference"
    parts = Path(path).resolve().parts
    return "(" + "/".join(parts[-2:]) + ")"


def save_figure(out_dir: Path, r: Recoveries, n_rows: int) -> Path:
    """``figure_samples.png``: the first ``n_rows`` forgeries with full DFREC's recoveries."""
    from dfrec.evaluation.figures import save_sample_grid

    smp, full = r.samples, r.outputs[r.method("full").name]
    rows, labels = [], []
    for i in list(r.fake_idx)[:n_rows]:
        rows.append([to_float(smp.forgery[i]), to_float(full["source"][i]), to_float(smp.source[i]),
                     to_float(full["target"][i]), to_float(smp.target[i]), full["mask"][i] if "mask" in full else None])
        labels.append(smp.kind[i])
    return save_sample_grid(out_dir / "figure_samples.png", rows, labels=labels)


# ------------------------------------------------------------------------------------------
# threshold calibration


def calibrate(data: str | os.PathLike, split: str | None = "val", n: int = 200, seed: int = 0,
              device: str = "auto", cache: str | None = None, quantile: float = 0.05, progress: bool = True) -> dict[str, Any]:
    """Calibrate Acc's τ on ``n`` real faces of ``split`` (see :mod:`.metrics.accuracy`);
    also reports how often same-person and different-person photo pairs pass τ."""
    from dfrec.device import select_device
    from dfrec.metrics.accuracy import calibrate_threshold, faithful_copy
    from dfrec.metrics.idsim import IDSim, identity_scores
    from dfrec.evaluation.testset import build_eval_set

    es = build_eval_set(data, split, max(2, n), kinds=(), seed=seed, cache=cache, include_real=True, progress=progress)
    x = es.samples.target
    ids = IDSim(select_device(device))
    e = ids.embed(to_float(x))
    e_copy = torch.cat([ids.embed(faithful_copy(to_float(x[i:i + 32]))) for i in range(0, len(x), 32)])
    scores = identity_scores(e, e_copy)["idsim"].numpy()
    tau = calibrate_threshold(scores, quantile)
    # same person: first photo vs first gallery photo; different: first photo vs next person's
    gal = {}
    for img, name in zip(es.gallery_images, es.gallery_ids):
        gal.setdefault(name, img)
    names = es.samples.target_id
    same = identity_scores(e, ids.embed(to_float(torch.stack([gal[nm] for nm in names]))))["idsim"].numpy()
    diff = identity_scores(e, torch.roll(e, 1, 0))["idsim"].numpy()
    return {"tau": tau, "quantile": quantile, "n": int(len(scores)), "data": f"{Path(str(data)).name} {split}",
            "similarity": "dfrec.faces.identity.idsim (centred cosine of dlib ResNet embeddings)",
            "faithful_copy": "bilinear 0.5x down/up-sampling + JPEG quality 75",
            "score_mean": float(scores.mean()), "score_min": float(scores.min()),
            "same_person_pass_rate": float((same > tau).mean()), "different_person_pass_rate": float((diff > tau).mean()),
            "paper_tau_facenet": 0.9}
