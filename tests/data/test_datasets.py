"""Datasets: item contract, determinism across DataLoader workers, build_dataset, triples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dfrec.data import TripleFolder, build_dataset
from dfrec.data.cache import write_pack
from dfrec.data.datasets.synthetic import SyntheticForgeries
from dfrec.data.datasets.triples import difference_mask
from dfrec.data.faceset import open_cache
from dfrec.data.synth import SynthConfig, Synthesizer
from dfrec.data.writer import write_index, write_sample
from dfrec.errors import ConfigError

NO_AUG = {"augment": {"flip_prob": 0.0, "jitter_prob": 0.0, "jpeg_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0}}


def test_items_follow_the_contract(face_cache):
    ds = SyntheticForgeries(open_cache(face_cache), SynthConfig(), seed=0, length=12)
    seen = set()
    for i in range(len(ds)):
        it = ds[i]
        for k in ("forgery", "source", "target"):
            assert it[k].shape == (3, 224, 224) and it[k].dtype == torch.float32
            assert 0.0 <= it[k].min() and it[k].max() <= 1.0
        assert it["mask"].shape == (1, 224, 224) and 0.0 <= it["mask"].min() and it["mask"].max() <= 1.0
        assert float(it["is_fake"]) == (0.0 if it["kind"] == "real" else 1.0)
        if it["kind"] == "real":
            assert not it["mask"].any()
        if it["kind"] in ("swap", "blend"):
            assert it["source_id"] != it["target_id"]
        seen.add(it["kind"])
    assert len(seen) >= 2


def test_uint8_images_carry_the_same_pixels(face_cache):
    from dfrec.io import to_float

    faces = open_cache(face_cache)
    f32 = SyntheticForgeries(faces, SynthConfig(), seed=5, length=4)
    u8 = SyntheticForgeries(faces, SynthConfig(), seed=5, length=4, uint8_images=True)
    for i in range(4):
        a, b = f32[i], u8[i]
        for k in ("forgery", "source", "target"):
            assert b[k].dtype == torch.uint8 and b[k].shape == (3, 224, 224) and b[k].is_contiguous()
            assert torch.equal(to_float(b[k]), a[k])
        assert torch.equal(a["mask"], b["mask"]) and b["mask"].dtype == torch.float32
        assert a["kind"] == b["kind"] and a["source_id"] == b["source_id"]


def test_workers_are_deterministic_and_epochs_differ(face_cache):
    faces = open_cache(face_cache)
    ds = SyntheticForgeries(faces, SynthConfig(), seed=3, length=6)
    ref = [ds[i] for i in range(6)]
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    got = torch.cat([b["forgery"] for b in batches])
    assert torch.equal(got, torch.stack([r["forgery"] for r in ref]))
    assert [k for b in batches for k in b["kind"]] == [r["kind"] for r in ref]
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["forgery"], ref[i]["forgery"]) for i in range(6))


def test_packed_faces_are_upsampled_to_model_size(face_cache, tmp_path):
    pack = write_pack(open_cache(face_cache), tmp_path / "p", size=96, progress=False)
    ds = build_dataset("folder", split=None, cache=pack, length=4, synth=NO_AUG)
    it = ds[0]
    assert it["forgery"].shape == (3, 224, 224)
    if it["kind"] != "real":
        out = it["mask"][0] == 0
        assert torch.equal(it["forgery"][:, out], it["target"][:, out])


def test_build_dataset_lfw_split(face_cache, lfw_dir, tmp_path):
    """An LFW build keeps only the split's people (here from a cache of a few LFW images)."""
    from dfrec.data.cache import index_folder
    from dfrec.data.datasets.lfw import load_split

    split = load_split()
    root = lfw_dir / "images_deepfunneled"
    files = [f"{p}/{p}_0001.jpg" for p in split["train"][:4] + split["test"][:4]]
    cache = tmp_path / "c"
    index_folder(root, cache, files=files, progress=False)
    ds = build_dataset("lfw", split="test", cache=cache, length=3)  # reads the cache, no detection
    assert set(ds.faces.identities) <= set(split["test"]) and len(ds.faces) >= 3
    with pytest.raises(ConfigError):
        build_dataset("imagenet", root=root)


def test_triple_folder_reads_written_samples(fixture_faces, tmp_path):
    synth = Synthesizer(SynthConfig.from_dict(NO_AUG))
    t, s = fixture_faces[0], fixture_faces[3]
    recs = [write_sample(tmp_path, f"s{i}", synth(t, s, kind=k, rng=i)) for i, k in enumerate(["swap", "real"])]
    write_index(tmp_path, recs, {"note": "test"})
    (tmp_path / "s1_mask.png").unlink()  # a real sample without mask: zeros, not estimated
    (tmp_path / "lonely_forgery.png").write_bytes((tmp_path / "s0_forgery.png").read_bytes())  # incomplete: skipped
    ds = TripleFolder(tmp_path, size=128)
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    assert a["kind"] == "swap" and a["source_id"] == "biden" and a["target_id"] == "obama" and float(a["is_fake"]) == 1
    assert a["forgery"].shape == (3, 128, 128) and not a["mask_estimated"]
    assert b["kind"] == "real" and not b["mask"].any()
    u8 = TripleFolder(tmp_path, size=128, uint8_images=True).split("train,val,test").head(2)
    from dfrec.io import to_float

    assert u8[0]["forgery"].dtype == torch.uint8 and torch.equal(to_float(u8[0]["forgery"]), a["forgery"])


def test_difference_mask_finds_the_changed_region():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    f = t.copy()
    f[20:40, 20:40] = 255 - f[20:40, 20:40]
    m = difference_mask(f, t)
    assert m[25:35, 25:35].min() > 0.9 and m[:10].max() == 0.0
