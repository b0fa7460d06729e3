"""dfrec.heif: the HEVC quantiser of a HEIC photo read from its slice headers, and the AV1 quantiser
index of an AVIF photo from its frame header, checked against FFmpeg's own parsers (``trace_headers``,
through PyAV's HEIF demuxer) on pillow-heif saves (libheif's x265) and Pillow's AVIF saves (libavif)
of a real face, and on a grid of tiles as iPhones write them, built here from such saves and decoded
by libheif; what the report records and what is neither."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from ffmpeg_trace import traced_values

from dfrec.heif import read_heif_encoding


def _heic(picture: np.ndarray, quality: int, fmt: str = "HEIF") -> bytes:
    from PIL import Image, features

    from dfrec.io import enable_heif

    if fmt == "HEIF" and not enable_heif() or fmt == "AVIF" and not features.check("avif"):
        pytest.skip(f"no {fmt} encoder here (pillow-heif; Pillow's AVIF plugin)")
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format=fmt, quality=quality)
    return buf.getvalue()


def reference_qps(path) -> list[int]:
    """Each coded HEVC slice's QP (26 + init_qp_minus26 + slice_qp_delta), or AV1 frame's base_q_idx,
    as FFmpeg's parsers log them."""
    if av1 := traced_values(path, "base_q_idx"):
        return av1
    init = traced_values(path, "init_qp_minus26")
    return [26 + init[0] + delta for delta in traced_values(path, "slice_qp_delta")]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def _coded_item(heic: bytes) -> tuple[bytes, bytes]:
    """``(hvcC box, coded data)`` of a single-image HEIC's primary item (one extent in the file)."""
    def boxes(data, start, end):
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            yield kind, pos, pos + size
            pos += size

    meta = next((s, e) for k, s, e in boxes(heic, 0, len(heic)) if k == b"meta")
    inner = {k: (s, e) for k, s, e in boxes(heic, meta[0] + 12, meta[1])}
    ipco = next((s, e) for k, s, e in boxes(heic, inner[b"iprp"][0] + 8, inner[b"iprp"][1]) if k == b"ipco")
    hvcc = next(heic[s:e] for k, s, e in boxes(heic, ipco[0] + 8, ipco[1]) if k == b"hvcC")
    iloc = heic[inner[b"iloc"][0] + 8:inner[b"iloc"][1]]
    version = iloc[0]
    offset_size, length_size, base_size = iloc[4] >> 4, iloc[4] & 15, iloc[5] >> 4
    assert int.from_bytes(iloc[6:8], "big") == 1  # one item, as pillow-heif writes
    pos = 8 + 2 + (2 if version else 0) + 2  # item_ID, construction method, data_reference_index
    base = int.from_bytes(iloc[pos:pos + base_size], "big")
    pos += base_size + 2  # extent_count: 1
    offset = base + int.from_bytes(iloc[pos:pos + offset_size], "big")
    length = int.from_bytes(iloc[pos + offset_size:pos + offset_size + length_size], "big")
    return hvcc, heic[offset:offset + length]


def grid_heic(tiles: list[bytes], rows: int, cols: int, tile_w: int, tile_h: int) -> bytes:
    """A HEIC whose primary item is a ``grid`` of ``rows`` x ``cols`` coded tiles (each a single-image
    HEIC's item, with its own hvcC), as an iPhone writes a photo: item 1 the grid (its descriptor in
    ``idat``), items 2... the tiles (``dimg`` references), their data in ``mdat``."""
    coded = [_coded_item(t) for t in tiles]
    n = len(coded)
    ftyp = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(12) + b"\0")
    pitm = _full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    infe = [_full_box(b"infe", 2, 0, struct.pack(">HH", i + 1, 0) + kind + b"\0")
            for i, kind in enumerate([b"grid"] + [b"hvc1"] * n)]
    iinf = _full_box(b"iinf", 0, 0, struct.pack(">H", n + 1) + b"".join(infe))
    iref = _full_box(b"iref", 0, 0, _box(b"dimg", struct.pack(">HH", 1, n) + b"".join(struct.pack(">H", i + 2) for i in range(n))))
    ispe_tile = _full_box(b"ispe", 0, 0, struct.pack(">II", tile_w, tile_h))
    ispe_grid = _full_box(b"ispe", 0, 0, struct.pack(">II", cols * tile_w, rows * tile_h))
    ipco = _box(b"ipco", b"".join(h for h, _ in coded) + ispe_tile + ispe_grid)  # properties 1..n, n+1, n+2
    entries = [struct.pack(">HB", 1, 1) + bytes([n + 2])]
    entries += [struct.pack(">HB", i + 2, 2) + bytes([0x80 | (i + 1), n + 1]) for i in range(n)]
    ipma = _full_box(b"ipma", 0, 0, struct.pack(">I", n + 1) + b"".join(entries))
    iprp = _box(b"iprp", ipco + ipma)
    descriptor = struct.pack(">BBBBHH", 0, 0, rows - 1, cols - 1, cols * tile_w, rows * tile_h)
    idat = _box(b"idat", descriptor)

    def meta_with(offsets):
        items = [struct.pack(">HHHH", 1, 1, 0, 1) + struct.pack(">II", 0, len(descriptor))]  # in idat
        items += [struct.pack(">HHHH", i + 2, 0, 0, 1) + struct.pack(">II", off, len(data))
                  for i, (off, (_, data)) in enumerate(zip(offsets, coded))]
        iloc = _full_box(b"iloc", 1, 0, bytes([0x44, 0x00]) + struct.pack(">H", n + 1) + b"".join(items))
        return _full_box(b"meta", 0, 0, hdlr + pitm + iinf + iref + iprp + idat + iloc)

    start = len(ftyp) + len(meta_with([0] * n)) + 8
    offsets = list(np.cumsum([0] + [len(d) for _, d in coded[:-1]]) + start)
    return ftyp + meta_with([int(o) for o in offsets]) + _box(b"mdat", b"".join(d for _, d in coded))


