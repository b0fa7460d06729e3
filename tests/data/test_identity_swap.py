"""The landmark swap carries the source's identity (measured with dfrec's identity network)."""

from __future__ import annotations

import torch

from dfrec.data.datasets.synthetic import to_tensor
from dfrec.data.faceset import open_cache
from dfrec.data.synth import SynthConfig, Synthesizer


def test_swap_carries_source_identity(lfw_pairs_cache):
    from dfrec.faces.identity import IdentityEncoder, idsim

    cache, pairs = lfw_pairs_cache
    faces = open_cache(cache)
    pos = {k: i for i, k in enumerate(faces.keys)}
    pairs = [(a, b) for a, b in pairs if a in pos and b in pos]
    assert len(pairs) >= 51, "too few LFW people were detected"
    synth = Synthesizer(SynthConfig(), augment=False)
    forg, src, tgt, tgt2 = [], [], [], []
    for k in range(len(pairs) - 1):  # target: person k photo A; source: person k+1 photo A
        a, b = pairs[k]
        s_key = pairs[k + 1][0]
        smp = synth(faces.crop(pos[a]), faces.crop(pos[s_key]), kind="swap", rng=k)
        forg.append(to_tensor(smp.forgery))
        src.append(to_tensor(smp.source))
        tgt.append(to_tensor(smp.target))
        tgt2.append(to_tensor(faces.crop(pos[b]).image))
    enc = IdentityEncoder().eval()
    with torch.no_grad():
        e = {n: enc(torch.stack(v)) for n, v in (("f", forg), ("s", src), ("t", tgt), ("t2", tgt2))}
    f_s = idsim(e["f"], e["s"]).mean().item()
    t_s = idsim(e["t"], e["s"]).mean().item()
    f_t = idsim(e["f"], e["t"]).mean().item()
    t_t2 = idsim(e["t"], e["t2"]).mean().item()
    print(f"swaps={len(forg)} IDSim(forgery,source)={f_s:.3f} IDSim(target,source)={t_s:.3f} "
          f"IDSim(forgery,target)={f_t:.3f} IDSim(target,target photo 2)={t_t2:.3f}")
    assert len(forg) >= 50
    assert f_s > t_s + 0.2, (f_s, t_s)
    assert f_t < t_t2 - 0.2, (f_t, t_t2)
    # per swap, most forgeries are closer to the source than the target photo is
    assert float((idsim(e["f"], e["s"]) > idsim(e["t"], e["s"])).float().mean()) > 0.8
