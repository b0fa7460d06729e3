"""Give a model another model's score branch: keep a GPU run's recovered faces when only its fake score fails the gate.

    python scripts/graft_score_branch.py CANDIDATE [--from src/dfrec/weights/default] --out DIR

The score branch (``score_branch: true``, :mod:`dfrec.models.score_branch`) has an encoder and a
head of its own: the map and the recovered faces never read it, and it reads only the input. So
the ``scorer.*`` tensors of one model work unchanged in another whose ISM has the same encoder.
When a training run improves the recovered faces but its branch loses the bundled one's gains
under compression or outside LFW (``scripts/accept_model.py`` refuses it on the score rules
alone), this writes the candidate with the bundled model's branch to ``--out``: its recovered
faces are the candidate's and its fake score is the donor's, bit for bit. Then gate the result as
usual (``python scripts/accept_model.py DIR``).

The result is stored as the candidate is (fp16 or fp32), with the candidate's metadata, a
zero-minute history entry naming the donor, and the model card's ``status`` saying where its score
comes from. A donor without a branch, or a branch that does not fit (another ISM encoder), is
refused with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def _name(path: Path) -> str:
    path = Path(path).resolve()
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def graft(candidate: Path, donor: Path, out: Path) -> Path:
    """Write ``candidate`` with ``donor``'s ``scorer.*`` tensors to the model folder ``out``; returns ``out``.
    Raises ``SystemExit`` with the reason when the donor has no branch or its branch does not fit."""
    from dfrec.models import DFREC
    from dfrec.models.card import history_entry, with_history, with_status
    from dfrec.models.checkpoint import read_config

    model, giver = DFREC.from_pretrained(candidate), DFREC.from_pretrained(donor)
    if giver.scorer is None:
        raise SystemExit(f"{donor}: no score branch to graft (score_branch is false)")
    branch = {k: v for k, v in giver.state_dict().items() if k.startswith("scorer.")}
    if model.scorer is None:
        model.add_score_branch()
    own = {k: v.shape for k, v in model.state_dict().items() if k.startswith("scorer.")}
    misfit = sorted(set(own) ^ set(branch)) + sorted(k for k in own.keys() & branch.keys() if own[k] != branch[k].shape)
    if misfit:
        raise SystemExit(f"{donor}'s score branch does not fit {candidate}'s ISM (another encoder?): "
                         f"{len(misfit)} tensors differ, e.g. {misfit[:3]}")
    model.load_state_dict(branch, strict=False)
    today = datetime.date.today().isoformat()
    meta = with_status(model.checkpoint_metadata, f"its fake score from the score branch of {_name(donor)}, grafted on {today}")
    meta = with_history(meta, history_entry(f"the score branch of {_name(donor)} grafted on (scripts/graft_score_branch.py); "
                                            "map and recovered faces unchanged", init_from=_name(candidate)))
    dtype = read_config(candidate).get("storage_dtype", "float32")
    model.save_pretrained(out, metadata=meta, dtype=dtype)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("candidate", type=Path, help="model folder whose map and recovered faces to keep")
    ap.add_argument("--from", dest="donor", type=Path, default=ROOT / "src" / "dfrec" / "weights" / "default",
                    help="model folder whose score branch to take (default: the bundled model)")
    ap.add_argument("--out", type=Path, required=True, help="model folder to write")
    a = ap.parse_args(argv)
    if a.out.resolve() in (a.candidate.resolve(), a.donor.resolve()):
        ap.error("--out must be a new folder, not the candidate or the donor")
    print(f"wrote {graft(a.candidate, a.donor, a.out)}: {a.candidate}'s model with {a.donor}'s score branch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
