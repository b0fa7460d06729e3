"""Face identity with dlib's face-recognition ResNet (:class:`~dfrec.faces.dlib_resnet.IdentityNet`,
the PyTorch port in :mod:`dfrec.faces.dlib_resnet`): a differentiable chip extractor, the
encoder of aligned crops, and the similarity measures (L2 distance, dlib's 0.6 rule, IDSim).

- :class:`IdentityEncoder` takes aligned 224 crops (from :func:`dfrec.faces.align.align_face`),
  samples dlib's face chip from them with ``F.grid_sample`` (bilinear, differentiable) and
  embeds it: usable as an identity loss.
- :func:`embed_image` detects faces and embeds them with dlib's exact chip (for ``dfrec
  verify`` and the LFW benchmark).
- :func:`l2_distance`, :func:`is_same_person` (dlib: distance < 0.6 means same person) and
  :func:`idsim` (cosine similarity after removing the mean LFW embedding; see
  ``docs/identity.md``).

``dfrec export-identity OUT.safetensors [--fp16]`` (:meth:`IdentityNet.save_safetensors`)
writes the network's weights for machines without the ``.dat`` file (or without dlib).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfrec.errors import CheckpointError, NoFaceError
from dfrec.faces.dlib_resnet import CHIP_SIZE, IdentityNet

#: dlib's verification rule: two faces are the same person when the L2 distance of their
#: embeddings is below this value.
DLIB_THRESHOLD = 0.6
#: The padding around the face dlib cuts its chip (of side ``CHIP_SIZE``) with.
CHIP_PADDING = 0.25
_ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Mean embedding of LFW identities outside pairs.txt (see docs/identity.md), used by idsim.
IDENTITY_MEAN_FILE = _ASSETS / "identity_mean.npy"


# ----------------------------------------------------------------------------------------
# Differentiable chip extraction from aligned crops


def _pyramid_down(x: torch.Tensor) -> torch.Tensor:
    """Blur with the 5-tap binomial [1 4 6 4 1]/16 and keep every second pixel (as dlib's
    ``pyramid_down<2>`` does); new pixel i sits at old pixel 2i."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16.0
    c = x.shape[1]
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    x = F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)
    return x[:, :, ::2, ::2]


def chip_scale(chip_to_image: torch.Tensor | np.ndarray) -> float:
    """Image pixels per chip pixel of ``chip_to_image`` (2, 3) or (N, 2, 3), the largest over N:
    the square root of the linear part's determinant."""
    m = torch.as_tensor(chip_to_image).detach().to("cpu", torch.float64).reshape(-1, 2, 3)
    return float(torch.sqrt(torch.abs(torch.det(m[:, :, :2]))).max())


def extract_chips(
    images: torch.Tensor, chip_to_image: torch.Tensor, size: int = CHIP_SIZE, scale: float | None = None
) -> torch.Tensor:
    """Differentiable dlib-style chip extraction.

    images (N, 3, H, W) in [0, 1]; ``chip_to_image`` (2, 3) or (N, 2, 3): affine map from
    chip pixel (x, y) to image pixel coordinates (pixel centres at integers, as dlib).
    Returns (N, 3, size, size) by bilinear sampling, zeros outside the image. When the chip
    is much smaller than its footprint (scale > 2, where dlib switches to an image pyramid)
    the image is first reduced with the same 2x binomial pyramid, so the chip does not alias.
    ``scale``: :func:`chip_scale` of ``chip_to_image``, computed here when None (on a GPU that
    waits for the device); pass it for a fixed map, as :class:`IdentityEncoder` does, so a
    training step neither waits nor breaks a ``torch.compile`` graph.
    """
    n = images.shape[0]
    if scale is None:
        scale = chip_scale(chip_to_image)
    m = torch.as_tensor(chip_to_image).to(device=images.device, dtype=torch.float32)
    if m.ndim == 2:
        m = m.unsqueeze(0).expand(n, 2, 3)
    m = m.clone()
    # geometry in fp32 whatever the image dtype (bf16 coordinates would be off by ~0.5 px)
    x = images.float()
    # dlib: pyramid level while the half-size footprint is still larger than the chip area
    while scale > 2.0 and min(x.shape[-2:]) >= 8:
        x = _pyramid_down(x)
        m = m / 2.0
        scale /= 2.0
    h, w = x.shape[-2:]
    # pixel -> normalised coordinates (align_corners=False): u = (2 x + 1) / W - 1
    to_norm = torch.tensor([[2.0 / w, 0, 1.0 / w - 1], [0, 2.0 / h, 1.0 / h - 1], [0, 0, 1]],
                           dtype=m.dtype, device=m.device)
    from_norm = torch.tensor([[size / 2.0, 0, size / 2.0 - 0.5], [0, size / 2.0, size / 2.0 - 0.5], [0, 0, 1]],
                             dtype=m.dtype, device=m.device)
    m3 = torch.cat([m, torch.tensor([0, 0, 1], dtype=m.dtype, device=m.device).expand(n, 1, 3)], dim=1)
    theta = (to_norm @ m3 @ from_norm)[:, :2]
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.to(images.dtype)


