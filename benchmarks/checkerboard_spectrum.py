"""The 2-px checkerboard in recovered targets: where it sits in the spectrum, and what removing it costs.

    python benchmarks/checkerboard_spectrum.py [--checkpoint DIR] [--n 64] [--split val] [--json]

On the gate's held-out swaps (:func:`dfrec.train.heldout.heldout_sets`, LFW validation
identities by default) it prints, per image set inside the face ellipse: the checkerboard
measure (:mod:`dfrec.metrics.checkerboard`), the luma power at the Nyquist frequency (π, π)
and in frequency bands relative to the forgery's (centre 128 px, Hann window), both
blockiness measures, and the IDSim with the true target and the true source (paired against
the plain recovery). The sets: the forgery, the true target, the model's recovered target
(``antialias`` as the checkpoint has it, default off), the MAE output before the refinement,
the recovered target under a whole-crop 3x3 binomial blur (does the identity network read
the checkerboard?), and the model with ``antialias`` switched on.

docs/training.md ("The checkerboard inside the recovered face", CPU run 28) quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: radial bands in cycles/px (max of |fx|, |fy|), the last one up to Nyquist
BANDS = ((0.0, 0.125), (0.125, 0.25), (0.25, 0.375), (0.375, 0.51))


def power_spectrum(img):
    """Mean luma power spectrum ``(128, 128)`` over images ``(N, 3, S, S)`` in [0, 1] (centre crop, Hann)."""
    import torch

    from dfrec.metrics._luma import luma

    s = img.shape[-1]
    o = (s - 128) // 2
    y = luma(img.double())[:, 0, o:o + 128, o:o + 128]
    h = torch.hann_window(128, periodic=False, dtype=torch.float64)
    y = (y - y.mean((1, 2), keepdim=True)) * h[:, None] * h[None]
    return torch.fft.fft2(y).abs().pow(2).mean(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--cache", default=".cache/lfw_index", help="landmark cache or pack with the LFW faces")
    ap.add_argument("--n", type=int, default=64, help="swaps (default 64)")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    a = ap.parse_args(argv)

    import torch

    from dfrec.faces.identity import IdentityEncoder, idsim
    from dfrec.metrics.blockiness import blockiness
    from dfrec.metrics.checkerboard import checkerboard
    from dfrec.models import DFREC
    from dfrec.models.dfrec import face_prior_mask
    from dfrec.models.tirm import Refiner, binomial_blur
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.train.heldout import heldout_sets

    torch.set_num_threads(a.threads)
    model = DFREC.from_pretrained(a.checkpoint or DEFAULT_CHECKPOINT).eval()
    data = heldout_sets(a.cache, a.n, split=a.split, names=["swap"])["swap"]
    items = [data[i] for i in range(len(data))]
    x, true_t, true_s = (torch.stack([it[k].float().clamp(0, 1) for it in items]) for k in ("forgery", "target", "source"))

    raw: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: raw.append(inp[0].detach()))
             for m in model.modules() if isinstance(m, Refiner)]

    def recover(antialias: bool) -> torch.Tensor:
        model.tirm.antialias = antialias
        out = []
        with torch.no_grad():
            for i in range(0, len(x), 16):
                out.append(model(x[i:i + 16], generator=torch.Generator().manual_seed(i))["target"].clamp(0, 1))
        return torch.cat(out)

    own = bool(model.tirm.antialias)
    plain = recover(own)
    before = torch.cat(raw) if raw else None
    for h in hooks:
        h.remove()
    switched = recover(not own)
    model.tirm.antialias = own
    sets = [("forgery", x), ("true target", true_t), (f"recovered (antialias {'on' if own else 'off'})", plain)]
    if before is not None:
        sets.append(("MAE output before the refinement", before))
    sets += [("recovered, whole crop blurred (binomial 3x3)", binomial_blur(plain)),
             (f"recovered (antialias {'off' if own else 'on'})", switched)]

    enc = IdentityEncoder()
    with torch.no_grad():
        e_t, e_s = enc(true_t), enc(true_s)
        base = idsim(enc(plain), e_t)
    face = face_prior_mask(x.shape[-1])
    ref = power_spectrum(x)
    f = torch.fft.fftfreq(128).abs()
    radius = torch.maximum(f[:, None], f[None])
    rows = []
    for name, img in sets:
        p = power_spectrum(img)
        with torch.no_grad():
            e = enc(img)
        sim_t, sim_s = idsim(e, e_t), idsim(e, e_s)
        d = (sim_t - base).double()
        row = {"images": name, "n": len(img), "checker": float(checkerboard(img, face)),
               "nyquist_power_vs_forgery": float(p[64, 64] / ref[64, 64]),
               "blockiness": float(blockiness(img, face)), "blockiness_mid": float(blockiness(img, face, reference="midline")),
               "idsim_target": float(sim_t.mean()), "idsim_target_paired": float(d.mean()),
               "idsim_target_paired_se": float(d.std() / len(d) ** 0.5), "idsim_source": float(sim_s.mean())}
        for lo, hi in BANDS:
            band = (radius >= lo) & (radius < hi)
            row[f"power_{lo:g}-{min(hi, 0.5):g}_vs_forgery"] = float(p[band].sum() / ref[band].sum())
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model: {a.checkpoint or 'bundled'}; {len(x)} held-out swaps ({a.split} identities), face ellipse; "
          "power: luma, centre 128 px, relative to the forgery's; IDSim paired against the first recovered row")
    bands = [f"power {lo:g}-{min(hi, 0.5):g} c/px" for lo, hi in BANDS]
    print("| images | checker | power at (π, π) | " + " | ".join(bands)
          + " | blockiness / mid | IDSim target (paired) | IDSim source |")
    print("|---|" + "---|" * (6 + len(BANDS)))
    for r in rows:
        pw = " | ".join(f"{r[k]:.2f}" for k in r if k.startswith("power_"))
        print(f"| {r['images']} | {r['checker']:.3f} | {r['nyquist_power_vs_forgery']:.1f} | {pw} | "
              f"{r['blockiness']:.3f} / {r['blockiness_mid']:.3f} | {r['idsim_target']:.3f} "
              f"({r['idsim_target_paired']:+.4f} ± {r['idsim_target_paired_se']:.4f}) | {r['idsim_source']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
