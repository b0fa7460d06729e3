"""Checking uploaded files: what they really are (content, not extension), and safe names.

Nothing the browser sends is trusted. The kind of a file comes from its first bytes
(:func:`dfrec.io.sniff`); images are also opened (header only, no decoding) to check that the
format parses and the pixel count is within the limit. A file is stored under a name the
server makes (:func:`stored_name`: letters/digits/``._-`` from the original name, the
extension of the *detected* type) inside a numbered folder the server creates, so no path or
name from the user reaches the filesystem as given.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from dfrec.io import Sniffed, enable_heif, stream_manifest

def describe_unknown(head: bytes) -> str:
    """Why a file is refused, in words, from its first bytes."""
    h = head
    if not h:
        return "the file is empty"
    if h[:4] == b"%PDF":
        return "a PDF document, not an image or a video"
    if h[:4] == b"PK\x03\x04":
        return "a ZIP archive (or an Office document), not an image or a video: upload the files inside it"
    if manifest := stream_manifest(h):
        return manifest
    try:
        h.decode("utf-8")
        return "text, not an image or a video"
    except UnicodeDecodeError:
        pass
    return "not an image or a video dfrec can read (unknown file type)"


def check_image(fh: BinaryIO, expected: Sniffed, max_pixels: int) -> str | None:
    """Open an image's header (no decoding): ``None`` when fine, else the reason it is refused."""
    import warnings

    from PIL import Image

    if expected.ext == ".heic" and not enable_heif():
        return "an HEIC/HEIF image, and pillow-heif (which reads them) is not installed on the server"
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(fh) as im:
                w, h = im.size
                fmt = im.format
    except Image.DecompressionBombError:
        return "the image is too large to open safely (decompression bomb guard)"
    except Exception as e:  # any parser error of a damaged header
        return f"looks like a {expected.label} but cannot be read ({e.__class__.__name__})"
    finally:
        fh.seek(0)
    if w < 1 or h < 1:
        return "the image has no pixels"
    if w * h > max_pixels:
        return f"the image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {max_pixels / 1e6:.0f}"
    if fmt is None:
        return f"looks like a {expected.label} but cannot be read"
    return None


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def display_name(filename: str | None) -> str:
    """The last component of a browser-sent file name, for display only (at most 200 chars)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return (name or "upload")[:200]


def stored_name(filename: str | None, ext: str) -> str:
    """``<stem><ext>``: letters, digits and ``._-`` only, never hidden, at most ~70 chars; the
    extension is the one of the detected type."""
    stem = display_name(filename).rsplit(".", 1)[0]
    stem = _SAFE.sub("_", stem).strip("._-")[:60] or "upload"
    return f"{stem}{ext}"
