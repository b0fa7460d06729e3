"""Converters of public layouts (FaceForensics++, CelebaMegaFS, FFHQ-E4S) to triple folders,
on tiny trees built here from public-domain faces."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dfrec.data import TripleFolder
from dfrec.data.datasets.ffpp import prepare_ffpp
from dfrec.data.datasets.swaps import prepare_e4s, prepare_megafs
from dfrec.errors import InputError
from dfrec.io import read_image, write_image


def _frame(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (256, 320), interpolation=cv2.INTER_AREA)


def _fake(img: np.ndarray) -> np.ndarray:
    """'Manipulate' the middle of the image (where the face is)."""
    out = img.copy()
    h, w = out.shape[:2]
    out[int(h * 0.35):int(h * 0.6), int(w * 0.35):int(w * 0.65)] = 230
    return out


def _video(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (w, h))
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


@pytest.fixture(scope="module")
def people(face_folder):
    return _frame(read_image(face_folder / "obama" / "obama.jpg")), _frame(read_image(face_folder / "biden" / "biden.jpg"))


def test_ffpp_layout(people, tmp_path):
    obama, biden = people
    root = tmp_path / "ffpp"
    orig = root / "original_sequences" / "youtube" / "c23" / "videos"
    _video(orig / "000.mp4", [obama] * 3)
    _video(orig / "001.mp4", [biden] * 3)
    _video(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000_001.mp4", [_fake(obama)] * 3)
    _video(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000_777.mp4", [_fake(obama)] * 3)
    out = prepare_ffpp(root, tmp_path / "out", methods=("Deepfakes",), frames=2, progress=False)
    idx = json.loads((out / "index.json").read_text())
    assert [f["name"] for f in idx["failures"]] == ["000_777.mp4"]  # source video missing: listed
    ds = TripleFolder(out)
    fakes = [r for r in ds.records if r["kind"] == "ffpp/Deepfakes"]
    reals = [r for r in ds.records if r["kind"] == "real"]
    assert len(fakes) == 2 and len(reals) == 2
    assert {(r["source_id"], r["target_id"]) for r in fakes} == {("001", "000")}
    it = ds[ds.records.index(fakes[0])]
    assert it["mask_estimated"]
    m = it["mask"][0]
    assert m.max() > 0.9 and 0.02 < m.mean() < 0.5 and m[:20, :20].max() < 0.1
    # forgery and target are registered: away from the manipulated patch they agree (mp4 noise only)
    far = m == 0
    assert (it["forgery"][:, far] - it["target"][:, far]).abs().mean() < 0.03
    with pytest.raises(InputError):
        prepare_ffpp(tmp_path / "nothing", tmp_path / "o2", progress=False)


def test_megafs_and_e4s_layouts(people, tmp_path):
    obama, biden = people
    mega = tmp_path / "megafs"
    write_image(mega / "CelebA-HQ-img" / "0.jpg", obama)
    write_image(mega / "CelebA-HQ-img" / "3.jpg", biden)
    write_image(mega / "FTM" / "0_3.jpg", _fake(obama))
    write_image(mega / "LCR" / "0_9.jpg", _fake(obama))  # source image missing
    out = prepare_megafs(mega, tmp_path / "mega_out", progress=False)
    ds = TripleFolder(out)
    assert len(ds) == 1 and ds.records[0]["kind"] == "megafs/FTM"
    assert (ds.records[0]["source_id"], ds.records[0]["target_id"]) == ("3", "0")
    assert len(json.loads((out / "index.json").read_text())["failures"]) == 1

    e4s = tmp_path / "e4s"
    write_image(e4s / "ffhq" / "00000.png", obama)
    write_image(e4s / "ffhq" / "00003.png", biden)
    write_image(e4s / "swaps" / "00000_00003.png", _fake(obama))
    ds = TripleFolder(prepare_e4s(e4s, tmp_path / "e4s_out", progress=False))
    assert len(ds) == 1 and ds.records[0]["kind"] == "e4s" and ds.records[0]["source_id"] == "00003"
    it = ds[0]
    assert it["forgery"].shape == (3, 224, 224) and it["mask"][0][:20, :20].max() < 0.1
