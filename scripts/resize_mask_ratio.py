"""Start a model at another ``mask_ratio`` from a trained one: the SIRM's fusion rows re-indexed by rank.

    python scripts/resize_mask_ratio.py MODEL RATIO --out DIR      # e.g. src/dfrec/weights/default 0.35

The TIRM hides ``mask_ratio`` of the 16-px patches and keeps ``K`` (98 of 196 at 0.5). The SIRM's
target head gives one identity row per kept patch (``sirm.target_head``: ``K`` output channels), so
``K`` is part of the architecture and a checkpoint of one ratio does not load into another. This
writes ``MODEL`` at ``RATIO`` with every other tensor as it is and the head's channels re-indexed
by relative rank: new row ``k`` is old row ``round(k * (K_old - 1) / (K_new - 1))`` (the kept
patches are in raster order, so the row of the kept patch at the same relative place), the second
convolution's input channels divided by how often each old channel repeats, so every new row
equals the old row it copies. Train from it with ``--set model.init_from=DIR --set
model.overrides.mask_ratio=RATIO``. docs/training.md ("Fewer masked patches", CPU run 31) used it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def resize(model_dir: Path, ratio: float, out: Path) -> Path:
    """Write ``model_dir``'s model at ``mask_ratio`` ``ratio`` to ``out`` (see the module docstring); returns ``out``."""
    import torch

    from dfrec.models import DFREC
    from dfrec.models.card import with_status

    old = DFREC.from_pretrained(model_dir)
    new = DFREC(old.config.replace(mask_ratio=ratio), pretrained_init=False)
    k_old, k_new = old.config.n_keep, new.config.n_keep
    idx = torch.tensor([round(k * (k_old - 1) / max(k_new - 1, 1)) for k in range(k_new)])
    repeats = torch.bincount(idx, minlength=k_old).to(torch.float32)
    state = new.state_dict()
    for name, value in old.state_dict().items():
        if name.startswith("sirm.target_head.") and value.dim() > 0:
            value = value[idx]
            if value.dim() == 4 and value.shape[1] == k_old:  # the second conv reads the K rows too
                value = value[:, idx] / repeats[idx].view(1, -1, 1, 1).to(value.dtype)
        state[name] = value
    new.load_state_dict(state)
    meta = with_status(old.checkpoint_metadata,
                       f"mask_ratio {old.config.mask_ratio} -> {ratio} (kept patches {k_old} -> {k_new}), not trained since")
    new.save_pretrained(out, metadata=meta)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("ratio", type=float, help="the new mask_ratio, in (0, 1)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.out.resolve() == a.model.resolve():
        ap.error("--out must not be the model it starts from")
    print(resize(a.model, a.ratio, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
