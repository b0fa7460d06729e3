"""Average the weights of two models of one architecture (a "model soup"): no training, one new model.

    python scripts/average_models.py A B [--weight 0.5] [--parts ism,sirm,tirm] --out DIR

Writes ``(1 - weight) * A + weight * B`` for every floating-point tensor of the named parts (the
ISM, SIRM and TIRM by default) and ``A``'s tensors for everything else: the score branch
(``scorer.*``), which the recovered faces never read, and the integer counters of batch norm.
Two fine-tuned states of one training lineage average into a model that is often better than
either: the noise of each run's last steps cancels (Wortsman et al. 2022, "Model soups"; on a CPU,
where every continuation is a few hundred steps of batch 32, that noise is what costs the target).

The result is stored as ``A`` is (fp16 or fp32), with ``A``'s settings and metadata, a zero-minute
history entry naming both models, the weight and any setting in which ``B`` differs (settings
without tensors, e.g. ``antialias``: a GPU run of the recipe against the bundled model), and the
model card's ``status`` saying so. Models whose tensors of the averaged parts differ in name or
shape (another encoder, ``mask_ratio`` or depth) are refused with the reason. Gate the result as
any candidate (``python scripts/accept_model.py DIR``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
#: the model's parts by state-dict prefix (the score branch is never averaged: it is not one lineage's)
PARTS = ("ism", "sirm", "tirm")


def _name(path: Path) -> str:
    path = Path(path).resolve()
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def average(a: Path, b: Path, out: Path, weight: float = 0.5, parts: tuple[str, ...] = PARTS) -> Path:
    """Write the soup of model folders ``a`` and ``b`` (``weight`` of ``b``, in (0, 1)) to ``out``; returns
    ``out``. Raises ``SystemExit`` with the reason when the two do not average."""
    from dfrec.errors import ConfigError
    from dfrec.models import DFREC
    from dfrec.models.card import history_entry, with_history, with_status
    from dfrec.models.checkpoint import average_states, read_config

    if not 0.0 < weight < 1.0:
        raise SystemExit(f"--weight {weight}: must lie in (0, 1)")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise SystemExit(f"--parts: {', '.join(unknown) or 'none given'}; choose from {', '.join(PARTS)}")
    ma, mb = DFREC.from_pretrained(a), DFREC.from_pretrained(b)
    sa, sb = ma.state_dict(), mb.state_dict()
    mine = {k for k in set(sa) | set(sb) if k.split(".", 1)[0] in parts}
    try:
        soup = average_states([sa, sb], [1.0 - weight, weight], only=mine)
    except ConfigError as e:
        raise SystemExit(f"{a} and {b} ({', '.join(parts)}): {e}") from None
    ma.load_state_dict(soup)
    ca, cb = ma.config.to_dict(), mb.config.to_dict()
    differ = [f"{k} {ca.get(k)} (B: {cb.get(k)})" for k in sorted(set(ca) | set(cb))
              if k != "score_branch" and ca.get(k) != cb.get(k)]
    today = datetime.date.today().isoformat()
    what = (f"{1 - weight:g} x {_name(a)} + {weight:g} x {_name(b)}, weights averaged "
            f"({', '.join(p.upper() for p in parts)}; scripts/average_models.py)"
            + (f", A's settings kept: {', '.join(differ)}" if differ else ""))
    meta = with_history(with_status(ma.checkpoint_metadata, f"{what} on {today}"), history_entry(what, init_from=_name(a)))
    ma.save_pretrained(out, metadata=meta, dtype=read_config(a).get("storage_dtype", "float32"))
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="model folder whose metadata, score branch and storage to keep")
    ap.add_argument("b", type=Path, help="model folder to average in")
    ap.add_argument("--weight", type=float, default=0.5, help="share of B, in (0, 1) (default 0.5)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"parts to average (default {','.join(PARTS)})")
    ap.add_argument("--out", type=Path, required=True, help="model folder to write")
    x = ap.parse_args(argv)
    if x.out.resolve() in (x.a.resolve(), x.b.resolve()):
        ap.error("--out must be a new folder, not A or B")
    parts = tuple(p.strip() for p in x.parts.split(",") if p.strip())
    print(f"wrote {average(x.a, x.b, x.out, x.weight, parts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
