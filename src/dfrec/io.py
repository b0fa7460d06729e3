"""The one door for input and output files: validated image reading and atomic writes.

``read_image`` turns any supported file (JPEG, PNG, WebP, TIFF, BMP, PPM, GIF, AVIF, and the
HEIC/HEIF photos of phones through pillow-heif) into an ``(H, W, 3) uint8`` RGB array, whatever
its mode (grayscale, palette, RGBA, 16-bit, CMYK) or EXIF orientation, and raises
:class:`dfrec.errors.InputError` with one clear line for anything it cannot read
(missing, empty, truncated, not an image, decompression bomb).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dfrec._faults import crashpoint
from dfrec.compression import estimate_jpeg_quality, read_webp_encoding
from dfrec.errors import InputError, OutputError, shown

#: Largest image accepted, in pixels (about 16k x 16k). Larger files are refused before
#: decoding, so a crafted "decompression bomb" cannot exhaust memory.
MAX_PIXELS = 268_000_000
# PIL refuses images over 2 x its own limit (89 M pixels by default, i.e. 179 M) and warns
# above it; dfrec's limit is the one that applies, so PIL's is raised to match it (a
# 200-megapixel phone photo is not a bomb).
Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, MAX_PIXELS)

#: File suffixes treated as images when scanning folders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif", ".avif",
                  ".heic", ".heif", ".hif")
#: Image formats dfrec cannot read; folder scans list such files as failed instead of
#: passing over them.
UNSUPPORTED_IMAGE_SUFFIXES = (".jxl", ".svg", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raw")
#: ISO base-media ``ftyp`` brands of HEIF images (a phone's HEIC photo among them), which PIL
#: reads through pillow-heif's plugin; ``mif1``/``msf1`` may also be AVIF, which PIL's own
#: AVIF plugin tries first.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
#: ``ftyp`` brands of AVIF images (PIL >= 11.3 decodes them itself).
AVIF_BRANDS = (b"avif", b"avis")
#: File suffixes treated as videos: MP4/MOV and phones' 3GP, Matroska/WebM, AVI, MPEG transport
#: streams (broadcast, HLS segments, AVCHD camcorders, Blu-ray), MPEG program streams (DVD), Flash
#: and Windows Media; OpenCV's FFmpeg decodes them all.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".3gp", ".3g2", ".ts", ".mts", ".m2ts",
                  ".m2t", ".mpg", ".mpeg", ".vob", ".flv", ".wmv", ".asf")
#: Bytes read to decide a file's type (:func:`sniff`): a transport stream shows its sync bytes a
#: packet apart.
SNIFF_BYTES = 1024
#: Suffixes that say nothing of a file's format (none, as forensic tools export files named by their
#: hash; a download's or a carving tool's): a folder scan takes such a file when its bytes are an
#: image or video (:func:`scan_folder`).
SNIFFED_SUFFIXES = ("", ".bin", ".dat", ".tmp", ".download", ".crdownload")
#: The header object GUID that starts an ASF file (WMV, WMA).
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def ftyp_brand(head: bytes) -> bytes | None:
    """The major brand of an ISO base-media file (HEIF, AVIF, MP4, MOV) from its first 12 bytes,
    or ``None`` for any other file."""
    return bytes(head[8:12]) if len(head) >= 12 and head[4:8] == b"ftyp" else None


@dataclass
class Sniffed:
    """A recognised file: ``kind`` (``image``/``video``), ``ext`` (with dot), ``label``."""

    kind: str
    ext: str
    label: str


def sniff(head: bytes) -> Sniffed | None:
    """The type of a file from its first bytes (:data:`SNIFF_BYTES` of them), or ``None`` when
    dfrec cannot read it."""
    from dfrec.mpegts import packet_layout

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
        if brand.startswith((b"3gp", b"3g2")):
            return Sniffed("video", ".3gp", "3GP video")
        if brand.startswith((b"M4V", b"mp4", b"iso", b"avc", b"MSNV", b"dash", b"M4A")):
            return Sniffed("video", ".mp4", "MP4 video")
        return Sniffed("video", ".mp4", "MP4-family video")
    if h[:4] == b"\x1aE\xdf\xa3":
        return Sniffed("video", ".webm" if b"webm" in h else ".mkv", "WebM video" if b"webm" in h else "Matroska video")
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return Sniffed("video", ".avi", "AVI video")
    if (layout := packet_layout(h, range(5))) is not None:
        return (Sniffed("video", ".ts", "MPEG transport stream video") if layout[1] == 188 else
                Sniffed("video", ".m2ts", "MPEG transport stream video (M2TS)"))
    if h[:4] == b"\x00\x00\x01\xba":
        return Sniffed("video", ".mpg", "MPEG program stream video")
    if h[:3] == b"FLV" and h[3:4] == b"\x01":
        return Sniffed("video", ".flv", "Flash video")
    if h[:16] == _ASF_GUID:
        return Sniffed("video", ".wmv", "Windows Media video")
    return None


def sniff_file(path: str | os.PathLike) -> Sniffed | None:
    """:func:`sniff` of a file's first :data:`SNIFF_BYTES` (``None`` where it cannot be read)."""
    return sniff(_read_head(Path(path), SNIFF_BYTES))


