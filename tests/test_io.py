"""dfrec.io: every image mode reads as (H, W, 3) uint8 RGB; bad files raise one-line InputErrors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfrec import io
from dfrec.errors import InputError


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """A small deterministic colour image (48, 64, 3) uint8 with structure in every channel."""
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


def huge_png_header(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature + IHDR claiming ``width`` x ``height`` (no pixel data): tiny file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_rgb_roundtrip_png(tmp_path, rgb):
    p = io.write_image(tmp_path / "a.png", rgb)
    out = io.read_image(p)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)


def test_grayscale_reads_as_three_equal_channels(tmp_path, rgb):
    gray = rgb[..., 1]
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = io.read_image(tmp_path / "g.png")
    assert out.shape == (*gray.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_16bit_png_is_scaled_to_8bit(tmp_path, rgb):
    g8 = rgb[..., 0]
    g16 = g8.astype(np.uint16) * 257  # 0..255 -> 0..65535 exactly
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = io.read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[..., 0], g8)
    np.testing.assert_array_equal(out[..., 2], g8)


def test_rgba_composited_on_white(tmp_path, rgb):
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :10] = 0  # fully transparent stripe
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(tmp_path / "a.png")
    out = io.read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out[:, 10:], rgb[:, 10:])
    assert (out[:, :10] == 255).all()


def test_palette_image(tmp_path, rgb):
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=64).save(tmp_path / "p.png")
    out = io.read_image(tmp_path / "p.png")
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).mean() < 8  # 64-colour quantisation error only


def test_exif_orientation_is_applied(tmp_path, rgb):
    big = np.kron(rgb, np.ones((4, 4, 1), np.uint8))  # smooth enough for JPEG
    stored = np.rot90(big, 1)  # stored rotated 90° counter-clockwise ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and tagged "rotate 90° clockwise to display"
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "r.jpg", quality=95, exif=exif)
    out = io.read_image(tmp_path / "r.jpg")
    assert out.shape == big.shape
    assert np.abs(out.astype(int) - big).mean() < 4


def test_missing_empty_folder_text(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        io.read_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        io.read_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="folder"):
        io.read_image(tmp_path)
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(InputError, match="not an image"):
        io.read_image(tmp_path / "notes.png")


def test_truncated_jpeg(tmp_path, fixture_dir):
    data = (fixture_dir / "obama.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="truncated|corrupt|cannot read") as e:
        io.read_image(tmp_path / "cut.jpg")
    assert "\n" not in str(e.value)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    p = huge_png_header(tmp_path / "bomb.png", 60_000, 60_000)  # 3.6 G pixels claimed, 45 bytes
    assert p.stat().st_size < 100
    with pytest.raises(InputError, match="pixels|bomb"):
        io.read_image(p)
    # the limit is a parameter: a real small image over a tiny limit is refused too
    Image.new("RGB", (40, 30)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match="over the limit"):
        io.read_image(tmp_path / "small.png", max_pixels=1000)


def test_as_rgb_uint8_accepts_arrays_and_pil(rgb):
    np.testing.assert_array_equal(io.as_rgb_uint8(rgb), rgb)
    np.testing.assert_array_equal(io.as_rgb_uint8(Image.fromarray(rgb)), rgb)
    np.testing.assert_array_equal(io.as_rgb_uint8(rgb.astype(np.float32) / 255.0), rgb)
    np.testing.assert_array_equal(io.as_rgb_uint8(rgb.astype(np.uint16) * 257), rgb)
    g = io.as_rgb_uint8(rgb[..., 0])
    assert g.shape == rgb.shape and (g[..., 0] == g[..., 2]).all()
    with pytest.raises(InputError):
        io.as_rgb_uint8(np.zeros((4, 4, 2), np.uint8))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    io.write_json_atomic(target, {"a": np.float32(1.5), "b": np.arange(3)})
    assert target.read_text().startswith("{")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash mid-write")
    assert '"a": 1.5' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_list_images_skips_other_files(tmp_path, rgb):
    io.write_image(tmp_path / "b" / "x.png", rgb)
    io.write_image(tmp_path / "a.jpg", rgb)
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in io.list_images(tmp_path)] == ["a.jpg", "b/x.png"]


def test_float_uint8_conversions_round_half_up_and_agree_for_numpy_and_torch():
    import torch

    from dfrec.io import to_float, to_uint8

    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    f = to_float(u8)
    assert f.dtype == np.float32 and f.min() == 0.0 and f.max() == 1.0
    assert np.array_equal(to_uint8(f), u8)  # exact round trip
    x = np.array([-0.5, 0.0, 0.5 / 255, 0.49 / 255, 0.5, 1.0, 2.0], np.float32)
    assert to_uint8(x).tolist() == [0, 0, 1, 0, 128, 255, 255]  # clamped, floor(255 x + 0.5)
    t = torch.from_numpy(x)
    assert to_uint8(t).dtype == torch.uint8 and to_uint8(t).tolist() == to_uint8(x).tolist()
    assert torch.equal(to_float(torch.from_numpy(u8)), torch.from_numpy(f))
    assert to_uint8(torch.tensor([0.5], dtype=torch.bfloat16)).tolist() == [128]


def test_hold_lock_admits_one_holder_and_names_it(tmp_path):
    import os

    from dfrec.errors import OutputError

    path = tmp_path / "we{ir}d" / "lock"  # braces in a path are not a format field
    path.parent.mkdir()
    fd = io.hold_lock(path, f"{path.parent}: busy ({{holder}})")
    try:
        with pytest.raises(OutputError, match=r"we\{ir\}d: busy \(pid %d, started 20" % os.getpid()):
            io.hold_lock(path, f"{path.parent}: busy ({{holder}})")  # another open file: refused
    finally:
        os.close(fd)
    os.close(io.hold_lock(path, "busy {holder}"))  # released with its descriptor


def test_list_images_follows_linked_folders_once(tmp_path, rgb):
    people = tmp_path / "people"
    io.write_image(people / "Ann" / "Ann_0001.jpg", rgb)
    io.write_image(people / "Bob" / "Bob_0001.png", rgb)
    subset = tmp_path / "subset"  # a dataset assembled from links to person folders
    subset.mkdir()
    (subset / "Ann").symlink_to(people / "Ann", target_is_directory=True)
    (subset / "Ann_again").symlink_to(people / "Ann", target_is_directory=True)  # the same folder twice
    (subset / "loop").symlink_to(subset, target_is_directory=True)  # and a cycle
    rels = [p.relative_to(subset).as_posix() for p in io.list_images(subset)]
    assert len(rels) == 1 and rels[0].endswith("Ann_0001.jpg")
    assert [p.name for p in io.list_images(people)] == ["Ann_0001.jpg", "Bob_0001.png"]


@pytest.mark.parametrize("fmt,suffix", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_phone_and_web_formats_read_upright(tmp_path, fixture_dir, fmt, suffix):
    """A phone's HEIC photo and a web AVIF, each stored sideways with an EXIF "rotate" tag,
    read as the photo as displayed, to within lossy coding."""
    assert io.enable_heif()
    photo = io.read_image(fixture_dir / "obama.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / f"IMG_0001{suffix.upper()}"
    Image.fromarray(np.ascontiguousarray(np.rot90(photo, 1))).save(path, format=fmt, quality=95, exif=exif.tobytes())
    assert path.suffix.lower() in io.IMAGE_SUFFIXES and io.image_header(path)["frames"] == 1
    out = io.read_image(path)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - photo).mean() < 4
    header = io.image_header(path)  # pillow-heif turns the picture itself; the report still says so
    assert (header["format"], header["exif_orientation"]) == (fmt, 6)
    assert io.decoding_words(header) == "8-bit RGB; EXIF orientation 6 applied (rotated 90° clockwise)"


def test_ten_bit_heic_reads_as_8_bits_and_says_so(tmp_path, rgb):
    """An HDR phone photo (10 bits per channel) reads as 8-bit RGB, and the report says it was reduced."""
    import pillow_heif

    assert io.enable_heif()
    wide = np.kron(rgb, np.ones((4, 4, 1), np.uint8)).astype(np.uint16) * 257  # 16-bit values of the picture
    pillow_heif.from_bytes(mode="RGB;16", size=(wide.shape[1], wide.shape[0]), data=wide.tobytes()).save(
        tmp_path / "hdr.heic", quality=95)
    out = io.read_image(tmp_path / "hdr.heic")
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - (wide // 257)).mean() < 4
    header = io.image_header(tmp_path / "hdr.heic")
    assert header["bit_depth"] == 10 and io.decoding_words(header) == "10-bit RGB, reduced to 8 bits"


def test_heic_without_pillow_heif_is_one_clear_line(tmp_path, rgb):
    """Where pillow-heif is missing, a HEIC photo is named as such, with the package to install."""
    import subprocess
    import sys

    io.enable_heif()
    Image.fromarray(np.kron(rgb, np.ones((2, 2, 1), np.uint8))).save(tmp_path / "p.heic", format="HEIF")
    code = ("import sys; sys.modules['pillow_heif'] = None\n"
            "from dfrec import io\n"
            "try:\n    io.read_image(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.heic")], capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("InputError") and "pip install pillow-heif" in r.stdout, r.stdout + r.stderr


def test_image_header_names_what_read_image_did(tmp_path, rgb):
    """image_header reads the header only; decoding_words says what read_image did to each mode."""
    cases = {
        "g16.png": (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), {}, "16-bit grayscale, scaled to 8 bits"),
        "cmyk.jpg": (Image.fromarray(rgb).convert("CMYK"), {}, "CMYK, converted to RGB"),
        "pal.png": (Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE), {"transparency": 0},
                    "palette colours with transparency: composited on white"),
        "gray.png": (Image.fromarray(rgb).convert("L"), {}, "8-bit grayscale, copied to three channels"),
    }
    for name, (im, save, words) in cases.items():
        im.save(tmp_path / name, **save)
        header = io.image_header(tmp_path / name)
        assert header["frames"] == 1 and header["exif_orientation"] == 1, name
        assert io.decoding_words(header) == words, (name, header)
    assert io.image_header(tmp_path / "nothing.png") == {}
    (tmp_path / "text.png").write_text("not an image")
    assert io.image_header(tmp_path / "text.png") == {}


def test_image_metadata_shows_what_made_the_file_and_never_the_location(tmp_path, rgb):
    """Camera, software and dates from EXIF, an image generator's PNG text, a JPEG comment and
    the XMP CreatorTool are kept (long text cut); GPS and the rest of the XMP are not."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Apple", "iPhone 14", "FaceApp 11.2"
    exif.get_ifd(0x8769)[0x9003] = "2026:01:02 10:11:12"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPS latitude
    xmp = (b'<x:xmpmeta><rdf:Description xmp:CreatorTool="Adobe Photoshop 25.0" '
           b'exif:GPSLatitude="48,51.4N"/></x:xmpmeta>')
    Image.fromarray(rgb).save(tmp_path / "a.jpg", exif=exif, xmp=xmp, comment="made with a face swap app")
    meta = io.image_header(tmp_path / "a.jpg")["metadata"]
    assert meta == {"Make": "Apple", "Model": "iPhone 14", "Software": "FaceApp 11.2",
                    "DateTimeOriginal": "2026:01:02 10:11:12", "XMP CreatorTool": "Adobe Photoshop 25.0",
                    "comment": "made with a face swap app"}
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "portrait of a man\nSteps: 20, " + "x" * 400)
    Image.fromarray(rgb).save(tmp_path / "b.png", pnginfo=info)
    text = io.image_header(tmp_path / "b.png")["metadata"]["parameters"]
    assert text.startswith("portrait of a man\\nSteps: 20") and text.endswith("…") and len(text) < io.METADATA_MAX_CHARS + 5
    from dfrec.content_credentials import generator_text_note

    note = generator_text_note(io.image_header(tmp_path / "b.png")["metadata"])  # the report's note on it
    assert note.startswith("The file's text holds an image generator's settings ('parameters', as the Stable "
                           "Diffusion web UIs (AUTOMATIC1111, Forge, SD.Next, Fooocus) write them)")
    assert "ComfyUI" in generator_text_note({"prompt": "{}", "workflow": "{}"})
    assert generator_text_note({"Software": "NovelAI"}) and generator_text_note(meta) is None
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert io.image_header(tmp_path / "c.png")["metadata"] == {}