class IdentityEncoder(nn.Module):
    """Aligned face crops -> dlib face chip (differentiable) -> 128-d identity embedding.

    crops (N, 3, size, size) in [0, 1], aligned by :func:`dfrec.faces.align.align_face` with
    the same ``size`` and ``margin``. The chip is a fixed sub-square of the crop
    (``align.chip_matrix``), sampled bilinearly with ``F.grid_sample``; on LFW faces the
    embedding differs from dlib's own chip pipeline by about 0.03 in L2 (max 0.07 on 16 real
    faces; the same/different scale is 0.6; see docs/identity.md).
    """

    def __init__(self, size: int = 224, margin: float | None = None, net: IdentityNet | None = None,
                 chip_to_crop: torch.Tensor | np.ndarray | None = None):
        super().__init__()
        self.size = size
        self.margin = margin
        self.net = net if net is not None else IdentityNet.from_file()
        if chip_to_crop is None:
            chip_to_crop = chip_to_crop_matrix(size, margin)
        # not persistent: a model holding the encoder as its loss keeps it out of checkpoints
        self.register_buffer("chip_to_crop", torch.as_tensor(np.asarray(chip_to_crop), dtype=torch.float32),
                             persistent=False)
        self.chip_scale = chip_scale(self.chip_to_crop)  # fixed: no device sync per call

    def chips(self, crops: torch.Tensor) -> torch.Tensor:
        """crops (N, 3, size, size) in [0, 1] -> dlib chips (N, 3, 150, 150) in [0, 1]."""
        if crops.ndim != 4 or crops.shape[1] != 3 or crops.shape[-1] != self.size or crops.shape[-2] != self.size:
            raise ValueError(f"expected crops (N, 3, {self.size}, {self.size}), got {tuple(crops.shape)}")
        return extract_chips(crops, self.chip_to_crop, CHIP_SIZE, scale=self.chip_scale)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """crops (N, 3, size, size) in [0, 1] -> embeddings (N, 128)."""
        return self.net(self.chips(crops))

    forward = embed

    def features(self, crops: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps and the embedding (see :meth:`IdentityNet.features`)."""
        return self.net.features(self.chips(crops))


def chip_to_crop_matrix(size: int = 224, margin: float | None = None) -> np.ndarray:
    """(2, 3) map from dlib chip pixels (150 chip, padding 0.25) to aligned-crop pixels,
    the inverse of :func:`dfrec.faces.align.chip_matrix`."""
    from dfrec.faces.align import DEFAULT_MARGIN, chip_matrix, invert_affine

    margin = DEFAULT_MARGIN if margin is None else float(margin)
    return invert_affine(chip_matrix(size, margin, chip_size=CHIP_SIZE, chip_padding=CHIP_PADDING))


# ----------------------------------------------------------------------------------------
# Similarity


def l2_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Euclidean distance between embeddings (..., 128) -> (...). dlib: < 0.6 means same person."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return torch.linalg.vector_norm(a.float() - b.float(), dim=-1)


def is_same_person(distance: torch.Tensor | np.ndarray | float, threshold: float = DLIB_THRESHOLD):
    """dlib's verification rule: L2 distance < ``threshold`` (0.6) means the same person."""
    if isinstance(distance, (float, int)):
        return bool(distance < threshold)
    return torch.as_tensor(distance) < threshold


#: :func:`mean_embedding`'s tensors by (device, dtype): the file is read once, and a training step
#: (compiled or not) neither touches the file system nor copies the mean to the GPU again.
_MEAN_EMBEDDINGS: dict[tuple[str, torch.dtype], torch.Tensor] = {}


def _read_mean_embedding() -> np.ndarray:
    if not IDENTITY_MEAN_FILE.exists():
        raise CheckpointError(f"{IDENTITY_MEAN_FILE}: mean identity embedding missing (rebuild with python scripts/build_identity_mean.py --lfw LFW_DIR)")
    mean = np.load(IDENTITY_MEAN_FILE).astype(np.float32)
    if mean.shape != (128,):
        raise CheckpointError(f"{IDENTITY_MEAN_FILE}: expected shape (128,), got {mean.shape}")
    return mean


def mean_embedding(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed mean embedding (128,) subtracted by :func:`idsim`; one shared tensor per
    device and dtype (do not modify it in place)."""
    key = (str(torch.device("cpu") if device is None else torch.device(device)), dtype)
    mean = _MEAN_EMBEDDINGS.get(key)
    if mean is None:
        mean = _MEAN_EMBEDDINGS[key] = torch.from_numpy(_read_mean_embedding()).to(device=device, dtype=dtype)
    return mean


def cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Raw cosine similarity of embeddings (..., 128) -> (...) in [-1, 1]."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return F.cosine_similarity(a, b, dim=-1)


def idsim(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Identity similarity in [-1, 1]: cosine of the embeddings after subtracting the mean
    embedding of LFW identities (``assets/identity_mean.npy``).

    a, b: (..., 128) dlib embeddings (broadcastable) -> (...). idsim(x, x) == 1. Raw
    cosines of dlib embeddings crowd into 0.8-0.97; centring spreads them (on LFW pairs:
    same person 0.71 +- 0.13, different people 0.00 +- 0.17; the best same/different
    threshold is 0.41, see docs/identity.md). Differentiable. ``mean``: :func:`mean_embedding`
    already on ``a``'s device (a loss module's buffer), so a compiled step reads no file.
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    dtype = a.dtype if a.is_floating_point() else torch.float32
    mu = mean_embedding(a.device, dtype) if mean is None else mean.to(dtype)
    return F.cosine_similarity(a.to(dtype) - mu, b.to(dtype) - mu, dim=-1, eps=1e-8)


# ----------------------------------------------------------------------------------------
# Whole images: detection + dlib's exact chip + embedding


@dataclass
class FaceEmbedding:
    """A detected face and its embedding: ``face`` (dfrec.faces.detect.Face), ``embedding`` (128,) float32."""

    face: Any
    embedding: np.ndarray
    chip: np.ndarray | None = None


def dlib_chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """dlib's own face chip ``get_face_chip(image, shape68, size, padding)``: (size, size, 3) uint8.

    image (H, W, 3) uint8 RGB; landmarks (68, 2) (x, y) pixels (rounded to integers, as
    dlib's shape predictor stores them).
    """
    import dlib

    pts = np.rint(np.asarray(landmarks, dtype=np.float64)).astype(int)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    shape = dlib.full_object_detection(
        dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), [dlib.point(int(x), int(y)) for x, y in pts]
    )
    return np.asarray(dlib.get_face_chip(np.ascontiguousarray(image), shape, size=size, padding=padding))


def _chips_to_tensor(chips: Sequence[np.ndarray], device: torch.device | str) -> torch.Tensor:
    from dfrec.io import to_float

    arr = to_float(np.stack([np.asarray(c) for c in chips]))
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(device)


@torch.no_grad()
def embed_chips(chips: Sequence[np.ndarray], net: IdentityNet | None = None, flip: bool = False,
                device: str | torch.device = "cpu", batch_size: int = 64) -> np.ndarray:
    """Embed uint8 chips (150, 150, 3) -> (N, 128) float32. ``flip`` averages the embedding
    of each chip and its mirror image."""
    net = net if net is not None else get_identity_net(device)
    out = []
    for i in range(0, len(chips), batch_size):
        x = _chips_to_tensor(chips[i : i + batch_size], next(net.parameters()).device)
        e = net(x)
        if flip:
            e = (e + net(torch.flip(x, dims=[3]))) / 2
        out.append(e.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


_NET_CACHE: dict[str, IdentityNet] = {}


def get_identity_net(device: str | torch.device = "cpu") -> IdentityNet:
    """A shared frozen :class:`IdentityNet` per device (built once per process)."""
    key = str(torch.device(device))
    if key not in _NET_CACHE:
        _NET_CACHE[key] = IdentityNet.from_file(device=device)
    return _NET_CACHE[key]


def embed_image(image: Any, net: IdentityNet | None = None, flip: bool = False, max_faces: int | None = None,
                device: str | torch.device = "cpu", keep_chips: bool = False, detector: Any = None,
                **detect_kwargs) -> list[FaceEmbedding]:
    """Detect every face in ``image`` (path, PIL or array) and embed it, largest face first.

    Uses :func:`dfrec.faces.detect.detect_faces` (or ``detector.detect``, e.g. a
    :class:`dfrec.faces.worker.IsolatedDetector`) and dlib's exact chip; returns an empty
    list when no face is found. ``flip`` averages with the mirrored chip.
    """
    from dfrec.faces.detect import detect_faces
    from dfrec.io import as_rgb_uint8

    img = as_rgb_uint8(image)
    faces = detector.detect(img) if detector is not None else detect_faces(img, **detect_kwargs)
    if max_faces is not None:
        faces = faces[:max_faces]
    if not faces:
        return []
    chips = [dlib_chip(img, f.landmarks) for f in faces]
    embs = embed_chips(chips, net, flip=flip, device=device)
    return [FaceEmbedding(f, e, c if keep_chips else None) for f, e, c in zip(faces, embs, chips)]


def embed_largest_face(image: Any, name: str = "image", **kwargs) -> FaceEmbedding:
    """The largest face's :class:`FaceEmbedding`; raises :class:`NoFaceError` when there is none."""
    found = embed_image(image, max_faces=1, **kwargs)
    if not found:
        raise NoFaceError(f"{name}: no face found")
    return found[0]
