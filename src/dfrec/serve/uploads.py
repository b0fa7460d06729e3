"""Checking uploaded files: what they really are (content, not extension), and safe names.

Nothing the browser sends is trusted. The kind of a file comes from its first bytes
(:func:`sniff`); images are also opened (header only, no decoding) to check that the
format parses and the pixel count is within the limit. A file is stored under a name the
server makes (:func:`stored_name`: letters/digits/``._-`` from the original name, the
extension of the *detected* type) inside a numbered folder the server creates, so no path or
name from the user reaches the filesystem as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

from dfrec.io import AVIF_BRANDS, HEIF_BRANDS, enable_heif, ftyp_brand

#: Bytes read to decide a file's type.
HEAD_BYTES = 64


@dataclass
class Sniffed:
    """A recognised file: ``kind`` (``image``/``video``), ``ext`` (with dot), ``label``."""

    kind: str
    ext: str
    label: str


def sniff(head: bytes) -> Sniffed | None:
    """The type of a file from its first bytes, or ``None`` when dfrec cannot read it."""
    h = head
    if h[:3] == b"\xff\xd8\xff":
        return Sniffed("image", ".jpg", "JPEG image")
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return Sniffed("image", ".png", "PNG image")
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return Sniffed("image", ".webp", "WebP image")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("image", ".tif", "TIFF image")
    if h[:2] == b"BM" and len(h) >= 26:
        return Sniffed("image", ".bmp", "BMP image")
    if h[:2] in (b"P5", b"P6") and len(h) > 2 and h[2:3].isspace():
        return Sniffed("image", ".ppm" if h[:2] == b"P6" else ".pgm", "PPM/PGM image")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", ".gif", "GIF image")
    brand = ftyp_brand(h)
    if brand in AVIF_BRANDS:
        return Sniffed("image", ".avif", "AVIF image")
    if brand in HEIF_BRANDS:
        return Sniffed("image", ".heic", "HEIC/HEIF image")
    if brand is not None:
        if brand == b"qt  ":
            return Sniffed("video", ".mov", "QuickTime video")
        if brand.startswith((b"M4V", b"mp4", b"iso", b"avc", b"MSNV", b"3gp", b"dash", b"M4A")):
            return Sniffed("video", ".mp4", "MP4 video")
        return Sniffed("video", ".mp4", "MP4-family video")
    if h[:4] == b"\x1aE\xdf\xa3":
        return Sniffed("video", ".webm" if b"webm" in h else ".mkv", "WebM video" if b"webm" in h else "Matroska video")
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return Sniffed("video", ".avi", "AVI video")
    return None


def describe_unknown(head: bytes) -> str:
    """Why a file is refused, in words, from its first bytes."""
    h = head
    if not h:
        return "the file is empty"
    if h[:4] == b"%PDF":
        return "a PDF document, not an image or a video"
    if h[:4] == b"PK\x03\x04":
        return "a ZIP archive (or an Office document), not an image or a video: upload the files inside it"
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
