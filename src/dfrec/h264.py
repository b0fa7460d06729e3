"""How a video was compressed: the H.264 quantiser of its frames, read from the file without
decoding pixels.

An H.264 encoder's main quality control is the quantisation parameter (QP, 0-51; each +6 doubles
the quantiser step): x264's ``-crf 23`` (FFmpeg's default, FaceForensics++'s "c23") codes a
picture's macroblocks at QPs around 21-28, ``-crf 40`` ("c40") around 35-48. Every coded slice
states a QP in its header (``26 + pic_init_qp_minus26 + slice_qp_delta``, ITU-T H.264 §7.4.2.2,
§7.4.3), and the macroblocks depart from it by deltas (adaptive quantisation), which are not read
here. x264 states its slice's first macroblock's QP there, up to about 10 from the frame's; the
CRF it was run at is read from the settings it writes into the stream instead
(:mod:`dfrec.encoder_settings`, ``"encoder"`` in :func:`read_encoding`'s result).

:func:`read_h264_encoding` walks an ISO base media file (MP4, MOV, M4V, 3GP: ``moov`` → the video
``trak`` → ``stbl``), takes the sequence and picture parameter sets from its ``avcC`` box (or from
the stream, ``avc3``), and parses the slice header of the first slice of up to ``max_frames``
samples spread evenly over the video; Matroska and WebM files (``.mkv``, as OBS and yt-dlp write
them) are read by their blocks instead, and fragmented MP4s by their ``moof`` boxes. AVI and other
codecs read as ``None``. :func:`read_encoding` is the container half, shared with HEVC
(:mod:`dfrec.hevc`), VP9 (:mod:`dfrec.vp9`) and AV1 (:mod:`dfrec.av1`): a :class:`Syntax` says how a
codec's parameter sets and slices (or, for VP9 and AV1, its frames) are read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from dfrec.containers import (CLUSTER, TRACK_ENTRY, TRACK_TYPE, TRACKS, boxes, child, element, matroska_segment,
                              read_range, vint)
from dfrec.encoder_settings import encoder_settings
from dfrec.mpegts import access_unit, annexb_nals, ts_video_track

#: Profiles whose sequence parameter set carries chroma format, bit depths and scaling lists (§7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2",
                  244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4 Intra"}
#: slice_type % 5 (§7.4.3, Table 7-6) -> the frame type it makes.
_SLICE_TYPES = {0: "P", 1: "B", 2: "I", 3: "P", 4: "I"}  # SP and SI coded as P and I
#: The most bytes of a NAL unit read for its header: slice headers with long weight tables fit.
HEADER_BYTES = 1024
#: The most bytes of an SEI NAL unit read (x265's settings text is about 3 KiB).
SEI_BYTES = 64 << 10
#: The most frames a sample table is taken to list (46 hours at 60 fps): a damaged count allocates no more.
MAX_SAMPLES = 10_000_000


class Unreadable(ValueError):
    """The stream uses a feature this reader does not parse, or its bits run out."""


class Bits:
    """Big-endian bit reader over an RBSP, with the Exp-Golomb codes of §9.1."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise Unreadable("header cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise Unreadable("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def rbsp(nal: bytes, header: int = 1) -> bytes:
    """A NAL unit's payload without its ``header`` bytes (H.264: 1, HEVC: 2) and emulation-prevention
    bytes (00 00 03 -> 00 00)."""
    return nal[header:].replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(r: Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = last if nxt == 0 else nxt


def parse_sps(nal: bytes) -> dict[str, int]:
    """The fields of a sequence parameter set NAL unit (type 7) a slice header needs (§7.3.2.1.1)."""
    r = Bits(rbsp(nal))
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
    r.ue(), r.ue()  # picture width and height
    sps["frame_mbs_only"] = r.u(1)
    return sps


def parse_pps(nal: bytes) -> dict[str, int]:
    """The fields of a picture parameter set NAL unit (type 8) a slice header needs (§7.3.2.2)."""
    r = Bits(rbsp(nal))
    pps = {"id": r.ue(), "sps_id": r.ue(), "cabac": r.u(1), "bottom_field_pic_order_present": r.u(1)}
    if r.ue() != 0:
        raise Unreadable("slice groups (FMO)")
    pps["num_ref_idx_l0"], pps["num_ref_idx_l1"] = r.ue() + 1, r.ue() + 1
    pps["weighted_pred"], pps["weighted_bipred_idc"] = r.u(1), r.u(2)
    pps["init_qp"] = 26 + r.se()
    r.se(), r.se()  # pic_init_qs, chroma_qp_index_offset
    r.u(1), r.u(1)  # deblocking_filter_control_present, constrained_intra_pred
    pps["redundant_pic_cnt_present"] = r.u(1)
    return pps


def _ref_list_modification(r: Bits) -> None:
    if r.u(1):
        while (idc := r.ue()) != 3:
            if idc > 5:
                raise Unreadable(f"modification_of_pic_nums_idc {idc}")
            r.ue()


def parse_slice_header(nal: bytes, sps_by_id: dict[int, dict], pps_by_id: dict[int, dict]) -> dict[str, Any]:
    """``{"first_mb", "type" ("I", "P", "B"), "qp"}`` of a coded slice NAL unit (type 1 or 5) as far as
    its ``slice_qp_delta`` (§7.3.3), with the parameter sets it refers to."""
    nal_ref_idc, nal_type = (nal[0] >> 5) & 3, nal[0] & 31
    r = Bits(rbsp(nal[:HEADER_BYTES]))
    first_mb = r.ue()
    slice_type = r.ue() % 5
    pps = pps_by_id.get(r.ue())
    if pps is None or (sps := sps_by_id.get(pps["sps_id"])) is None:
        raise Unreadable("slice before its parameter sets")
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
                    raise Unreadable(f"memory_management_control_operation {op}")
                r.ue()
                if op == 3:
                    r.ue()
    if pps["cabac"] and slice_type not in (2, 4):
        r.ue()  # cabac_init_idc
    qp = pps["init_qp"] + r.se()
    if not -6 * 8 <= qp <= 51:  # below 0 only in high bit depth video (down to -QpBdOffset)
        raise Unreadable(f"slice QP {qp}")
    return {"first_mb": first_mb, "type": _SLICE_TYPES[slice_type], "qp": qp}


def _video_track(f: BinaryIO, size: int) -> dict[str, Any] | None:
    """The first video track of an ISO file: its sample entry type, where the entry's boxes lie
    (``children``: the decoder configuration, ``avcC``, ``hvcC`` ..., is one of them), its
    ``track_id`` and sample table boxes."""
    moov = child(f, 0, size, b"moov")
    if moov is None:
        return None
    for kind, start, end in list(boxes(f, *moov)):
        if kind != b"trak" or (mdia := child(f, start, end, b"mdia")) is None:
            continue
        hdlr = child(f, *mdia, b"hdlr")
        if hdlr is None or read_range(f, hdlr[0] + 8, hdlr[0] + 12) != b"vide":
            continue
        stbl = None
        if (minf := child(f, *mdia, b"minf")) is not None:
            stbl = child(f, *minf, b"stbl")
        if stbl is None:
            return None
        table = {k: read_range(f, s, e) for k, s, e in boxes(f, *stbl) if k in (b"stsz", b"stsc", b"stco", b"co64")}
        tkhd = child(f, start, end, b"tkhd")
        if tkhd is not None:  # the track_ID fragments name: after version/flags and two times of 4 or 8 bytes
            version = read_range(f, tkhd[0], tkhd[0] + 1)
            at = tkhd[0] + (20 if version == b"\x01" else 12)
            table["track_id"] = int.from_bytes(read_range(f, at, at + 4), "big")
        stsd = child(f, *stbl, b"stsd")
        entry = next(boxes(f, stsd[0] + 8, stsd[1]), None) if stsd else None
        if entry is None:
            return None
        entry_kind, entry_start, entry_end = entry
        # the entry's own boxes follow its 78-byte VisualSampleEntry fields
        return {"entry": entry_kind.decode("latin-1"), "children": (entry_start + 78, entry_end), **table}
    return None


def _sample_offsets(track: dict[str, Any]) -> list[tuple[int, int]]:
    """``(file offset, size)`` of every sample, from the track's stsz, stsc and stco/co64 boxes."""
    stsz, stsc = track.get(b"stsz"), track.get(b"stsc")
    chunks = track.get(b"stco") or track.get(b"co64")
    if not stsz or not stsc or not chunks:
        return []
    uniform, count = struct.unpack(">II", stsz[4:12])
    count = min(count, MAX_SAMPLES if uniform else (len(stsz) - 12) // 4)  # a damaged count allocates nothing
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


#: Matroska element IDs (with their length markers) read by :func:`_matroska_track`.
_BLOCK_GROUP, _TRACK_NUMBER, _CODEC_ID, _CODEC_PRIVATE, _SIMPLE_BLOCK, _BLOCK = 0xA0, 0xD7, 0x86, 0x63A2, 0xA3, 0xA1


def _matroska_track(f: BinaryIO, size: int, codecs: tuple[str, ...]) -> dict[str, Any] | None:
    """The first video track of a Matroska/WebM file whose CodecID is one of ``codecs``: its
    CodecPrivate as ``config`` and its frames as ``samples`` (file offset, size), found by walking
    the segment's clusters and block groups as transparent containers (so clusters of unknown size,
    as live recorders write them, read too); laced blocks are skipped."""
    if (segment := matroska_segment(f, size)) is None:
        return None
    pos, end = segment
    track: dict[str, Any] | None = None
    samples: list[tuple[int, int]] = []
    while pos < end and len(samples) < MAX_SAMPLES and (el := element(f, pos)) is not None:
        ident, data, length = el
        if ident in (CLUSTER, _BLOCK_GROUP):
            pos = data  # step inside
            continue
        if length < 0:
            break  # an element of unknown size that is not a container read here
        if ident == TRACKS and track is None:
            track = _matroska_video_entry(f, data, data + length, codecs)
            if track is None:
                return None
        elif ident in (_SIMPLE_BLOCK, _BLOCK) and track is not None:
            f.seek(data)
            number = vint(f, False)
            if number is not None and number[0] == track["number"]:
                flags = f.read(3)[2:]
                if flags and not flags[0] & 0x06:  # not laced
                    start = data + number[1] + 3
                    samples.append((start, data + length - start))
        pos = data + length
    if track is None:
        return None
    return {"entry": track["codec"], "config": track["config"], "samples": samples}


def _matroska_video_entry(f: BinaryIO, start: int, end: int, codecs: tuple[str, ...]) -> dict[str, Any] | None:
    """The first TrackEntry in Tracks (``start``-``end``) of type video whose CodecID is in ``codecs``."""
    pos = start
    while pos < end and (el := element(f, pos)) is not None and el[2] >= 0:
        ident, data, length = el
        if ident == TRACK_ENTRY:
            fields, inner = {}, data
            while inner < data + length and (child := element(f, inner)) is not None and child[2] >= 0:
                if child[0] in (_TRACK_NUMBER, TRACK_TYPE, _CODEC_ID, _CODEC_PRIVATE):
                    fields[child[0]] = read_range(f, child[1], child[1] + child[2])
                inner = child[1] + child[2]
            kind = int.from_bytes(fields.get(TRACK_TYPE, b""), "big")
            codec = fields.get(_CODEC_ID, b"").rstrip(b"\0").decode("latin-1")
            if kind == 1 and codec in codecs:
                return {"number": int.from_bytes(fields.get(_TRACK_NUMBER, b""), "big"), "codec": codec,
                        "config": fields.get(_CODEC_PRIVATE)}
            if kind == 1:
                return None  # the first video track is another codec's
        pos = data + length
    return None


def _fragment_samples(f: BinaryIO, size: int, track_id: int | None) -> list[tuple[int, int]]:
    """``(file offset, size)`` of the track's samples in a fragmented MP4 (``moof`` boxes: each
    ``traf``'s ``tfhd`` and ``trun``, ISO/IEC 14496-12 §8.8), as DASH segments and some recorders
    write; sizes missing from a ``trun`` come from the ``tfhd`` defaults (not from ``trex``)."""
    out: list[tuple[int, int]] = []
    for kind, start, end in boxes(f, 0, size):
        if kind != b"moof" or len(out) >= MAX_SAMPLES:
            continue
        moof = start - 8
        for tkind, tstart, tend in boxes(f, start, end):
            if tkind != b"traf" or (tfhd := child(f, tstart, tend, b"tfhd")) is None:
                continue
            head = read_range(f, *tfhd)
            flags, tid = int.from_bytes(head[1:4], "big"), int.from_bytes(head[4:8], "big")
            if track_id is not None and tid != track_id:
                continue
            pos, base, default_size = 8, moof, 0
            if flags & 0x01:
                base = int.from_bytes(head[pos:pos + 8], "big")
                pos += 8
            pos += 4 * bool(flags & 0x02) + 4 * bool(flags & 0x08)
            if flags & 0x10:
                default_size = int.from_bytes(head[pos:pos + 4], "big")
            at = base
            for rkind, rstart, rend in boxes(f, tstart, tend):
                if rkind != b"trun":
                    continue
                run = read_range(f, rstart, rend)
                rflags, count = int.from_bytes(run[1:4], "big"), int.from_bytes(run[4:8], "big")
                p = 8
                if rflags & 0x01:
                    at = base + int.from_bytes(run[p:p + 4], "big", signed=True)
                    p += 4
                p += 4 * bool(rflags & 0x04)
                fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if rflags & bit]
                for _ in range(min(count, (len(run) - p) // max(4 * len(fields), 1) if fields else count)):
                    sample_size = default_size
                    for bit in fields:
                        if bit == 0x200:
                            sample_size = int.from_bytes(run[p:p + 4], "big")
                        p += 4
                    out.append((at, sample_size))
                    at += sample_size
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


@dataclass(frozen=True)
class Syntax:
    """What :func:`read_encoding` needs of a codec: its ``name``, the MP4 sample ``entries`` and the
    Matroska ``matroska_codecs`` (CodecID) that hold it, the ``config_box`` with its parameter sets
    and ``config`` (that box's payload, or Matroska's CodecPrivate -> NAL length size and NAL units),
    ``nal_type`` (a NAL unit -> its type), the ``parameter_sets`` (NAL type -> the ``state`` table it
    goes to, ``"sps"`` or ``"pps"``, and its parser, whose result holds its ``id``), the ``slices``
    types, read by ``parse_slice(nal, state) -> {"type", "qp", "first": bool}``, and the
    ``profile_names`` of the SPS's ``profile`` number. A codec whose samples are not NAL units
    (VP9, :mod:`dfrec.vp9`; AV1, :mod:`dfrec.av1`) gives ``parse_sample(file, offset, size, state) ->
    [{"type", "qp", "profile"}, ...]`` (its coded frames in the sample; ``state``: one dict per file)
    instead, and no parameter sets or slices, and may give ``read_config(config box payload, state)``.
    ``ts_stream_types``: the MPEG transport stream ``stream_type`` numbers of the codec (H.264 0x1B,
    HEVC 0x24; :mod:`dfrec.mpegts`), whose pictures are read as Annex B NAL units.
    ``quantiser`` names what ``qp`` counts and ``quantiser_max`` its top (H.264 and HEVC: QP, 51).
    ``sei``: the NAL types of SEI messages, where x264 and x265 write their settings
    (:mod:`dfrec.encoder_settings`), and ``nal_header`` the bytes of a NAL unit's header (H.264 1,
    HEVC 2)."""

    name: str
    entries: tuple[str, ...]
    matroska_codecs: tuple[str, ...]
    config_box: bytes
    profile_names: dict[int, str]
    config: Callable[[bytes], tuple[int, list[bytes]]] | None = None
    nal_type: Callable[[bytes], int] | None = None
    parameter_sets: dict[int, tuple[str, Callable[[bytes], dict[str, Any]]]] = field(default_factory=dict)
    slices: frozenset[int] = frozenset()
    parse_slice: Callable[[bytes, dict], dict[str, Any]] | None = None
    parse_sample: Callable[[BinaryIO, int, int, dict], list[dict[str, Any]]] | None = None
    read_config: Callable[[bytes, dict], None] | None = None
    ts_stream_types: tuple[int, ...] = ()
    quantiser: str = "QP"
    quantiser_max: int = 51
    sei: frozenset[int] = frozenset()
    nal_header: int = 1


def read_encoding(path: str | os.PathLike, syntaxes: tuple[Syntax, ...],
                  max_frames: int = 240) -> dict[str, Any] | None:
    """The quantiser of a video coded in one of ``syntaxes`` (the one its track names), in an MP4/MOV,
    Matroska/WebM or MPEG transport stream file (H.264 and HEVC; :mod:`dfrec.mpegts`), from the slice
    (or frame) headers of up to ``max_frames`` frames spread evenly over it: ``{"codec", "profile",
    "qp"`` (the median frame quantiser: H.264 and HEVC QP, 0-51 on the 8-bit scale; VP9 and AV1 base_q_idx, 0-255), ``"qp_range": [min, max]``, ``"qp_by_type":
    {"I"|"P"|"B": mean}``, ``"frames_read"``, ``"frames_in_file"``, ``"quantiser"`` (``"QP"`` or
    ``"base_q_idx"``), ``"quantiser_max"``, ``"encoder"}`` (the settings x264 or x265 wrote into an
    H.264 or HEVC stream, :func:`dfrec.encoder_settings.parse_settings`; ``None`` where it states none). A frame's QP is its first slice's; a VP9 or AV1 sample's
    every coded frame counts (a superframe or temporal unit may hold a hidden one too). ``None`` for a
    file that holds no such video track (in an ISO sample table, Matroska blocks or a transport stream's
    program map), or whose headers cannot be read. A transport stream's ``frames_in_file`` counts its
    PES packets, one picture each as muxers write them."""
    state: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if (track := _video_track(f, size)) is not None:
                syntax = next((s for s in syntaxes if track["entry"] in s.entries), None)
                if syntax is None:
                    return None
                config = child(f, *track["children"], syntax.config_box)
                track["config"] = read_range(f, *config) if config else None
                samples = _sample_offsets(track) or _fragment_samples(f, size, track.get("track_id"))
            elif (track := _matroska_track(f, size, tuple(c for s in syntaxes for c in s.matroska_codecs))) is not None:
                syntax = next(s for s in syntaxes if track["entry"] in s.matroska_codecs)
                samples = track["samples"]
            elif (track := ts_video_track(f, size, tuple(t for s in syntaxes for t in s.ts_stream_types))) is not None:
                syntax = next(s for s in syntaxes if track["stream_type"] in s.ts_stream_types)
                samples = track["samples"]
            else:
                return None
            if not samples:
                return None
            picks = spread(len(samples), max_frames)
            if "pid" in track:  # a transport stream: Annex B pictures, parameter sets in band
                frames = [frame for i in picks
                          if (frame := _first_slice(annexb_nals(access_unit(f, track, samples[i])), syntax, state))]
            elif syntax.parse_sample is not None:
                if syntax.read_config is not None and track.get("config"):
                    syntax.read_config(track["config"], state)
                frames = [frame for i in picks for frame in syntax.parse_sample(f, *samples[i], state)]
            else:
                length_size = 4
                if track["config"]:
                    length_size, nals = syntax.config(track["config"])
                    for nal in nals:
                        _take(syntax, nal, state)
                frames = [frame for i in picks
                          if (frame := _first_slice(_sample_nals(f, *samples[i], length_size, syntax), syntax, state))]
    except (OSError, ValueError, struct.error, IndexError):
        return None
    if not frames:
        return None
    by_type = {t: round(float(np.mean([fr["qp"] for fr in frames if fr["type"] == t])), 1)
               for t in ("I", "P", "B") if any(fr["type"] == t for fr in frames)}
    return {**quantiser_summary(syntax, frames, state), "qp_by_type": by_type, "frames_read": len(frames),
            "frames_in_file": len(samples), "quantiser": syntax.quantiser, "quantiser_max": syntax.quantiser_max,
            "encoder": state.get("encoder")}


def spread(n: int, most: int) -> list[int]:
    """The indices of up to ``most`` of ``n`` items, spread evenly over them (the first and last among them)."""
    return sorted(set(np.linspace(0, n - 1, min(n, most)).round().astype(int)))


def quantiser_summary(syntax: Syntax, frames: list[dict[str, Any]], state: dict) -> dict[str, Any]:
    """``{"codec", "profile", "qp"`` (the median), ``"qp_range": [min, max]}`` of the coded ``frames``
    (or a picture's tiles) read with ``syntax``: the profile from their own headers (a codec read by
    ``parse_sample``) or from the first sequence parameter set in ``state``."""
    qps = np.array([fr["qp"] for fr in frames], np.float64)
    if syntax.parse_sample is not None:
        number = frames[0]["profile"]
    else:
        number = next(iter(state["sps"].values()))["profile"] if state.get("sps") else None
    profile = None if number is None else syntax.profile_names.get(number, str(number))
    return {"codec": syntax.name, "profile": profile, "qp": round(float(np.median(qps)), 1),
            "qp_range": [int(qps.min()), int(qps.max())]}


def _take(syntax: Syntax, nal: bytes, state: dict) -> None:
    """Parse a parameter set NAL unit into ``state`` (by its table and id); one that cannot be parsed
    is left out, so that the slices that need it read as unreadable. An SEI NAL unit: the encoder's
    settings (``state["encoder"]``, :func:`dfrec.encoder_settings.encoder_settings`), until found."""
    if len(nal) < 2:
        return
    if syntax.nal_type(nal) in syntax.sei:
        if state.get("encoder") is None:
            state["encoder"] = encoder_settings(rbsp(nal, syntax.nal_header))
    elif (kind := syntax.parameter_sets.get(syntax.nal_type(nal))) is not None:
        table, parse = kind
        try:
            ps = parse(nal)
        except Unreadable:
            return
        state.setdefault(table, {})[ps["id"]] = ps


def _sample_nals(f: BinaryIO, offset: int, size: int, length_size: int, syntax: Syntax) -> Iterator[bytes]:
    """The NAL units of the sample at ``offset`` (each prefixed by its ``length_size``-byte length):
    parameter sets whole, SEI messages up to :data:`SEI_BYTES`, any other unit's first
    :data:`HEADER_BYTES`; up to a length that overruns the sample."""
    pos, end = offset, offset + size
    while pos + length_size < end:
        f.seek(pos)
        n = int.from_bytes(f.read(length_size), "big")
        if n == 0 or pos + length_size + n > end:
            return
        nal = f.read(min(n, HEADER_BYTES))
        if n > HEADER_BYTES and len(nal) >= 2:
            kind = syntax.nal_type(nal)
            if kind in syntax.parameter_sets:
                nal += f.read(n - len(nal))
            elif kind in syntax.sei:
                nal += f.read(min(n, SEI_BYTES) - len(nal))
        yield nal
        pos += length_size + n


def _first_slice(nals: Iterable[bytes], syntax: Syntax, state: dict) -> dict[str, Any] | None:
    """The header of the first coded slice among a picture's ``nals``, reading parameter sets met on
    the way (into ``state``), and an encoder's settings from an SEI message before it (``state["encoder"]``,
    :func:`dfrec.encoder_settings.encoder_settings`, until found); ``None`` where there is no slice or
    it cannot be parsed."""
    for nal in nals:
        kind = syntax.nal_type(nal) if len(nal) >= 2 else -1
        if kind in syntax.parameter_sets or kind in syntax.sei:
            _take(syntax, nal, state)
        elif kind in syntax.slices:
            try:
                got = syntax.parse_slice(nal, state)
            except Unreadable:
                return None
            return got if got.get("first", True) else None
    return None


H264 = Syntax(
    name="h264", entries=("avc1", "avc3"), matroska_codecs=("V_MPEG4/ISO/AVC",), config_box=b"avcC",
    config=_avcc_parameter_sets, nal_type=lambda nal: nal[0] & 31,
    parameter_sets={7: ("sps", parse_sps), 8: ("pps", parse_pps)}, slices=frozenset({1, 5}),
    parse_slice=lambda nal, state: parse_slice_header(nal, state.get("sps", {}), state.get("pps", {})),
    profile_names=_PROFILE_NAMES, ts_stream_types=(0x1B,), sei=frozenset({6}),
)


def read_h264_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """:func:`read_encoding` of an H.264 video (``avc1``/``avc3`` in an MP4/MOV): ``{"codec": "h264",
    "profile", "qp", "qp_range", "qp_by_type", "frames_read", "frames_in_file"}`` or ``None``."""
    return read_encoding(path, (H264,), max_frames)