@pytest.fixture(scope="module")
def face(astronaut) -> np.ndarray:
    import cv2

    return cv2.resize(astronaut[:384, 64:448], (256, 256), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("fmt, quality", [("HEIF", 90), ("HEIF", 50), ("HEIF", 10), ("AVIF", 90), ("AVIF", 50),
                                          ("AVIF", 10)])
def test_a_saved_photo_reads_its_quantiser(face, tmp_path, fmt, quality):
    path = tmp_path / f"photo.{'heic' if fmt == 'HEIF' else 'avif'}"
    path.write_bytes(_heic(face, quality, fmt))
    got = read_heif_encoding(path)
    expected = reference_qps(path)
    assert len(expected) == 1
    codec = {"codec": "hevc", "profile": "Main Still Picture", "quantiser": "QP", "quantiser_max": 51} if fmt == "HEIF" \
        else {"codec": "av1", "profile": "Main", "quantiser": "base_q_idx", "quantiser_max": 255}
    assert got == {**codec, "qp": expected[0], "qp_range": [expected[0]] * 2, "tiles_read": 1, "tiles": 1}


def test_a_grid_of_tiles_reads_each_tile(face, tmp_path):
    """An iPhone-style grid (2 x 2 tiles saved at four qualities): libheif decodes it to the whole
    picture, and the reader finds every tile's QP (the median and range over them)."""
    from PIL import Image

    tiles = [face[r * 128:(r + 1) * 128, c * 128:(c + 1) * 128] for r in range(2) for c in range(2)]
    saved = [_heic(np.ascontiguousarray(t), q) for t, q in zip(tiles, (90, 70, 50, 30))]
    singles = []
    for i, data in enumerate(saved):
        (tmp_path / f"tile{i}.heic").write_bytes(data)
        singles.append(read_heif_encoding(tmp_path / f"tile{i}.heic")["qp"])
    path = tmp_path / "grid.heic"
    path.write_bytes(grid_heic(saved, 2, 2, 128, 128))
    with Image.open(path) as img:
        whole = np.asarray(img.convert("RGB"))
    assert whole.shape == (256, 256, 3) and np.abs(whole.astype(int) - face).mean() < 4  # a valid grid file
    got = read_heif_encoding(path)
    assert got["tiles"] == got["tiles_read"] == 4
    assert got["qp"] == np.median(singles) and got["qp_range"] == [min(singles), max(singles)]
    assert singles == sorted(singles) and singles[0] < singles[-1]  # a lower quality, a coarser QP


def test_what_is_not_heic_reads_as_nothing(face, tmp_path):
    from PIL import Image

    Image.fromarray(face).save(tmp_path / "photo.jpg", quality=80)
    Image.fromarray(face).save(tmp_path / "photo.png")
    good = _heic(face, 50)
    (tmp_path / "cut.heic").write_bytes(good[:200])  # the metadata cut short
    broken = bytearray(good)
    at = broken.find(b"hvcC")
    broken[at:at + 4] = b"xxxx"  # no parameter sets: the slices cannot be read
    (tmp_path / "broken.heic").write_bytes(bytes(broken))
    for name in ("photo.jpg", "photo.png", "cut.heic", "broken.heic", "missing.heic"):
        assert read_heif_encoding(tmp_path / name) is None, name


@pytest.mark.parametrize("fmt, codec, found_in", [("HEIF", "heic", "heif_slice_headers"), ("AVIF", "avif", "avif_frame_header")])
def test_the_report_records_the_quantiser_and_the_caveat_goes_by_it(face, tmp_path, fmt, codec, found_in):
    """image_header gives a HEIC's or AVIF's heif_encoding, and lossy_save the save it states."""
    from dfrec.io import image_header
    from dfrec.results import lossy_save

    path = tmp_path / f"photo.{codec}"
    path.write_bytes(_heic(face, 30, fmt))
    header = image_header(path)
    assert header["format"] == fmt and header["heif_encoding"] == read_heif_encoding(path)
    assert lossy_save(header) == (codec, header["heif_encoding"]["qp"], found_in)
