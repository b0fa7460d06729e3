"""How a video was compressed: the H.264 quantiser of its frames, read from the file without
decoding pixels.

An H.264 encoder's main quality control is the quantisation parameter (QP, 0-51; each +6 doubles
the quantiser step): x264's ``-crf 23`` (FFmpeg's default, FaceForensics++'s "c23") gives P frames
a QP near 23-26, ``-crf 40`` ("c40") near 40. Every coded slice states its QP in its header
(``26 + pic_init_qp_minus26 + slice_qp_delta``, ITU-T H.264 §7.4.2.2, §7.4.3); the macroblocks
may depart from it by small deltas (adaptive quantisation), which are not read here.

:func:`read_h264_encoding` walks an ISO base media file (MP4, MOV, M4V, 3GP: ``moov`` → the video
``trak`` → ``stbl``), takes the sequence and picture parameter sets from its ``avcC`` box (or from
the stream, ``avc3``), and parses the slice header of the first slice of up to ``max_frames``
samples spread evenly over the video. Fragmented MP4s (``moof``), Matroska/WebM, AVI and other
codecs (HEVC, VP9, AV1, MPEG-4 Part 2) read as ``None``.
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO, Iterator

import numpy as np

#: Profiles whose sequence parameter set carries chroma format, bit depths and scaling lists (§7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2",
                  244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4 Intra"}
#: slice_type % 5 (§7.4.3, Table 7-6) -> the frame type it makes.
_SLICE_TYPES = {0: "P", 1: "B", 2: "I", 3: "P", 4: "I"}  # SP and SI coded as P and I
#: The most bytes of a NAL unit read for its header: slice headers with long weight tables fit.
_HEADER_BYTES = 1024


class _Unreadable(ValueError):
    """The stream uses a feature this reader does not parse, or its bits run out."""


class _Bits:
    """Big-endian bit reader over an RBSP, with the Exp-Golomb codes of §9.1."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise _Unreadable("header cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise _Unreadable("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """A NAL unit's payload without its header byte and emulation-prevention bytes (00 00 03 -> 00 00)."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = last if nxt == 0 else nxt


def parse_sps(nal: bytes) -> dict[str, int]:
    """The fields of a sequence parameter set NAL unit (type 7) a slice header needs (§7.3.2.1.1)."""
    r = _Bits(_rbsp(nal))
    profile = r.u(8)
    r.u(16)  # constraint flags, level_idc
    sps = {"id": r.ue(), "profile": profile, "chroma_format_idc": 1, "separate_colour_plane": 0}
    if profile in _HIGH_PROFILES:
        sps["chroma_format_idc"] = r.ue()
        if sps["chroma_format_idc"] == 3:
            sps["separate_colour_plane"] = r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # seq_scaling_matrix_present
            for i in range(8 if sps["chroma_format_idc"] != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    sps["log2_max_frame_num"] = r.ue() + 4
    sps["poc_type"] = r.ue()
    sps["delta_pic_order_always_zero"] = 0
    if sps["poc_type"] == 0:
        sps["log2_max_poc_lsb"] = r.ue() + 4
    elif sps["poc_type"] == 1:
        sps["delta_pic_order_always_zero"] = r.u(1)
        r.se(), r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue(), r.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    sps["width_mbs"], sps["height_map_units"] = r.ue() + 1, r.ue() + 1
    sps["frame_mbs_only"] = r.u(1)
    return sps


def parse_pps(nal: bytes) -> dict[str, int]:
    """The fields of a picture parameter set NAL unit (type 8) a slice header needs (§7.3.2.2)."""
    r = _Bits(_rbsp(nal))
    pps = {"id": r.ue(), "sps_id": r.ue(), "cabac": r.u(1), "bottom_field_pic_order_present": r.u(1)}
    if r.ue() != 0:
        raise _Unreadable("slice groups (FMO)")
    pps["num_ref_idx_l0"], pps["num_ref_idx_l1"] = r.ue() + 1, r.ue() + 1
    pps["weighted_pred"], pps["weighted_bipred_idc"] = r.u(1), r.u(2)
    pps["init_qp"] = 26 + r.se()
    r.se(), r.se()  # pic_init_qs, chroma_qp_index_offset
    r.u(1), r.u(1)  # deblocking_filter_control_present, constrained_intra_pred
    pps["redundant_pic_cnt_present"] = r.u(1)
    return pps


def _ref_list_modification(r: _Bits) -> None:
    if r.u(1):
        while (idc := r.ue()) != 3:
            if idc > 5:
                raise _Unreadable(f"modification_of_pic_nums_idc {idc}")
            r.ue()


def parse_slice_header(nal: bytes, sps_by_id: dict[int, dict], pps_by_id: dict[int, dict]) -> dict[str, Any]:
    """``{"first_mb", "type" ("I", "P", "B"), "qp"}`` of a coded slice NAL unit (type 1 or 5) as far as
    its ``slice_qp_delta`` (§7.3.3), with the parameter sets it refers to."""
    nal_ref_idc, nal_type = (nal[0] >> 5) & 3, nal[0] & 31
    r = _Bits(_rbsp(nal[:_HEADER_BYTES]))
    first_mb = r.ue()
    slice_type = r.ue() % 5
    pps = pps_by_id.get(r.ue())
    if pps is None or (sps := sps_by_id.get(pps["sps_id"])) is None:
        raise _Unreadable("slice before its parameter sets")
    chroma = 0 if sps["separate_colour_plane"] else sps["chroma_format_idc"]
    if sps["separate_colour_plane"]:
        r.u(2)
    r.u(sps["log2_max_frame_num"])
    field = 0
    if not sps["frame_mbs_only"]:
        field = r.u(1)
        if field:
            r.u(1)
    if nal_type == 5:
        r.ue()  # idr_pic_id
    if sps["poc_type"] == 0:
        r.u(sps["log2_max_poc_lsb"])
        if pps["bottom_field_pic_order_present"] and not field:
            r.se()
    elif sps["poc_type"] == 1 and not sps["delta_pic_order_always_zero"]:
        r.se()
        if pps["bottom_field_pic_order_present"] and not field:
            r.se()
    if pps["redundant_pic_cnt_present"]:
        r.ue()
    is_b, is_p = slice_type == 1, slice_type in (0, 3)
    if is_b:
        r.u(1)  # direct_spatial_mv_pred
    l0, l1 = pps["num_ref_idx_l0"], pps["num_ref_idx_l1"]
    if is_p or is_b:
        if r.u(1):  # num_ref_idx_active_override
            l0 = r.ue() + 1
            if is_b:
                l1 = r.ue() + 1
        _ref_list_modification(r)
        if is_b:
            _ref_list_modification(r)
    if (pps["weighted_pred"] and is_p) or (pps["weighted_bipred_idc"] == 1 and is_b):
        r.ue()  # luma_log2_weight_denom
        if chroma:
            r.ue()
        for count in (l0, l1) if is_b else (l0,):
            for _ in range(count):
                if r.u(1):
                    r.se(), r.se()
                if chroma and r.u(1):
                    r.se(), r.se(), r.se(), r.se()
    if nal_ref_idc:
        if nal_type == 5:
            r.u(2)  # no_output_of_prior_pics, long_term_reference
        elif r.u(1):  # adaptive_ref_pic_marking_mode
            while (op := r.ue()) != 0:
                if op > 6:
                    raise _Unreadable(f"memory_management_control_operation {op}")
                r.ue()
                if op == 3:
                    r.ue()
    if pps["cabac"] and slice_type not in (2, 4):
        r.ue()  # cabac_init_idc
    qp = pps["init_qp"] + r.se()
    if not -6 * 8 <= qp <= 51:  # below 0 only in high bit depth video (down to -QpBdOffset)
        raise _Unreadable(f"slice QP {qp}")
    return {"first_mb": first_mb, "type": _SLICE_TYPES[slice_type], "qp": qp}


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of the ISO boxes from ``start`` to ``end``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head)
        header = 8
        if size == 1:
            big = f.read(8)
            if len(big) < 8:
                return
            size, header = struct.unpack(">Q", big)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _child(f: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(f, start, end) if k == kind), None)


