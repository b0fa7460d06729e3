"""A corpus of bad and edge-case inputs, generated on the fly (nothing binary in the repo).

``build_corpus(folder, face)`` writes every case into ``folder`` and returns a list of
:class:`Case`: the file name as created, what ``dfrec recover`` must do with it
(``ok``: a result, ``fail``: listed as failed, ``ignore``: listed as ignored, ``either``:
a result or a failure, e.g. no face found) and words its failure reason must contain.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


@dataclass
class Case:
    name: str  # path relative to the corpus folder (str: may hold undecodable bytes as surrogates)
    expect: str  # ok | fail | ignore | either
    words: str = ""  # must appear in the failure reason


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _video(path: Path, frames: list[np.ndarray], fps: float = 4.0) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


def build_corpus(d: Path, face: np.ndarray) -> list[Case]:
    """Write the corpus into ``d``; ``face`` is an (H, W, 3) uint8 image with one face."""
    d.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def img(name: str, array: np.ndarray, expect: str, words: str = "", **save) -> None:
        Image.fromarray(array).save(d / name, **save)
        cases.append(Case(name, expect, words))

    def raw(name: str, data: bytes, expect: str, words: str = "") -> None:
        (d / name).write_bytes(data)
        cases.append(Case(name, expect, words))

    # the good ones
    img("good.png", face, "ok")
    img("good as jpeg named.png", face, "ok", format="JPEG")  # content and suffix disagree
    # the issue's native crashers and assertion raisers, and the limits' edges
    for w, h in [(1, 4000), (2, 4000), (8, 2000), (4000, 1), (4000, 2), (1, 1), (3, 3), (19, 19), (2001, 40)]:
        img(f"thin_{w}x{h}.png", _noise(h, w, w + h), "fail", "pixels")
    img("edge_20x20.png", _noise(20, 20), "either")
    img("edge_1000x20.png", _noise(20, 1000), "either")
    # not images, broken images
    raw("empty.png", b"", "fail", "empty file")
    jpeg = io.BytesIO()
    Image.fromarray(face).save(jpeg, format="JPEG")
    raw("cut.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 3], "fail", "truncated")
    raw("text.jpg", b"hello, I am text\n" * 20, "fail", "not an image")
    raw("random.png", np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(), "fail")
    raw("png header only.png", _png_header(300, 200), "fail")
    raw("bomb.png", _png_header(50_000, 50_000), "fail", "pixels")
    raw("zero size header.png", _png_header(0, 0), "fail")
    raw("photo.heic", b"\x00\x00\x00\x18ftypheic" + bytes(100), "fail", "damaged or truncated HEIC")  # header only
    raw("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "fail", "unsupported image format")
    # a phone's photo (HEIC, through pillow-heif) and a web AVIF, both real
    from dfrec.io import enable_heif

    if enable_heif():
        img("IMG_0042.HEIC", face, "ok", format="HEIF", quality=90)
    img("web.avif", face, "ok", format="AVIF", quality=90)
    # unusual but valid modes and formats
    img("gray16.png", (np.random.default_rng(2).integers(0, 65535, (64, 64))).astype(np.uint16), "either")
    Image.fromarray(face).convert("CMYK").save(d / "cmyk.jpg")
    cases.append(Case("cmyk.jpg", "ok"))
    Image.fromarray(face).convert("P", palette=Image.ADAPTIVE).save(d / "palette.png", transparency=0)
    cases.append(Case("palette.png", "either"))
    Image.fromarray(face).convert("LA").save(d / "gray alpha.png")
    cases.append(Case("gray alpha.png", "either"))
    Image.fromarray(face).convert("1").save(d / "one bit.png")
    cases.append(Case("one bit.png", "either"))
    Image.fromarray(face.mean(axis=2).astype(np.float32) / 255).save(d / "float.tif")
    cases.append(Case("float.tif", "either"))
    exif = Image.Exif()
    exif[0x0112] = 9  # an orientation value that does not exist
    Image.fromarray(face).save(d / "bad exif orientation.jpg", exif=exif)
    cases.append(Case("bad exif orientation.jpg", "ok"))
    frames = [Image.fromarray(face), Image.fromarray(np.ascontiguousarray(face[:, ::-1]))]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    cases.append(Case("animated.gif", "ok"))
    frames[0].save(d / "two pages.tiff", save_all=True, append_images=frames[1:])
    cases.append(Case("two pages.tiff", "ok"))
    img("still.gif", _noise(64, 64), "either")
    tif = io.BytesIO()
    Image.fromarray(face).save(tif, format="TIFF")
    b = bytearray(tif.getvalue())
    ifd = struct.unpack("<I", b[4:8])[0]
    last = ifd + 2 + 12 * (struct.unpack("<H", b[ifd:ifd + 2])[0] - 1)
    b[last + 4:last + 8] = struct.pack("<I", 0x00FFFFFF)  # a tag claiming more data than the file holds
    raw("damaged tag.tif", bytes(b), "ok")  # PIL warns (library text) and decodes the pixels
    # huge but valid: 24 Mpx, decoded and scanned, no face
    img("huge valid.jpg", np.full((4000, 6000, 3), 127, np.uint8), "either", quality=50)
    # odd names
    img("café ☕ фото.png", face, "ok")
    img("new\nline.png", face, "ok")
    img("tab\tand  spaces.png", face, "ok")
    img("-starts-with-dash.png", face, "ok")
    img("#hash%25percent?query&amp.png", face, "ok")
    img("x" * 240 + ".png", face, "ok")
    img("summary.png", face, "ok")
    img("report.png", face, "ok")
    bad_utf8 = os.fsdecode(b"bad\xff\xfename.png")
    Image.fromarray(face).save(os.fsencode(str(d)) + b"/" + os.fsencode(bad_utf8))
    cases.append(Case(bad_utf8, "ok"))
    (d / "folder.png").mkdir()  # a folder with an image suffix, holding an image
    img("folder.png/inside.png", face, "ok")
    # links and special files
    (d / "dangling.jpg").symlink_to(d / "no such target.jpg")
    cases.append(Case("dangling.jpg", "fail", "broken symbolic link"))
    (d / "loop.png").symlink_to(d / "loop.png")
    cases.append(Case("loop.png", "fail", "broken symbolic link"))
    (d / "sub").mkdir()
    (d / "sub" / "up").symlink_to(d)  # a folder link back up: scanned once only
    cases.append(Case("sub/up", "ignore"))
    os.mkfifo(d / "pipe.png")
    cases.append(Case("pipe.png", "fail", "not a regular file"))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(d / "socket.png"))
        cases.append(Case("socket.png", "fail", "not a regular file"))
    except OSError:  # path too long for a socket on this system
        pass
    finally:
        sock.close()
    (d / "device.png").symlink_to("/dev/null")
    cases.append(Case("device.png", "fail", "not a regular file"))
    # passed over, but said
    raw(".hidden.png", b"", "ignore")
    raw("notes.txt", b"a note", "ignore")
    raw("Thumbs.db", b"\x00" * 10, "ignore")
    # videos
    raw("empty.mp4", b"", "fail", "empty file")
    raw("text.avi", b"not a video at all\n" * 100, "fail", "video")
    _video(d / "face.avi", [face] * 3)
    cases.append(Case("face.avi", "ok"))
    data = (d / "face.avi").read_bytes()
    raw("truncated.avi", data[: len(data) // 2], "either")
    _video(d / "blank.avi", [np.zeros((64, 64, 3), np.uint8)] * 3)
    cases.append(Case("blank.avi", "fail", "no face"))
    _video(d / "thin frames.avi", [_noise(1600, 16, i) for i in range(2)])
    cases.append(Case("thin frames.avi", "fail", "pixels"))
    (d / "image named.mp4").write_bytes((d / "good.png").read_bytes())
    cases.append(Case("image named.mp4", "either"))
    return cases