def media_kind(path: str | os.PathLike) -> str:
    """``"video"`` or ``"image"``: what a file's first bytes say it is (:func:`sniff`), or, where
    they say nothing dfrec knows (or cannot be read), what its suffix says (:data:`VIDEO_SUFFIXES`)."""
    sniffed = sniff_file(path)
    if sniffed is not None:
        return sniffed.kind
    return "video" if Path(path).suffix.lower() in VIDEO_SUFFIXES else "image"


@functools.cache
def enable_heif() -> bool:
    """Let PIL open HEIF/HEIC images: registers pillow-heif's plugin once (about 70 ms, so only
    when such a file turns up). ``False`` where pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _read_head(path: Path, n: int = 12) -> bytes:
    """A file's first ``n`` bytes (``b""`` when unreadable), with pillow-heif's plugin enabled
    when they name a HEIF image, so that PIL can open it next."""
    try:
        with open(path, "rb") as f:
            head = f.read(n)
    except OSError:
        return b""
    if ftyp_brand(head) in HEIF_BRANDS:
        enable_heif()
    return head


def _unreadable_reason(head: bytes) -> str:
    """Why PIL could not identify a file, in words, for the few formats it needs help with."""
    from PIL import features

    brand = ftyp_brand(head)
    if brand in HEIF_BRANDS:
        if not enable_heif():
            return "an HEIC/HEIF image, and pillow-heif (which reads them) is not installed: pip install pillow-heif"
        return "a damaged or truncated HEIC/HEIF image (its header is there, its picture cannot be found)"
    if brand in AVIF_BRANDS:
        if not features.check("avif"):
            return "an AVIF image that this Pillow cannot decode (Pillow >= 11.3 reads AVIF)"
        return "a damaged or truncated AVIF image"
    return stream_manifest(head) or "not an image file (unrecognised format)"


def stream_manifest(head: bytes) -> str | None:
    """What to do with a streaming playlist saved in place of a video (an HLS ``.m3u8`` or a DASH
    ``.mpd``: text that lists the video's segments, as a browser's "save" or a capture tool keeps
    it), from its first bytes; ``None`` for anything else."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U"):
        kind, example = "an HLS playlist", "ffmpeg -i playlist.m3u8 -c copy video.ts"
    elif b"<MPD" in text[:SNIFF_BYTES]:
        kind, example = "a DASH manifest", "ffmpeg -i manifest.mpd -c copy video.mp4"
    else:
        return None
    return (f"{kind} (a text list of a stream's segments), not a picture or a video: analyse its "
            f"segments, or join them into one video first ({example})")


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    """Convert any PIL mode to an (H, W, 3) uint8 RGB array (16-bit scaled, alpha dropped)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if (mode.startswith("I;16") or arr.max() > 255) else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr[..., :3]
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        hi = 1.0 if arr.max() <= 1.0 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # composite on white
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as an ``(H, W, 3) uint8`` RGB array, EXIF orientation applied.

    Raises :class:`InputError` for a missing, empty, truncated or non-image file, or one
    with more than ``max_pixels`` pixels.
    """
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise InputError(f"{shown(p)}: broken symbolic link (its target is missing)")
        raise InputError(f"{shown(p)}: no such file")
    if p.is_dir():
        raise InputError(f"{shown(p)}: is a folder, not an image")
    if not p.is_file():  # a pipe would block the read, a device never end
        raise InputError(f"{shown(p)}: not a regular file (a pipe, socket or device)")
    try:
        size = p.stat().st_size
    except OSError as e:
        from dfrec.errors import describe

        raise InputError(f"{shown(p)}: {describe(OSError(e.errno, e.strerror))}") from None
    if size == 0:
        raise InputError(f"{shown(p)}: empty file")
    head = _read_head(p, SNIFF_BYTES)
    try:
        with warnings.catch_warnings():
            # PIL's own guard (Image.MAX_IMAGE_PIXELS, raised to max_pixels above) backs up ours;
            # its other warnings (damaged EXIF or TIFF tags of a file whose pixels still decode)
            # would reach the user as multi-line library text
            warnings.simplefilter("ignore")
            with Image.open(p) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise InputError(
                        f"{shown(p)}: image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
                        "(decompression-bomb guard)"
                    )
                if w < 1 or h < 1:
                    raise InputError(f"{shown(p)}: image has no pixels")
                img.load()
                img = ImageOps.exif_transpose(img)
                return np.ascontiguousarray(_to_uint8_rgb(img))
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(f"{shown(p)}: more pixels than the limit of {max_pixels:,} (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise InputError(f"{shown(p)}: {_unreadable_reason(head)}") from None
    except MemoryError:
        raise InputError(f"{shown(p)}: out of memory while decoding the image") from None
    except OSError as e:
        if e.errno is not None:  # the file system, not the format: permission denied, I/O error, ...
            from dfrec.errors import describe

            raise InputError(f"{shown(p)}: {describe(OSError(e.errno, e.strerror))}") from None
        msg = shown(str(e) or "unreadable")
        if "truncated" in msg.lower() or "broken" in msg.lower():
            raise InputError(f"{shown(p)}: truncated or corrupt image: {msg}") from None
        raise InputError(f"{shown(p)}: cannot read image: {msg}") from None
    except Exception:  # noqa: BLE001 - a damaged file can make a decoder fail in any way
        raise InputError(f"{shown(p)}: cannot read image (damaged or unsupported content)") from None


#: What displaying an image with each EXIF orientation value (2-8) does to its stored pixels;
#: ``read_image`` applies it (1, or no tag: shown as stored).
EXIF_ORIENTATION_WORDS = {
    2: "mirrored left to right", 3: "rotated 180°", 4: "mirrored top to bottom",
    5: "mirrored across the main diagonal", 6: "rotated 90° clockwise",
    7: "mirrored across the other diagonal", 8: "rotated 90° counter-clockwise",
}


#: EXIF tags a report shows: what made the file or last wrote it (``Software`` names an editor or
#: an app such as a face-swap app when it left its name). Location (GPS, or inside XMP) and maker
#: notes are never shown.
EXIF_TAGS_SHOWN = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x0132: "DateTime", 0x013B: "Artist",
                   0x9003: "DateTimeOriginal"}
