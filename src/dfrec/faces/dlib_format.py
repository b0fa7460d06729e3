"""Reader for dlib's binary serialisation of the face-recognition ResNet (``*.dat``).

dlib writes a network as nested layer objects. The facts this reader relies on:

- integers: one control byte (low 4 bits = number of bytes, bit 0x80 = negative), then
  that many little-endian bytes; strings: integer length then bytes; booleans: ASCII
  ``'0'``/``'1'``; floats: integer mantissa then integer exponent (value = m * 2**e);
- tensors: version 2, then ``n, k, nr, nc``, then raw little-endian float32;
- the file starts with the loss layer (``loss_metric_2``: margin, distance threshold),
  then the version numbers of all nested layer wrappers (2 = computational layer,
  1 = tag/skip, 3 = the layer directly on the input), then the input layer
  (``input_rgb_image_sized``: mean R, G, B and chip size), then each computational layer
  innermost-first, i.e. in forward order, followed by its wrapper state (3 booleans and
  3 empty gradient/cache tensors, plus the sample-expansion factor on the first one).

:func:`read_metric_net` parses the whole file, checks that it is the layer sequence of
dlib's ``dlib_face_recognition_resnet_model_v1`` and returns the weights as numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfrec.errors import CheckpointError


class _Reader:
    """Sequential reader of dlib's serialisation primitives over a bytes buffer."""

    def __init__(self, data: bytes, name: str = "<bytes>"):
        self.data = data
        self.pos = 0
        self.name = name

    def _fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.name}: not a valid dlib network file ({what} at byte {self.pos})")

    def int(self) -> int:
        if self.pos >= len(self.data):
            raise self._fail("unexpected end of file")
        ctrl = self.data[self.pos]
        n = ctrl & 0x0F
        if n > 8 or self.pos + 1 + n > len(self.data):
            raise self._fail("bad integer")
        v = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -v if ctrl & 0x80 else v

    def string(self) -> str:
        n = self.int()
        if n < 0 or n > 256 or self.pos + n > len(self.data):
            raise self._fail("bad string")
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise self._fail("bad string") from None

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        if self.pos >= len(self.data) or self.data[self.pos] not in (0x30, 0x31):
            raise self._fail("bad boolean")
        v = self.data[self.pos] == 0x31
        self.pos += 1
        return v

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise self._fail(f"unsupported tensor version {version}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        nbytes = 4 * count
        if min(shape) < 0 or self.pos + nbytes > len(self.data):
            raise self._fail("truncated tensor")
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).reshape(shape)
        self.pos += nbytes
        return arr.astype(np.float32)

    def alias_shape(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor`` (a view into a layer's params): version 1 then n, k, nr, nc."""
        version = self.int()
        if version != 1:
            raise self._fail(f"unsupported alias_tensor version {version}")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]


@dataclass
class DlibLayer:
    """One computational layer as stored: ``kind`` (e.g. ``con``), geometry, weights."""

    kind: str
    params: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


@dataclass
class DlibMetricNet:
    """Parsed ``loss_metric`` network: input mean (R, G, B), chip size, layers in forward order."""

    mean_rgb: tuple[float, float, float]
    chip_size: int
    margin: float
    distance_threshold: float
    layers: list[DlibLayer]

    def of_kind(self, kind: str) -> list[DlibLayer]:
        return [layer for layer in self.layers if layer.kind == kind]


def _read_layer(r: _Reader) -> DlibLayer:
    name = r.string()
    if name == "con_4":
        params = r.tensor().reshape(-1)
        nf, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
        fshape = r.alias_shape()
        bshape = r.alias_shape()
        lr, wd, blr, bwd = (r.float() for _ in range(4))
        nw = int(np.prod(fshape))
        w = params[:nw].reshape(fshape)
        b = params[nw : nw + int(np.prod(bshape))].reshape(-1)
        if w.shape[0] != nf or b.shape[0] != nf or (nr, nc) != w.shape[2:]:
            raise r._fail("inconsistent con_ layer")
        return DlibLayer("con", dict(filters=nf, kernel=(nr, nc), stride=(sy, sx), padding=(py, px)),
                         dict(weight=w, bias=b))
    if name == "affine_":
        params = r.tensor().reshape(-1)
        gshape = r.alias_shape()
        r.alias_shape()  # beta has the same shape
        mode = r.int()
        n = int(np.prod(gshape))
        return DlibLayer("affine", dict(mode=mode), dict(gamma=params[:n].copy(), beta=params[n : 2 * n].copy()))
    if name == "relu_":
        return DlibLayer("relu")
    if name == "add_prev_":
        return DlibLayer("add_prev")
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return DlibLayer(name[:-2], dict(kernel=(nr, nc), stride=(sy, sx), padding=(py, px)))
    if name == "fc_2":
        n_out = r.int()
        n_in = r.int()
        params = r.tensor().reshape(-1)
        wshape = r.alias_shape()
        bshape = r.alias_shape()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        w = params[: int(np.prod(wshape))].reshape(n_in, n_out)
        b = params[int(np.prod(wshape)) : int(np.prod(wshape)) + int(np.prod(bshape))]
        return DlibLayer("fc", dict(inputs=n_in, outputs=n_out, bias_mode=bias_mode),
                         dict(weight=w.copy(), bias=b.copy()))
    raise r._fail(f"unsupported layer type {name!r}")


def read_metric_net(path: str | os.PathLike) -> DlibMetricNet:
    """Parse a dlib ``loss_metric`` ResNet file (e.g. ``dlib_face_recognition_resnet_model_v1.dat``).

    Raises :class:`CheckpointError` for a missing, truncated or foreign file.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such file")
    r = _Reader(p.read_bytes(), str(p))
    if r.int() != 1 or r.string() != "loss_metric_2":
        raise CheckpointError(f"{p}: not a dlib metric-learning network (expected loss_metric_2)")
    margin = r.float()
    dist_thresh = r.float()
    versions = []
    while True:
        v = r.int()
        versions.append(v)
        if v == 3:
            break
        if v not in (1, 2) or len(versions) > 10_000:
            raise r._fail(f"unexpected layer version {v}")
    if r.string() != "input_rgb_image_sized":
        raise r._fail("expected input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    nr, nc = r.int(), r.int()
    n_layers = sum(1 for v in versions if v in (2, 3))
    layers = []
    for i in range(n_layers):
        layers.append(_read_layer(r))
        for _ in range(3):
            r.bool()
        for _ in range(3):
            r.tensor()
        if i == 0:
            r.int()  # sample expansion factor of the input-facing layer
    if r.pos != len(r.data):
        raise r._fail(f"{len(r.data) - r.pos} trailing bytes")
    if nr != nc:
        raise CheckpointError(f"{p}: non-square input chip {nr}x{nc}")
    return DlibMetricNet(mean, nr, margin, dist_thresh, layers)
