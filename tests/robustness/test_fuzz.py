"""A bounded fuzz run over the image reader and the face detector: random sizes, modes,
formats and byte-level damage, for a fixed time budget (DFREC_FUZZ_SECONDS, default 25 s;
the budget only bounds how many inputs are tried, nothing is asserted about time).

Every input must end in one of: an image, or an :class:`InputError` with a one-line message
free of library text; then, for images, faces or an :class:`InputError`. Detection runs in
an :class:`IsolatedDetector`, so a native crash is counted (and must stay at 0) instead of
killing the test run. The seed is fixed (DFREC_FUZZ_SEED to explore others), so a failure
reproduces.
"""

from __future__ import annotations

import io
import os
import time
import traceback
import warnings
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from dfrec.errors import InputError
from dfrec.faces.detect import FaceDetector
from dfrec.faces.worker import DetectorCrash, IsolatedDetector
from dfrec.io import read_image

from .conftest import raw_lines

pytest.importorskip("dlib")

BUDGET_S = float(os.environ.get("DFREC_FUZZ_SECONDS", "25"))
SEED = int(os.environ.get("DFREC_FUZZ_SEED", "20261201"))
MODES = ("RGB", "L", "RGBA", "LA", "P", "1", "I;16", "I", "F", "CMYK")
FORMATS = (("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp"),
           ("GIF", ".gif"), ("PPM", ".ppm"))


def _size(rng: np.random.Generator) -> tuple[int, int]:
    kind = rng.integers(4)
    if kind == 0:  # thin: the shapes that crashed dlib
        short, long = int(rng.integers(1, 40)), int(rng.integers(100, 4000))
        return (short, long) if rng.integers(2) else (long, short)
    if kind == 1:  # tiny
        return int(rng.integers(1, 48)), int(rng.integers(1, 48))
    return int(rng.integers(16, 320)), int(rng.integers(16, 320))


def _image(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if rng.integers(2) else np.broadcast_to(
        np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (h, w, 3)).copy()
    img = Image.fromarray(base)
    mode = MODES[rng.integers(len(MODES))]
    if mode == "I;16":
        return Image.fromarray((base[..., 0].astype(np.uint16) * 257))
    if mode == "P":
        return img.convert("P", palette=Image.ADAPTIVE, colors=int(rng.integers(2, 256)))
    return img.convert(mode)


def _encode(rng: np.random.Generator, img: Image.Image) -> tuple[bytes, str]:
    fmt, suffix = FORMATS[rng.integers(len(FORMATS))]
    buf = io.BytesIO()
    try:
        kw = {"save_all": True, "append_images": [img]} if fmt in ("GIF", "TIFF") and rng.integers(3) == 0 else {}
        img.save(buf, format=fmt, **kw)
    except (OSError, ValueError, KeyError):  # this mode cannot be stored in this format
        buf = io.BytesIO()
        img.save(buf, format="TIFF")
        suffix = ".tif"
    return buf.getvalue(), suffix


def _damage(rng: np.random.Generator, data: bytes) -> bytes:
    b = bytearray(data)
    how = rng.integers(6)
    if how == 0 or not b:
        return bytes(b)  # intact
    if how == 1:  # flip bytes anywhere
        for i in rng.integers(0, len(b), int(rng.integers(1, 16))):
            b[i] = int(rng.integers(256))
    elif how == 2:  # flip bytes in the header (sizes, modes, chunk lengths)
        for i in rng.integers(0, min(len(b), 64), int(rng.integers(1, 6))):
            b[i] = int(rng.integers(256))
    elif how == 3:  # truncate
        b = b[: int(rng.integers(0, len(b)))]
    elif how == 4:  # insert junk
        at = int(rng.integers(0, len(b)))
        b[at:at] = rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
    else:  # pure noise with a real magic number
        magic = bytes(b[:8])
        b = bytearray(magic + rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes())
    return bytes(b)


def test_fuzz_image_reader_and_detector(tmp_path):
    rng = np.random.default_rng(SEED)
    counts: Counter[str] = Counter()
    problems: list[str] = []
    deadline = time.monotonic() + BUDGET_S
    with IsolatedDetector(FaceDetector()) as det:
        while time.monotonic() < deadline:
            w, h = _size(rng)
            data, suffix = _encode(rng, _image(rng, w, h))
            data = _damage(rng, data)
            path = tmp_path / f"fuzz{counts['inputs']:05d}{suffix}"
            path.write_bytes(data)
            counts["inputs"] += 1
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    image = read_image(path)
                if caught:  # Python warnings print as multi-line library text on the user's terminal
                    problems.append(f"{path.name}: warning escaped the reader: {caught[0].message}")
            except InputError as e:
                counts["refused by the reader"] += 1
                if "\n" in str(e) or raw_lines(str(e)):
                    problems.append(f"{path.name}: raw reader message: {e!r}")
                continue
            except Exception:  # noqa: BLE001 - anything else is a finding
                problems.append(f"{path.name}: reader raised {traceback.format_exc(limit=2)}")
                continue
            try:
                faces = det.detect(image)
                counts["detected" if faces else "no face"] += 1
            except DetectorCrash as e:
                counts["native crashes"] += 1
                problems.append(f"{path.name} ({image.shape}): {e}")
            except InputError as e:
                counts["refused by the detector"] += 1
                if "\n" in str(e) or raw_lines(str(e)) or "dlib" in str(e):
                    problems.append(f"{path.name} ({image.shape}): raw or native detector message: {e!r}")
            except Exception:  # noqa: BLE001
                problems.append(f"{path.name} ({image.shape}): detector raised {traceback.format_exc(limit=2)}")
            finally:
                path.unlink(missing_ok=True)
        counts["native crashes"] += 0
        counts["worker restarts"] = det.crashes
    print(f"\nfuzz (seed {SEED}, {BUDGET_S:g} s): {dict(counts)}")
    assert counts["inputs"] >= 10, counts
    assert problems == [], "\n".join(problems[:20])
    assert det.crashes == 0