def _read(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def _video_track(f: BinaryIO, size: int) -> dict[str, Any] | None:
    """The first video track of an ISO file: its sample entry type, ``avcC`` and sample table."""
    moov = _child(f, 0, size, b"moov")
    if moov is None:
        return None
    for kind, start, end in list(_boxes(f, *moov)):
        if kind != b"trak" or (mdia := _child(f, start, end, b"mdia")) is None:
            continue
        hdlr = _child(f, *mdia, b"hdlr")
        if hdlr is None or _read(f, hdlr[0] + 8, hdlr[0] + 12) != b"vide":
            continue
        stbl = None
        if (minf := _child(f, *mdia, b"minf")) is not None:
            stbl = _child(f, *minf, b"stbl")
        if stbl is None:
            return None
        table = {k: _read(f, s, e) for k, s, e in _boxes(f, *stbl) if k in (b"stsz", b"stsc", b"stco", b"co64")}
        stsd = _child(f, *stbl, b"stsd")
        entry = next(_boxes(f, stsd[0] + 8, stsd[1]), None) if stsd else None
        if entry is None:
            return None
        entry_kind, entry_start, entry_end = entry
        avcc = _child(f, entry_start + 78, entry_end, b"avcC")  # after the 78-byte VisualSampleEntry
        return {"entry": entry_kind.decode("latin-1"), "avcC": _read(f, *avcc) if avcc else None, **table}
    return None


def _sample_offsets(track: dict[str, Any]) -> list[tuple[int, int]]:
    """``(file offset, size)`` of every sample, from the track's stsz, stsc and stco/co64 boxes."""
    stsz, stsc = track.get(b"stsz"), track.get(b"stsc")
    chunks = track.get(b"stco") or track.get(b"co64")
    if not stsz or not stsc or not chunks:
        return []
    uniform, count = struct.unpack(">II", stsz[4:12])
    sizes = [uniform] * count if uniform else list(struct.unpack(f">{count}I", stsz[12:12 + 4 * count]))
    n_chunks = struct.unpack(">I", chunks[4:8])[0]
    wide = track.get(b"stco") is None
    offsets = struct.unpack(f">{n_chunks}{'Q' if wide else 'I'}", chunks[8:8 + (8 if wide else 4) * n_chunks])
    runs = [struct.unpack(">III", stsc[8 + 12 * i:20 + 12 * i])[:2] for i in range(struct.unpack(">I", stsc[4:8])[0])]
    out, sample = [], 0
    for i, (first, per_chunk) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else n_chunks
        for chunk in range(first - 1, min(last, n_chunks)):
            pos = offsets[chunk]
            for _ in range(per_chunk):
                if sample >= len(sizes):
                    return out
                out.append((pos, sizes[sample]))
                pos += sizes[sample]
                sample += 1
    return out


def _avcc_parameter_sets(avcc: bytes) -> tuple[int, list[bytes]]:
    """``(NAL length field size, [SPS and PPS NAL units])`` of an ``avcC`` box's payload."""
    length_size = (avcc[4] & 3) + 1
    nals, pos = [], 6
    for count_mask in (0x1F, 0xFF):
        count = avcc[pos - 1] & count_mask
        for _ in range(count):
            n = struct.unpack(">H", avcc[pos:pos + 2])[0]
            nals.append(avcc[pos + 2:pos + 2 + n])
            pos += 2 + n
        pos += 1  # the PPS count byte follows the SPSs
    return length_size, nals


def read_h264_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """The quantiser of an H.264 video in an MP4/MOV file, from the slice headers of up to
    ``max_frames`` frames spread evenly over it: ``{"codec": "h264", "profile", "qp"`` (the median
    frame QP, 0-51 for 8-bit video), ``"qp_range": [min, max]``, ``"qp_by_type": {"I"|"P"|"B":
    mean}``, ``"frames_read"``, ``"frames_in_file"}``. A frame's QP is its first slice's. ``None``
    for a file that is not an ISO media file holding H.264 in a sample table, or whose headers
    cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            track = _video_track(f, size)
            if track is None or track["entry"] not in ("avc1", "avc3"):
                return None
            sps_by_id: dict[int, dict] = {}
            pps_by_id: dict[int, dict] = {}
            length_size = 4
            if track["avcC"]:
                length_size, nals = _avcc_parameter_sets(track["avcC"])
                for nal in nals:
                    _take_parameter_set(nal, sps_by_id, pps_by_id)
            samples = _sample_offsets(track)
            if not samples:
                return None
            picks = sorted(set(np.linspace(0, len(samples) - 1, min(len(samples), max_frames)).round().astype(int)))
            frames = [frame for i in picks if (frame := _first_slice(f, *samples[i], length_size, sps_by_id,
                                                                        pps_by_id)) is not None]
    except (OSError, ValueError, struct.error, IndexError):
        return None
    if not frames:
        return None
    qps = np.array([fr["qp"] for fr in frames], np.float64)
    by_type = {t: round(float(np.mean([fr["qp"] for fr in frames if fr["type"] == t])), 1)
               for t in ("I", "P", "B") if any(fr["type"] == t for fr in frames)}
    profile = next(iter(sps_by_id.values()))["profile"] if sps_by_id else None
    return {"codec": "h264", "profile": _PROFILE_NAMES.get(profile, str(profile)), "qp": round(float(np.median(qps)), 1),
            "qp_range": [int(qps.min()), int(qps.max())], "qp_by_type": by_type, "frames_read": len(frames),
            "frames_in_file": len(samples)}


def _take_parameter_set(nal: bytes, sps_by_id: dict[int, dict], pps_by_id: dict[int, dict]) -> None:
    if not nal:
        return
    try:
        if nal[0] & 31 == 7:
            sps = parse_sps(nal)
            sps_by_id[sps["id"]] = sps
        elif nal[0] & 31 == 8:
            pps = parse_pps(nal)
            pps_by_id[pps["id"]] = pps
    except _Unreadable:
        pass


def _first_slice(f: BinaryIO, offset: int, size: int, length_size: int, sps_by_id: dict[int, dict],
                 pps_by_id: dict[int, dict]) -> dict[str, Any] | None:
    """The header of the first coded slice in the sample at ``offset`` (NAL units prefixed by their
    ``length_size``-byte length), reading parameter sets met on the way; ``None`` where there is none
    or it cannot be parsed."""
    pos, end = offset, offset + size
    while pos + length_size < end:
        f.seek(pos)
        n = int.from_bytes(f.read(length_size), "big")
        if n == 0 or pos + length_size + n > end:
            return None
        nal = f.read(min(n, _HEADER_BYTES))
        kind = nal[0] & 31 if nal else 0
        if kind in (7, 8):
            _take_parameter_set(nal if n <= _HEADER_BYTES else nal + f.read(n - len(nal)), sps_by_id, pps_by_id)
        elif kind in (1, 5):
            try:
                return parse_slice_header(nal, sps_by_id, pps_by_id)
            except _Unreadable:
                return None
        pos += length_size + n
    return None