@pytest.mark.parametrize("form", [
    b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>',
    b'><Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
    b'</Iptc4xmpExt:DigitalSourceType></rdf:Description>',
])
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_the_xmp_digital_source_type_is_kept_and_noted(tmp_path, rgb, form, fmt):
    """The IPTC digital source type an image generator writes into XMP (as an attribute or an element;
    JPEG, WebP, PNG) is kept beside CreatorTool, and the report notes a generative model's label,
    unsigned, unless the file's Content Credentials already say so."""
    from PIL import PngImagePlugin

    from dfrec.content_credentials import declared_source_note

    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmlns:Iptc4xmpExt='
           b'"http://iptc.org/std/Iptc4xmpExt/2008-02-29/" ' + form + b'</rdf:RDF></x:xmpmeta>')
    path = tmp_path / f"gen.{fmt.lower()}"
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        Image.fromarray(rgb).save(path, pnginfo=info)
    else:
        Image.fromarray(rgb).save(path, fmt, xmp=xmp)
    meta = io.image_header(path)["metadata"]
    assert meta == {"XMP DigitalSourceType": "trainedAlgorithmicMedia"}
    note = declared_source_note(meta, None)
    assert note.startswith("The file's XMP metadata declares that it was made by a generative model (IPTC digital "
                           "source type trainedAlgorithmicMedia)") and "not signed" in note
    assert declared_source_note(meta, {"generated": True}) is None  # the signed credentials say it already
    assert declared_source_note({"XMP DigitalSourceType": "digitalCapture"}, None) is None


