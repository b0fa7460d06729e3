"""scripts/resize_mask_ratio.py: a model at another mask ratio whose fusion rows are the old ones."""

from __future__ import annotations

import torch

from repo_scripts import load_script


def test_the_resized_model_keeps_every_tensor_and_its_rows(tiny_checkpoint, tmp_path):
    from dfrec.models import DFREC

    resize = load_script("scripts/resize_mask_ratio.py")
    old = DFREC.from_pretrained(tiny_checkpoint).eval()
    out = resize.resize(tiny_checkpoint, 0.25, tmp_path / "r25")
    new = DFREC.from_pretrained(out).eval()
    k_old, k_new = old.config.n_keep, new.config.n_keep
    assert new.config.mask_ratio == 0.25 and k_new > k_old
    # what the masking keeps follows the new ratio: more visible patches
    m = torch.rand(2, 1, new.config.image_size, new.config.image_size)
    assert new.choose_patches(m)[0].shape[1] == k_new and old.choose_patches(m)[0].shape[1] == k_old
    # every tensor outside the SIRM's target head is unchanged
    a, b = old.state_dict(), new.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        if not name.startswith("sirm.target_head."):
            assert torch.equal(a[name], b[name]), name
    # the head's rows are the old ones, re-indexed by relative rank: first to first, last to last
    x = torch.rand(2, 3, new.config.image_size, new.config.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rows_old, rows_new = old.sirm(x)[1], new.sirm(x)[1]
    idx = torch.tensor([round(k * (k_old - 1) / (k_new - 1)) for k in range(k_new)])
    assert rows_new.shape[1] == k_new and idx[0] == 0 and idx[-1] == k_old - 1
    torch.testing.assert_close(rows_new, rows_old[:, idx], atol=1e-5, rtol=1e-4)
    # and the resized model runs end to end
    with torch.no_grad():
        assert new(x)["target"].shape == x.shape
    assert "mask_ratio 0.5 -> 0.25" in new.checkpoint_metadata["status"]