#: At most this many text entries, of at most this many characters each, from a file's metadata.
METADATA_MAX_ENTRIES, METADATA_MAX_CHARS = 12, 300


def _metadata(img: Image.Image) -> dict[str, str]:
    """The :data:`EXIF_TAGS_SHOWN` of an opened image and its text chunks (PNG ``tEXt``/``iTXt``,
    a JPEG comment: image generators write their settings there, e.g. ``parameters``), as text,
    each cut to :data:`METADATA_MAX_CHARS`."""
    out: dict[str, str] = {}
    try:
        exif = img.getexif()
        tags = {**dict(exif), **dict(exif.get_ifd(0x8769))}
    except Exception:  # noqa: BLE001 - a damaged EXIF block: nothing to show
        tags = {}
    for tag, name in EXIF_TAGS_SHOWN.items():
        value = tags.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            out[name] = value.strip("\x00 ")
    for key, value in img.info.items():
        if isinstance(value, bytes) and key in ("comment", "xmp", "XML:com.adobe.xmp"):
            value = value.decode("utf-8", "replace")
        if key in ("xmp", "XML:com.adobe.xmp") and isinstance(value, str):  # XMP may hold a location too: only
            tool = re.search(r"CreatorTool(?:=\"|>)([^\"<]+)", value)      # the tool that wrote the file, and the
            if tool:                                                     # IPTC digital source type it declares
                out["XMP CreatorTool"] = tool.group(1)
            source = re.search(r"DigitalSourceType(?:=\"|>|\s+rdf:resource=\")\s*([^\"<\s]+)", value)
            if source:
                out["XMP DigitalSourceType"] = source.group(1).rstrip("/").rsplit("/", 1)[-1]
            continue
        # a PNG's text values are its text chunks (those before the pixels: reading the others would
        # decode the image); other formats' text values are technical, but for a JPEG or GIF comment
        if (img.format == "PNG" or key == "comment") and isinstance(value, str) and value.strip() and key not in out:
            out[key] = value.strip()
    return {k: shown(v[:METADATA_MAX_CHARS] + ("…" if len(v) > METADATA_MAX_CHARS else ""))
            for k, v in list(out.items())[:METADATA_MAX_ENTRIES]}