@pytest.mark.parametrize("suffix, codec, ext", [
    (".ts", "libx264", ".ts"),  # broadcast captures, HLS segments
    (".m2ts", "libx264", ".m2ts"),  # AVCHD camcorders, Blu-ray: 192-byte packets
    (".mpg", "mpeg2video", ".mpg"),  # DVD / program stream
    (".flv", "flv", ".flv"),
    (".wmv", "wmv2", ".wmv"),
    (".3gp", "libx264", ".3gp"),  # older phones
])
def test_video_containers_are_known_by_content(tmp_path, panning_face, suffix, codec, ext):
    """Each container OpenCV's FFmpeg decodes is a video by its suffix and by its first bytes, so
    that one saved under a picture's name, or under none (as forensic tools export files named by
    their hash), is still read as a video, and a folder scan takes it; every frame decodes."""
    from needs import need_module
    from repo_scripts import load_script

    from dfrec.video import sample_frames

    need_module("av")
    frames = panning_face(6)
    path = tmp_path / f"clip{suffix}"
    load_script("benchmarks/video_clip.py").encode_clip(path, frames, {}, codec=codec)
    assert suffix in io.VIDEO_SUFFIXES
    sniffed = io.sniff(path.read_bytes()[:io.SNIFF_BYTES])
    assert sniffed is not None and (sniffed.kind, sniffed.ext) == ("video", ext)
    (tmp_path / "photo.jpg").write_bytes(path.read_bytes())
    (tmp_path / "export" / "3f9a0c").parent.mkdir()
    (tmp_path / "export" / "3f9a0c").write_bytes(path.read_bytes())
    assert io.media_kind(path) == io.media_kind(tmp_path / "photo.jpg") == io.media_kind(tmp_path / "export" / "3f9a0c") == "video"
    assert len(list(sample_frames(tmp_path / "export" / "3f9a0c", fps=0))) == len(frames)
    try:  # FFmpeg believes a picture's suffix before some containers' content (a program stream's)
        assert len(list(sample_frames(tmp_path / "photo.jpg", fps=0))) == len(frames)
    except InputError as e:
        assert str(e).endswith(f"(named .jpg, which misleads the decoder): rename it {ext}")
    failed, ignored = [], []
    assert io.scan_folder(tmp_path / "export", io.VIDEO_SUFFIXES, None, failed, ignored) == [tmp_path / "export" / "3f9a0c"]
    assert io.scan_folder(tmp_path / "export", io.IMAGE_SUFFIXES, None, failed, ignored) == [] and len(ignored) == 1
    (tmp_path / "export" / "memo.m4a").write_bytes(path.read_bytes())  # a suffix of its own: not read
    assert io.scan_folder(tmp_path / "export", io.VIDEO_SUFFIXES, None, failed, ignored) == [tmp_path / "export" / "3f9a0c"]


