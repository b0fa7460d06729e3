"""Build ``assets/identity_mean.npy``: the mean embedding that :func:`dfrec.faces.identity.idsim` subtracts.

``python scripts/build_identity_mean.py --lfw DIR [--n 512] [--out PATH]`` takes the LFW
identities that do **not** appear in ``pairs.txt`` (so the verification benchmark plays
no part in it), sorted by name, the first ``n`` of them, and the first image (sorted by
file name) of each. Each image goes through :class:`dfrec.faces.detect.FaceDetector`
(``upsample=0``: deep-funneled LFW faces are large; on a miss HOG with one upsampling,
then dlib's CNN detector), the face whose box centre is nearest the image centre (LFW
labels the centred person), dlib's 150 px chip and :class:`~dfrec.faces.identity.IdentityNet`.
Images where no detector finds a face are left out. The mean of the embeddings is stored
as float32 ``(128,)``.

The shipped file was made by this command with its defaults; ``tests/faces/test_assets.py``
regenerates it and compares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfrec.faces.identity import IDENTITY_MEAN_FILE

#: identities averaged for the shipped file
DEFAULT_IDENTITIES = 512


def pair_identities(lfw_dir: str | Path) -> set[str]:
    """Names of every person in LFW's ``pairs.txt`` (same- and different-person lines)."""
    names: set[str] = set()
    lines = (Path(lfw_dir) / "pairs.txt").read_text().splitlines()[1:]
    for ln in lines:
        f = ln.split()
        if len(f) == 3:
            names.add(f[0])
        elif len(f) == 4:
            names.update((f[0], f[2]))
    return names


def mean_images(lfw_dir: str | Path, n: int = DEFAULT_IDENTITIES) -> list[Path]:
    """The first image of each of the first ``n`` identities (by name) outside ``pairs.txt``."""
    root = Path(lfw_dir) / "images_deepfunneled"
    used = pair_identities(lfw_dir)
    people = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in used)[:n]
    return [sorted((root / p).glob("*.jpg"))[0] for p in people]


def build_identity_mean(lfw_dir: str | Path, n: int = DEFAULT_IDENTITIES, progress: bool = True) -> tuple[np.ndarray, dict]:
    """(mean (128,) float32, info) over ``n`` identities outside ``pairs.txt`` (see the module docstring)."""
    import torch
    from tqdm import tqdm

    from dfrec.faces.detect import FaceDetector, pick_face
    from dfrec.faces.identity import dlib_chip, embed_chips, get_identity_net
    from dfrec.io import read_image

    det = FaceDetector(upsample=0)
    chips, missed = [], []
    for path in tqdm(mean_images(lfw_dir, n), desc="identity mean", unit="img", disable=not progress):
        img = read_image(path)
        faces = det.detect(img)
        if not faces:
            missed.append(path.name)
            continue
        chips.append(dlib_chip(img, pick_face(faces, "central", img.shape).landmarks))
    with torch.no_grad():
        embs = embed_chips(chips, get_identity_net("cpu"))
    mean = np.mean(embs.astype(np.float64), axis=0).astype(np.float32)
    return mean, {"identities": len(embs), "undetected": missed, "norm": float(np.linalg.norm(mean)),
                  "embedding_norm_mean": float(np.linalg.norm(embs, axis=1).mean())}


def write_identity_mean(lfw_dir: str | Path, out: str | Path = IDENTITY_MEAN_FILE, n: int = DEFAULT_IDENTITIES,
                        progress: bool = True) -> dict:
    """Build the mean (:func:`build_identity_mean`) and write it to ``out`` (default: the packaged
    asset) atomically, readable by everyone; returns the info dict."""
    from dfrec.io import atomic_path

    mean, info = build_identity_mean(lfw_dir, n, progress=progress)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, mean)
    Path(out).chmod(0o644)
    return info