def image_header(path: str | os.PathLike) -> dict[str, Any]:
    """What an image file is, from its header (no pixels decoded): ``format`` (PIL's name: JPEG,
    PNG, WEBP, HEIF, AVIF, TIFF, ...), ``mode`` (PIL's: RGB, RGBA, L, I;16, CMYK, P, ...),
    ``transparency`` (a transparent palette colour), ``frames`` (animation frames or pages),
    ``exif_orientation`` (1-8; 1 without the tag), ``metadata`` (:func:`_metadata`: camera,
    software, dates, text chunks), for HEIF ``bit_depth`` (8, 10 or 12 per channel), for JPEG
    ``jpeg_quality`` (:func:`dfrec.compression.estimate_jpeg_quality`) and for WebP
    ``webp_encoding`` (:func:`dfrec.compression.read_webp_encoding`: lossless, or lossy at about
    which quality), for HEIC and AVIF ``heif_encoding`` (:func:`dfrec.heif.read_heif_encoding`:
    its HEVC QP or AV1 base_q_idx). An empty dict for a file PIL cannot open; :func:`read_image` says why."""
    _read_head(Path(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in read_image: no library text on the terminal
            with Image.open(path) as img:
                try:
                    # pillow-heif turns a HEIF picture while decoding and resets the tag to 1; it keeps
                    # the file's own value as "original_orientation"
                    orientation = int(img.info.get("original_orientation") or img.getexif().get(0x0112, 1) or 1)
                except Exception:  # noqa: BLE001 - a damaged EXIF block: read_image ignores it too
                    orientation = 1
                header = {"format": img.format, "mode": img.mode, "transparency": "transparency" in img.info,
                          "frames": max(1, int(getattr(img, "n_frames", 1))), "exif_orientation": orientation,
                          "metadata": _metadata(img)}
                if isinstance(img.info.get("bit_depth"), int):  # HEIF: 10- or 12-bit photos decode to 8 bits
                    header["bit_depth"] = img.info["bit_depth"]
                if img.format == "JPEG":
                    quality = estimate_jpeg_quality(getattr(img, "quantization", None) or {})
                    if quality is not None:
                        header["jpeg_quality"] = quality
                if img.format == "WEBP":
                    encoding = read_webp_encoding(path)
                    if encoding is not None:
                        header["webp_encoding"] = encoding
                if img.format in ("HEIF", "AVIF"):
                    from dfrec.heif import read_heif_encoding

                    encoding = read_heif_encoding(path)
                    if encoding is not None:
                        header["heif_encoding"] = encoding
                return header
    except Exception:  # noqa: BLE001 - only a description; read_image reports unreadable files
        return {}


def decoding_words(header: dict[str, Any]) -> str:
    """How :func:`read_image` turned an image of ``header`` (:func:`image_header`) into 8-bit RGB,
    in words for a report: "8-bit RGB", "16-bit grayscale, scaled to 8 bits", ...
    Kept beside ``_to_uint8_rgb``, which it describes."""
    mode = header.get("mode")
    if mode is None:
        return "unknown"
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and header.get("transparency")):
        words = "with transparency: composited on white"
        words = {"RGBA": "RGB " + words, "LA": "grayscale " + words}.get(mode, "palette colours " + words)
    else:
        words = {
            "RGB": "8-bit RGB", "L": "8-bit grayscale, copied to three channels",
            "I;16": "16-bit grayscale, scaled to 8 bits",  # and its byte orders I;16B / I;16L / I;16N
            "I": "32-bit integer grayscale, scaled to 8 bits", "F": "floating-point grayscale, scaled to 8 bits",
            "P": "palette colours, converted to RGB", "CMYK": "CMYK, converted to RGB",
            "YCbCr": "YCbCr, converted to RGB", "1": "black and white (1 bit), converted to RGB",
        }.get("I;16" if mode.startswith("I;16") else mode, f"PIL mode {mode}, converted to RGB")
    depth = int(header.get("bit_depth") or 8)
    if depth > 8 and mode in ("RGB", "RGBA"):
        words = f"{depth}-bit {words.removeprefix('8-bit ')}, reduced to 8 bits"
    turn = EXIF_ORIENTATION_WORDS.get(int(header.get("exif_orientation") or 1))
    return words + (f"; EXIF orientation {header['exif_orientation']} applied ({turn})" if turn else "")


def as_rgb_uint8(image: Any) -> np.ndarray:
    """Accept a path, PIL image or array and return an ``(H, W, 3) uint8`` RGB array.

    Arrays may be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 (scaled) or
    float in [0, 1].
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(_to_uint8_rgb(ImageOps.exif_transpose(image)))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype.kind == "f":
        arr = to_uint8(arr)
    elif arr.dtype != np.uint8:
        raise InputError(f"unsupported image dtype {arr.dtype}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        a = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3].astype(np.float32) * a + 255.0 * (1 - a) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


def to_float(pixels: Any) -> Any:
    """uint8 pixels -> float32 in [0, 1] (``x / 255``), same shape; a numpy array stays a numpy
    array and a tensor stays a tensor (on its device). Layout is the caller's: dfrec keeps
    images as ``(H, W, 3)`` arrays and ``(N, 3, H, W)`` tensors."""
    if isinstance(pixels, np.ndarray):
        return pixels.astype(np.float32) / 255.0
    return pixels.float() / 255.0


def to_uint8(pixels: Any) -> Any:
    """Float pixels in [0, 1] -> uint8: clamped to [0, 1], then ``floor(255 x + 0.5)``; same shape,
    numpy in numpy out, tensor in tensor out (detached, on its device). The inverse of
    :func:`to_float` up to rounding."""
    if isinstance(pixels, np.ndarray):
        return (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    import torch

    x = pixels.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path`` atomically.

    A crash or exception leaves any previous file at ``path`` untouched.
    """
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # the name is cut so that a long file name still leaves room for the temp name (255 bytes)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name[:120]}.", suffix=".tmp" + dst.suffix[:16], dir=dst.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask  # mkstemp makes 0600; give the usual file mode
    os.chmod(tmp_path, mode)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)  # writers that recreate the file (safetensors) reset it
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        crashpoint("atomic-write")
        os.replace(tmp_path, dst)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (undecodable bytes of file names, held as
    surrogate escapes, are written as ``\\udcXX`` text rather than failing)."""
    return write_bytes_atomic(path, text.encode("utf-8", "backslashreplace"))


#: Temporary files of :func:`atomic_path`: ``.NAME.XXXXXXXX.tmp[.suffix]`` (mkstemp's 8 random
#: characters). A process killed mid-write leaves one behind; :func:`remove_temp_files` clears them.
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^.]*)?$")


def remove_temp_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete :func:`atomic_path` temporary files left in ``folder`` by killed runs; returns them.

    Call it only while no other process writes there (dfrec holds the folder's lock).
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    walker = os.walk(root) if recursive else [(str(root), [], os.listdir(root))]
    for dirpath, _dirs, files in walker:
        for name in files:
            if TEMP_NAME.match(name):
                p = Path(dirpath) / name
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    found.append(p)
    return found


def nonfinite_paths(obj: Any, where: str = "") -> list[str]:
    """JSON-style paths (``faces[0].score_fake``) of NaN or infinite floats inside ``obj``."""
    if isinstance(obj, float | np.floating):
        return [] if math.isfinite(float(obj)) else [where or "(top level)"]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in nonfinite_paths(v, f"{where}.{k}" if where else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in nonfinite_paths(v, f"{where}[{i}]")]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f" and not np.isfinite(obj).all():
        return [where or "(top level)"]
    return []


def _nan_to_null(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, dict):
        return {k: _nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_null(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _nan_to_null(obj.tolist())
    return obj


def dumps_json(obj: Any, indent: int | None = 2, nan_as_null: bool = False, any_as_str: bool = False) -> str:
    """Strict JSON text (``allow_nan=False``): a NaN or infinity raises :class:`ValueError`
    naming where it is, instead of writing the bare ``NaN`` that JSON readers reject.
    ``nan_as_null=True`` writes them as ``null`` instead (for "not measured" table cells);
    ``any_as_str=True`` writes objects JSON has no type for as their ``str()``."""
    if nan_as_null:
        obj = _nan_to_null(obj)

    def default(o: Any) -> Any:
        try:
            return _json_default(o)
        except TypeError:
            if any_as_str:
                return str(o)
            raise

    try:
        return json.dumps(obj, indent=indent, sort_keys=False, default=default, allow_nan=False)
    except ValueError:
        bad = nonfinite_paths(obj)
        if not bad:
            raise
        raise ValueError(f"not a finite number at {', '.join(bad[:5])}; refusing to write invalid JSON") from None


def write_json_atomic(path: str | os.PathLike, obj: Any, nan_as_null: bool = False) -> Path:
    """Write ``obj`` as indented, strict JSON (:func:`dumps_json`) to ``path`` atomically."""
    return write_text_atomic(path, dumps_json(obj, nan_as_null=nan_as_null) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write an ``(H, W, 3)`` or ``(H, W)`` uint8 array (or float in [0, 1]) atomically.

    The format follows the suffix (PNG lossless by default; JPEG at ``quality``).
    """
    arr = np.asarray(image)
    if arr.dtype.kind == "f":
        arr = to_uint8(arr)
    img = Image.fromarray(arr)
    dst = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}.get(
        dst.suffix.lower(), "PNG"
    )
    with atomic_path(dst) as tmp:
        kw = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
        img.save(tmp, format=fmt, **kw)
    return dst


