"""dfrec.evaluation: the paper's tables, baselines, identity tracing, figures (the metrics
themselves are :mod:`dfrec.metrics`).

- :mod:`.testset` — the evaluation set (test identities, forgeries per kind, gallery).
- :mod:`.variants` — the same DFREC weights run as the paper's ablations.
- :mod:`.baselines` — inpainting (the direct U-Net baseline is :mod:`dfrec.models.direct_unet`).
- :mod:`.tracing` — gallery retrieval of the true source and target.
- :mod:`.tables`, :mod:`.figures` — Markdown/CSV/JSON tables, sample grids.
- :mod:`.runner` — :func:`evaluate` (``dfrec evaluate``) and :func:`calibrate`.

See ``docs/evaluation.md``.
"""

from __future__ import annotations

from dfrec._lazy import lazy_getattr

_EXPORTS = {
    "EvalSettings": "dfrec.evaluation.runner",
    "evaluate": "dfrec.evaluation.runner",
    "calibrate": "dfrec.evaluation.runner",
    "build_eval_set": "dfrec.evaluation.testset",
    "run_variant": "dfrec.evaluation.variants",
    "DirectUNet": "dfrec.models.direct_unet",
    "inpaint_faces": "dfrec.evaluation.baselines",
    "Gallery": "dfrec.evaluation.tracing",
    "Table": "dfrec.evaluation.tables",
    "save_sample_grid": "dfrec.evaluation.figures",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
