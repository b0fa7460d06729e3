"""How a picture was last compressed, read from the file (dfrec.compression) and shown in its header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfrec import compression, io
from dfrec.data.synth.augment import jpeg as jpeg_round_trip

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "obama_on_biden" / "forgery.png"


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """A small deterministic colour image (48, 64, 3) uint8 with structure in every channel."""
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real face picture (the bundled example's forgery, a 360 px photo)."""
    return Image.open(EXAMPLE).convert("RGB")


def test_jpeg_quality_is_read_from_the_files_tables(tmp_path, rgb):
    """The quality a JPEG was last saved at, from its quantisation tables: exact for libjpeg's
    tables as Pillow and OpenCV write them (colour and grayscale), the nearest quality for tables
    of the file's own, nothing for other formats."""
    import cv2

    for q in (12, 49, 50, 75, 92, 100):
        Image.fromarray(rgb).save(tmp_path / f"p{q}.jpg", quality=q)
        cv2.imwrite(str(tmp_path / f"c{q}.jpg"), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        for name in (f"p{q}.jpg", f"c{q}.jpg"):
            assert io.image_header(tmp_path / name)["jpeg_quality"] == {"quality": q, "standard_tables": True}, name
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.jpg", quality=70)
    assert io.image_header(tmp_path / "gray.jpg")["jpeg_quality"] == {"quality": 70, "standard_tables": True}
    own = (compression.jpeg_tables_at(80) + np.arange(64) % 3 - 1).clip(1, 255)  # a camera's tables near quality 80
    Image.fromarray(rgb).save(tmp_path / "camera.jpg", qtables=[own[0].tolist(), own[1].tolist()])
    assert io.image_header(tmp_path / "camera.jpg")["jpeg_quality"] == {"quality": 80, "standard_tables": False}
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert "jpeg_quality" not in io.image_header(tmp_path / "a.png")
    assert compression.estimate_jpeg_quality({}) is None and compression.estimate_jpeg_quality({0: [1] * 10}) is None


def test_webp_quality_is_estimated_from_the_vp8_quantizers(tmp_path, photo):
    """A lossy WebP's quality is read back from its frame header near the setting libwebp was
    given, through Pillow and OpenCV alike; the estimate falls as the quality does."""
    import cv2

    found = []
    for q in (10, 30, 50, 70, 90, 100):
        photo.save(tmp_path / f"p{q}.webp", quality=q)
        enc = io.image_header(tmp_path / f"p{q}.webp")["webp_encoding"]
        assert enc["lossless"] is False and abs(enc["quality"] - q) <= 6, (q, enc)
        assert len(enc["quantizers"]) == (4 if q < 100 else 1)  # libwebp's 4 segments; 100: one, all 0
        assert all(0 <= v <= 127 for v in enc["quantizers"])
        found.append(enc["quality"])
    assert found == sorted(found)
    cv2.imwrite(str(tmp_path / "c.webp"), np.asarray(photo)[..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, 60])
    assert abs(compression.read_webp_encoding(tmp_path / "c.webp")["quality"] - 60) <= 6


def test_webp_lossless_animated_with_alpha_and_metadata(tmp_path, photo):
    """Lossless files say so; a lossy picture with an alpha channel, EXIF and an ICC profile
    (the extended layout, VP8X) and an animation (read at its first frame) are read too."""
    photo.save(tmp_path / "l.webp", lossless=True)
    assert io.image_header(tmp_path / "l.webp")["webp_encoding"] == {"lossless": True}
    photo.convert("RGBA").save(tmp_path / "a.webp", quality=80, exif=Image.Exif().tobytes(), icc_profile=bytes(3000))
    assert abs(compression.read_webp_encoding(tmp_path / "a.webp")["quality"] - 80) <= 6
    frames = [photo, photo.rotate(10), photo.rotate(20)]
    frames[0].save(tmp_path / "an.webp", save_all=True, append_images=frames[1:], quality=50)
    assert compression.read_webp_encoding(tmp_path / "an.webp")["lossless"] is False
    frames[0].save(tmp_path / "anl.webp", save_all=True, append_images=frames[1:], lossless=True)
    assert compression.read_webp_encoding(tmp_path / "anl.webp") == {"lossless": True}
    photo.resize((16, 16)).save(tmp_path / "tiny.webp", quality=60)  # one segment only
    assert abs(compression.read_webp_encoding(tmp_path / "tiny.webp")["quality"] - 60) <= 6


def test_webp_reader_refuses_what_it_cannot_read(tmp_path, photo):
    """Not a WebP, or a WebP cut short inside its frame: no encoding (never a made-up quality),
    and the header of another format has no ``webp_encoding``."""
    photo.save(tmp_path / "p.jpg")
    photo.save(tmp_path / "p.webp", quality=70)
    (tmp_path / "cut.webp").write_bytes((tmp_path / "p.webp").read_bytes()[:40])
    (tmp_path / "junk.webp").write_bytes(b"RIFF\x14\x00\x00\x00WEBPVP8 \x08\x00\x00\x00abcdefgh")
    for name in ("p.jpg", "cut.webp", "junk.webp", "missing.webp"):
        assert compression.read_webp_encoding(tmp_path / name) is None, name
    assert "webp_encoding" not in io.image_header(tmp_path / "p.jpg")
    with pytest.raises(ValueError):
        compression.vp8_quantizers(b"\x01" * 20)  # not a key frame


def test_an_earlier_jpeg_save_is_found_in_the_pixels(photo):
    """A picture once saved as JPEG at quality 30-80 and kept losslessly since (a PNG of it), even
    cropped off the 8-pixel grid, shows that save's blocks: its quality is read back to within 2,
    with where the blocks start; its pixels before the save, or resized after it, show none."""
    clean = np.asarray(photo)
    for q in (30, 50, 75, 80):
        for dx, dy in ((0, 0), (5, 3)):
            found = compression.jpeg_history(jpeg_round_trip(clean, q)[dy:, dx:])
            assert found is not None and abs(found["quality"] - q) <= 2, (q, dx, dy, found)
            assert found["grid"] == [(8 - dx) % 8, (8 - dy) % 8] and len(found["steps"]) >= 3
    assert compression.jpeg_history(clean) is None  # shrunk to 360 px from the original: no grid left
    shrunk = np.asarray(Image.fromarray(jpeg_round_trip(clean, 50)).resize((331, 331), Image.LANCZOS))
    assert compression.jpeg_history(shrunk) is None
    assert compression.jpeg_history(clean[..., 0]) is None  # gray is read too
    assert compression.jpeg_history(jpeg_round_trip(clean, 50)[..., 1]) is not None
    assert compression.jpeg_history(np.full((100, 100, 3), 128, np.uint8)) is None  # flat: nothing to read
    assert compression.jpeg_history(clean[:40, :40]) is None  # too small to judge