def test_media_kind_falls_back_on_the_suffix(tmp_path, rgb):
    """A file's first bytes decide where they name a format; where they do not, its suffix does."""
    io.write_image(tmp_path / "still.mp4", rgb)  # PNG bytes under a video's name
    assert io.media_kind(tmp_path / "still.mp4") == "image"
    (tmp_path / "odd.ts").write_bytes(b"\x01\x02" * 500)
    (tmp_path / "odd.png").write_bytes(b"\x01\x02" * 500)
    assert io.media_kind(tmp_path / "odd.ts") == "video" and io.media_kind(tmp_path / "odd.png") == "image"
    assert io.media_kind(tmp_path / "missing.mkv") == "video"


def test_a_saved_stream_playlist_says_what_to_do(tmp_path):
    """A browser's or capture tool's HLS playlist or DASH manifest saved in place of the video is
    refused with what to do instead, in the CLI's and the web app's words alike."""
    from dfrec.serve.uploads import describe_unknown

    hls = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg0.ts\n#EXT-X-ENDLIST\n"
    dash = b'<?xml version="1.0" encoding="utf-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
    for name, data, words in (("clip.m3u8", hls, "an HLS playlist"), ("clip.mpd", dash, "a DASH manifest")):
        (tmp_path / name).write_bytes(data)
        assert io.media_kind(tmp_path / name) == "image"  # neither a picture nor a video: read_image says why
        with pytest.raises(InputError, match=f"{words} .*join them into one video first"):
            io.read_image(tmp_path / name)
        assert describe_unknown(data).startswith(words)
    assert io.stream_manifest(b"hello") is None and describe_unknown(b"hello") == "text, not an image or a video"
