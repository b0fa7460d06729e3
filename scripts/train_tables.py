"""Paper tables that need training: short runs that differ in one thing, scored on the same
held-out forgeries of LFW validation identities.

    python scripts/train_tables.py kinds  --minutes 1.5 --out runs/table_kinds  [--config configs/small_lfw_gpu.yaml]
    python scripts/train_tables.py losses --minutes 1.5 --out runs/table_losses [--init scratch] [--set KEY=VALUE ...]

Tables (:data:`TEST_SETS` names them and their held-out sets):

* ``kinds`` — the analogue of the paper's Tables II and IV (train on one forgery method, test
  on the others): trained on landmark swaps only, on Face X-ray blends only, on self-swaps
  only (each with the config's share of real faces), or on the config's whole mix; scored on
  swaps, GAN-like swaps, blends and self-swaps.
* ``losses`` — the analogue of Table VII (loss ablation): identity only, + patch
  reconstruction, + perceptual, + attribute (= the config's full objective). The recipe's
  terms that train the ISM (classification, map) and identity separation (it rides with the
  identity term) stay in every row; "patch" includes the recipe's L1 of the composed target.

Every row is one ``dfrec train`` run in its own process (a row that fails is reported and the
others go on) under ``OUT/runs/<row>``, started from the same weights (``--init``: the
bundled model by default, ``scratch``, or a model folder) with the same seed and data, for
the same wall-clock budget. ``OUT/<table>.json`` and ``OUT/<table>.md`` are rewritten
(atomically) after every row, so a run cut short keeps its finished rows, and running the
same command again scores finished runs instead of retraining them and resumes unfinished
ones. The start itself is scored as the first row (what the short runs changed), and the
forgery itself ("None") gives each set's reference.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "dfrec" / "weights" / "default"

#: Held-out sets each table is scored on (names of :func:`dfrec.train.heldout.heldout_sets`).
TEST_SETS = {"kinds": ("swap", "gan_swap", "blend", "self", "real"), "losses": ("swap", "gan_swap", "blend", "real")}

#: The paper's four objective terms of Table VII and the recipe's weights that go with each.
LOSS_STEPS = (("identity only", ("lambda_id", "lambda_sep")), ("+ patch", ("lambda_patch", "lambda_pix", "lambda_grad", "lambda_border")),
              ("+ perceptual", ("lambda_perc",)), ("+ attribute (full)", ("lambda_attr",)))


def kind_rows(kinds: dict[str, float]) -> list[tuple[str, list[str]]]:
    """Rows of the ``kinds`` table from the config's kind mix: ``(name, --set overrides)``.
    Each one-kind row keeps the config's share of real faces and gives the fakes' share to its kind."""
    real = float(kinds.get("real", 0.0))
    fake = round(sum(float(w) for k, w in kinds.items() if k != "real"), 6) or 1.0
    rows = []
    for kind, name in (("swap", "swaps only"), ("blend", "blends only"), ("self", "self-swaps only")):
        mix = {kind: fake, **({"real": real} if real > 0 else {})}
        rows.append((name, [f"data.synth.kinds={json.dumps(mix)}"]))
    rows.append(("all kinds (the config's mix)", []))
    return rows


def loss_rows(loss: dict) -> list[tuple[str, list[str]]]:
    """Rows of the ``losses`` table from the config's loss weights: ``(name, --set overrides)``;
    a row turns off the terms of the steps after it (weights the config leaves at 0 stay 0)."""
    from dfrec.losses.total import LossConfig

    full = LossConfig(**loss)
    rows = []
    for i, (name, _) in enumerate(LOSS_STEPS):
        off = [k for _, later in LOSS_STEPS[i + 1:] for k in later if getattr(full, k) > 0]
        rows.append((name, [f"loss.{k}=0" for k in off]))
    return rows


def table_rows(table: str, config: Path, overrides: list[str]) -> list[tuple[str, list[str]]]:
    """The rows of ``table`` for ``config`` (with the user's ``--set`` overrides applied)."""
    from dfrec.data.synth import SynthConfig
    from dfrec.train.config import load_config

    cfg = load_config(config, overrides)
    if table == "kinds":
        return kind_rows(SynthConfig.from_dict(dict(cfg.data.synth)).kinds)
    return loss_rows(dict(cfg.loss))


def slug(name: str) -> str:
    """A row's folder name: ``"+ patch"`` -> ``"patch"``, ``"self-swaps only"`` -> ``"self_swaps_only"``."""
    return "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def init_folder(init: str) -> Path | None:
    """The model folder every row starts from: ``bundled``, ``scratch`` (None) or a folder."""
    return {"bundled": BUNDLED, "scratch": None}.get(init, Path(init))


def finished(run: Path) -> bool:
    """Whether a row's run has written its final model."""
    return (run / "model" / "config.json").exists()


def train_row(run: Path, a: argparse.Namespace, row_sets: list[str]) -> tuple[list[str], int]:
    """Train (or resume, or skip when finished) one row's run; returns (command, exit code)."""
    start = init_folder(a.init)
    sets = [f"train.max_minutes={a.minutes}", f"model.init_from={start or 'null'}", "model.init_strict=false",
            f"data.cache={a.cache}", *a.set, *row_sets]
    cmd = [sys.executable, "-m", "dfrec", "train", "--config", str(a.config), "--out", str(run),
           "--device", a.device, "--no-progress"]
    if not finished(run) and (run / "checkpoints" / "latest").exists():
        cmd.append("--resume")
    cmd += [x for s in sets for x in ("--set", s)]
    if finished(run):
        return cmd, 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    return cmd, subprocess.run(cmd, cwd=ROOT, env=env).returncode


def shown_command(cmd: list[str]) -> list[str]:
    """``cmd`` as the table shows it: ``python -m dfrec ...`` with repository paths relative, and
    without the ``--set`` pairs that name files in a temporary folder (the device scripts' unpacked
    fp16 copies of the loss networks' weights, gone after the call): the command then uses the
    default weights of the same networks."""
    out = ["python", "-m", "dfrec"]
    rest = [x.replace(f"{ROOT}{os.sep}", "") for x in cmd[3:]]
    temp = os.path.join(tempfile.gettempdir(), "")
    i = 0
    while i < len(rest):
        if rest[i] == "--set" and i + 1 < len(rest) and rest[i + 1].partition("=")[2].startswith(temp):
            i += 2
            continue
        out.append(rest[i])
        i += 1
    return out


def run_summary(run: Path) -> dict:
    """Steps and images of a finished run, from its metrics.jsonl and config.yaml."""
    import yaml

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = max((r.get("step", 0) for r in rows), default=0)
    batch = yaml.safe_load((run / "config.yaml").read_text())["data"]["batch_size"]
    return {"steps": steps, "images": steps * batch}


def markdown(doc: dict) -> str:
    """The table as Markdown: one line per row, target / source IDSim per test set, then details."""
    sets = doc["test_sets"]
    none = {s: next((r["scores"][s].get("idsim_target_none") for r in doc["rows"] if r.get("scores")), None)
            for s in sets}
    head = "| trained on / objective | images | " + " | ".join(
        f"{s}: target (None {none[s]:.3f}) / source" if none[s] is not None else f"{s}: target / source" for s in sets) + " |"
    lines = [f"# {doc['title']}", "", doc["setup"], "", head, "|" + "---|" * (len(sets) + 2)]
    for r in doc["rows"]:
        if not r.get("scores"):
            why = "not run (deadline)" if r.get("skipped") else "failed"
            lines.append(f"| {r['name']} | – | " + " | ".join(why for _ in sets) + " |")
            continue
        cells = [f"{r['scores'][s].get('idsim_target', float('nan')):.3f} / {r['scores'][s].get('idsim_source', float('nan')):.3f}"
                 for s in sets]
        lines.append(f"| {r['name']} | {r.get('images', 0):,} | " + " | ".join(cells) + " |")
    lines += ["", "Commands (from the repository root):", ""]
    lines += [f"    {r['command']}" for r in doc["rows"] if r.get("command")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", choices=sorted(TEST_SETS))
    ap.add_argument("--minutes", type=float, required=True, help="training budget of every row")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "small_lfw_gpu.yaml")
    ap.add_argument("--init", default="bundled", help="bundled (default), scratch, or a model folder")
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "lfw_index"), help="landmark cache or pack of LFW")
    ap.add_argument("--n", type=int, default=48, help="held-out swaps per set (blends, self-swaps, reals: half)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--identity-weights", default=None, help="dlib .dat or its .safetensors export")
    ap.add_argument("--rows", default=None, help="comma-separated row numbers to run (1-based; default all)")
    ap.add_argument("--runs", type=Path, default=None, help="folder of the rows' run folders (default OUT/runs)")
    ap.add_argument("--deadline-min", type=float, default=None,
                    help="train no row that cannot end (its budget + 1 min) by this many minutes after the start "
                         "(finished runs are still scored)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed on to every dfrec train run")
    a = ap.parse_args(argv)
    if a.minutes <= 0:
        ap.error("--minutes must be > 0")

    from dfrec.device import select_device
    from dfrec.io import write_text_atomic
    from dfrec.models import DFREC
    from dfrec.train.heldout import HeldOutEvaluator, heldout_sets

    t_start = time.time()
    rows = table_rows(a.table, a.config, a.set)
    if a.rows:
        keep = {int(i) for i in a.rows.split(",")}
        rows = [r for i, r in enumerate(rows, 1) if i in keep]
    sets = TEST_SETS[a.table]
    ev = HeldOutEvaluator(heldout_sets(a.cache, a.n, names=sets), device=select_device(a.device), fid=False,
                          identity_weights=a.identity_weights)
    title = {"kinds": "Train on one forgery kind, test on every kind (the paper's Tables II / IV, on LFW)",
             "losses": "Loss ablation (the paper's Table VII, on LFW)"}[a.table]
    setup = (f"Every row: `{a.config.name}`, {a.minutes:g} min from {a.init} weights, same seed and data; "
             f"scored on held-out forgeries of LFW validation identities (n = {a.n} swaps per set). "
             "IDSim: centred cosine of dlib's face-recognition ResNet (instead of FaceNet/ArcFace).")
    doc = {"table": a.table, "title": title, "setup": setup, "test_sets": list(sets), "minutes": a.minutes,
           "init": a.init, "config": str(a.config), "n": a.n, "rows": []}
    start = init_folder(a.init)
    a.out.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        write_text_atomic(a.out / f"{a.table}.json", json.dumps(doc, indent=1))
        write_text_atomic(a.out / f"{a.table}.md", markdown(doc))

    if start is not None:
        doc["rows"].append({"name": f"start ({a.init}, no training)", "images": 0,
                            "scores": ev(DFREC.from_pretrained(start, map_location=ev.device))})
        write()
    for name, row_sets in rows:
        run = (a.runs or a.out / "runs") / slug(name)
        if not finished(run) and a.deadline_min is not None and (time.time() - t_start) / 60 + a.minutes + 1 > a.deadline_min:
            print(f"{name}: not started, it would end after the {a.deadline_min:g}-minute deadline", file=sys.stderr)
            doc["rows"].append({"name": name, "sets": row_sets, "skipped": "deadline"})
            write()
            continue
        t0 = time.time()
        cmd, rc = train_row(run, a, row_sets)
        row = {"name": name, "sets": row_sets, "run": str(run), "command": shlex.join(shown_command(cmd)),
               "returncode": rc, "wall_s": round(time.time() - t0, 1)}
        if rc == 0 and finished(run):
            row.update(run_summary(run))
            row["scores"] = ev(DFREC.from_pretrained(run / "model", map_location=ev.device))
            print(f"{name}: " + ", ".join(f"{s} target {row['scores'][s].get('idsim_target', float('nan')):.3f}"
                                          for s in sets), flush=True)
        else:
            print(f"{name}: training failed (exit {rc}); the other rows go on", file=sys.stderr, flush=True)
        doc["rows"].append(row)
        write()
    print(markdown(doc))
    return 0 if all(r.get("scores") for r in doc["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