def hold_lock(path: str | os.PathLike, busy: str) -> int:
    """Take the exclusive lock of the file ``path`` (created if needed) and write the holder,
    ``pid N, started T``, into it; returns the open descriptor, whose closing releases the lock.
    The lock is ``flock``'s: the kernel releases it when the process ends, however it ends (even
    SIGKILL), so a crashed holder never blocks the next one. When another process holds it,
    raises :class:`OutputError` with ``busy`` formatted with ``holder`` (what the file says).
    Without ``fcntl`` (not POSIX) nothing is locked."""
    import datetime as dt

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
        os.close(fd)
        raise OutputError(busy.replace("{holder}", shown(holder))) from None
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, started {now}\n".encode(), 0)
    return fd


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def walk_folders_once(root: str | os.PathLike, onerror: Callable[[OSError], None] | None = None,
                      on_repeat: Callable[[Path], None] | None = None) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` with symbolic links followed and each real folder entered once: yields
    ``(folder, dirs, names)`` (prune ``dirs`` in place to skip sub-folders). A folder reached
    again through a link goes to ``on_repeat`` and is not entered; an unreadable one goes to
    ``onerror`` (without it, the ``OSError`` of a folder that cannot be examined is raised)."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirs, names in os.walk(root, onerror=onerror, followlinks=True):
        here = Path(dirpath)
        try:
            st = here.stat()
        except OSError as e:
            if onerror is None:
                raise
            onerror(e)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            if on_repeat is not None:
                on_repeat(here)
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        yield here, dirs, names


def scan_folder(root: str | os.PathLike, suffixes: tuple[str, ...], exclude: str | os.PathLike | None,
                failed: list[dict[str, str]], ignored: list[dict[str, str]]) -> list[Path]:
    """Files under ``root`` whose suffix is in ``suffixes`` (symbolic links followed, each
    real folder once), in sorted order; nothing inside ``exclude`` (dfrec's own output).

    A file with no suffix (as forensic tools export files named by their hash) or a generic one
    (:data:`SNIFFED_SUFFIXES`) is taken too when its first bytes are of a format with a suffix in
    ``suffixes`` (:func:`sniff`); one with another suffix (``.m4a``, ``.txt`` ...) is not read.
    Nothing is passed over in silence: unreadable folders, broken links and files in formats
    dfrec cannot read are appended to ``failed``; other files (hidden, other suffixes, links
    to a folder already scanned) to ``ignored``, both as ``{"input", "reason"}``.
    """
    from dfrec.errors import describe

    root = Path(root)
    out_abs = Path(exclude).resolve() if exclude is not None else None
    media = tuple(suffixes)
    files: list[Path] = []

    def onerror(err: OSError) -> None:
        failed.append({"input": str(err.filename or root), "reason": describe(OSError(err.errno, err.strerror))})

    def on_repeat(here: Path) -> None:
        ignored.append({"input": str(here), "reason": "links to a folder already scanned"})

    for here, dirs, names in walk_folders_once(root, onerror, on_repeat):
        resolved = here.resolve()
        if out_abs is not None and (resolved == out_abs or out_abs in resolved.parents):
            dirs[:] = []  # dfrec's own output
            continue
        for d in list(dirs):
            if d.startswith("."):
                dirs.remove(d)
                ignored.append({"input": str(here / d), "reason": "hidden folder"})
        dirs.sort()
        for name in sorted(names):
            f = here / name
            suffix = f.suffix.lower()
            if f.is_symlink() and not f.exists():
                failed.append({"input": str(f), "reason": "broken symbolic link (its target is missing)"})
            elif name.startswith("."):
                ignored.append({"input": str(f), "reason": "hidden file"})
            elif suffix in UNSUPPORTED_IMAGE_SUFFIXES:
                failed.append({"input": str(f), "reason": f"unsupported image format ({suffix}); convert it "
                                                          "to PNG or JPEG"})
            elif suffix not in media and not (suffix in SNIFFED_SUFFIXES and _sniffs_as(f, media)):
                ignored.append({"input": str(f), "reason": "not an image or video file name"})
            elif not f.is_file():
                failed.append({"input": str(f), "reason": "not a regular file"})
            elif out_abs is not None and out_abs in f.resolve().parents:
                continue  # a link into dfrec's own output
            else:
                files.append(f)
    return files


def _sniffs_as(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the file's first bytes are of a format whose usual suffix is in ``suffixes``."""
    sniffed = sniff_file(path) if path.is_file() else None
    return sniffed is not None and sniffed.ext in suffixes


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Sorted image files under ``folder`` (by suffix; hidden files skipped). Linked folders
    are followed (a dataset assembled from symbolic links to person folders), each folder
    once, and the paths stay under ``folder`` (``relative_to(folder)`` works)."""
    root = Path(folder)
    if recursive:
        found = [here / n for here, _, names in walk_folders_once(root) for n in names]
    else:
        found = list(root.iterdir())
    return sorted(
        p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def prepare_output_dir(path: str | os.PathLike, option: str = "-o") -> Path:
    """Make sure ``path`` can be an output folder before any work starts: create it (and
    parents), check it is a folder and writable. Raises :class:`OutputError` naming ``option``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{shown(p)}: exists and is not a folder (choose another {option})")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p, prefix=".dfrec-write-check-"):
            pass
    except OSError as e:
        from dfrec.errors import describe

        raise OutputError(f"{shown(p)}: cannot write here ({describe(OSError(e.errno, e.strerror))}; "
                          f"choose another {option})") from None
    return p
