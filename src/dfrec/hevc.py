"""How an HEVC (H.265) video was compressed: the quantiser of its frames, read from the slice
segment headers of an MP4/MOV (``hvc1``/``hev1``, as iPhones record) without decoding pixels.

The same measure as :mod:`dfrec.h264`'s: each slice states its QP, ``26 + init_qp_minus26 +
slice_qp_delta`` (ITU-T H.265 §7.4.7.1), 0-51 on the 8-bit scale. Reaching ``slice_qp_delta``
means reading the sequence parameter set's profile-tier-level, scaling lists and short-term
reference picture sets (§7.3.2.2, §7.3.7), the picture parameter set up to its
``lists_modification_present_flag`` (§7.3.2.3) and the slice header's reference picture set,
long-term pictures, SAO flags and weighted prediction table (§7.3.6). Range and screen content
extensions are not read (a stream using them reads as ``None``).
"""

from __future__ import annotations

import os
import struct
from typing import Any

from dfrec.h264 import H264, HEADER_BYTES, Bits, Syntax, Unreadable, rbsp, read_encoding

#: general_profile_idc -> name (§A.3).
_PROFILE_NAMES = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Range extensions"}
#: slice_type (§7.4.7.1, Table 7-7) -> the frame type it makes.
_SLICE_TYPES = {0: "B", 1: "P", 2: "I"}
_SPS, _PPS = 33, 34


def _nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def _ceil_log2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


def _profile_tier_level(r: Bits, max_sub_layers_minus1: int) -> int:
    """Skip profile_tier_level (§7.3.3); returns general_profile_idc."""
    r.u(3)  # general_profile_space, general_tier_flag
    profile = r.u(5)
    r.u(32), r.u(4), r.u(43), r.u(1), r.u(8)  # compatibility flags, constraint flags, level
    present = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.u(2 * (8 - max_sub_layers_minus1))
    for profile_present, level_present in present:
        if profile_present:
            r.u(88)
        if level_present:
            r.u(8)
    return profile


def _skip_scaling_list_data(r: Bits) -> None:
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not r.u(1):  # scaling_list_pred_mode_flag
                r.ue()
                continue
            if size_id > 1:
                r.se()
            for _ in range(min(64, 1 << (4 + (size_id << 1)))):
                r.se()


def _st_ref_pic_set(r: Bits, idx: int, sets: list[tuple[int, int]]) -> tuple[int, int]:
    """Read st_ref_pic_set(idx) (§7.3.7) given the SPS's earlier ``sets``; returns its
    ``(NumDeltaPocs, pictures used by the current one)``."""
    if idx != 0 and r.u(1):  # inter_ref_pic_set_prediction_flag
        ref = idx - (r.ue() + 1 if idx == len(sets) else 1)
        if not 0 <= ref < len(sets):
            raise Unreadable("reference picture set predicted from one that does not exist")
        r.u(1), r.ue()  # delta_rps_sign, abs_delta_rps_minus1
        count = used_count = 0
        for _ in range(sets[ref][0] + 1):
            used = r.u(1)
            use_delta = 1 if used else r.u(1)
            count += 1 if (used or use_delta) else 0
            used_count += used
        return count, used_count
    negative, positive = r.ue(), r.ue()
    if negative > 16 or positive > 16:
        raise Unreadable("reference picture set too large")
    used_count = 0
    for _ in range(negative + positive):
        r.ue()
        used_count += r.u(1)
    return negative + positive, used_count


def parse_sps(nal: bytes) -> dict[str, Any]:
    """The fields of an HEVC sequence parameter set (NAL type 33) a slice header needs (§7.3.2.2)."""
    r = Bits(rbsp(nal, 2))
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.u(1)
    sps: dict[str, Any] = {"profile": _profile_tier_level(r, max_sub_layers_minus1), "id": r.ue()}
    sps["chroma_format_idc"] = r.ue()
    sps["separate_colour_plane"] = r.u(1) if sps["chroma_format_idc"] == 3 else 0
    r.ue(), r.ue()  # picture width and height
    if r.u(1):  # conformance_window_flag
        r.ue(), r.ue(), r.ue(), r.ue()
    r.ue(), r.ue()  # bit depths
    sps["log2_max_poc_lsb"] = r.ue() + 4
    for _ in range(0 if r.u(1) else max_sub_layers_minus1, max_sub_layers_minus1 + 1):
        r.ue(), r.ue(), r.ue()
    r.ue(), r.ue()  # coding block sizes (only the first slice of a picture is read: no address to size)
    r.ue(), r.ue(), r.ue(), r.ue()  # transform block sizes and hierarchy depths
    if r.u(1) and r.u(1):  # scaling_list_enabled_flag, sps_scaling_list_data_present_flag
        _skip_scaling_list_data(r)
    r.u(1)  # amp_enabled_flag
    sps["sao"] = r.u(1)
    if r.u(1):  # pcm_enabled_flag
        r.u(8), r.ue(), r.ue(), r.u(1)
    sets: list[tuple[int, int]] = []
    for i in range(r.ue()):
        sets.append(_st_ref_pic_set(r, i, sets))
    sps["st_rps"] = sets
    sps["long_term_refs"] = r.u(1)
    sps["lt_used"] = []  # used_by_curr_pic_lt_sps_flag of each long-term picture the SPS lists
    if sps["long_term_refs"]:
        for _ in range(r.ue()):
            r.u(sps["log2_max_poc_lsb"])
            sps["lt_used"].append(r.u(1))
    sps["temporal_mvp"] = r.u(1)
    return sps


def parse_pps(nal: bytes) -> dict[str, Any]:
    """The fields of an HEVC picture parameter set (NAL type 34) a slice header needs (§7.3.2.3)."""
    r = Bits(rbsp(nal, 2))
    pps = {"id": r.ue(), "sps_id": r.ue(), "dependent_slices": r.u(1), "output_flag_present": r.u(1),
           "extra_slice_header_bits": r.u(3)}
    r.u(1)  # sign_data_hiding_enabled_flag
    pps["cabac_init_present"] = r.u(1)
    pps["num_ref_idx_l0"], pps["num_ref_idx_l1"] = r.ue() + 1, r.ue() + 1
    pps["init_qp"] = 26 + r.se()
    r.u(1), r.u(1)  # constrained_intra_pred, transform_skip_enabled
    if r.u(1):  # cu_qp_delta_enabled_flag
        r.ue()
    r.se(), r.se(), r.u(1)  # cb/cr qp offsets, slice_chroma_qp_offsets_present
    pps["weighted_pred"], pps["weighted_bipred"] = r.u(1), r.u(1)
    r.u(1)  # transquant_bypass_enabled_flag
    tiles = r.u(1)
    r.u(1)  # entropy_coding_sync_enabled_flag
    if tiles:
        cols, rows = r.ue() + 1, r.ue() + 1
        if not r.u(1):  # uniform_spacing_flag
            for _ in range(cols - 1 + rows - 1):
                r.ue()
        r.u(1)
    r.u(1)  # pps_loop_filter_across_slices_enabled_flag
    if r.u(1):  # deblocking_filter_control_present_flag
        r.u(1)  # deblocking_filter_override_enabled_flag
        if not r.u(1):  # pps_deblocking_filter_disabled_flag
            r.se(), r.se()
    if r.u(1):  # pps_scaling_list_data_present_flag
        _skip_scaling_list_data(r)
    pps["lists_modification_present"] = r.u(1)
    return pps


def _pred_weight_table(r: Bits, chroma: bool, counts: tuple[int, ...]) -> None:
    r.ue()  # luma_log2_weight_denom
    if chroma:
        r.se()
    for count in counts:
        luma = [r.u(1) for _ in range(count)]
        colour = [r.u(1) for _ in range(count)] if chroma else [0] * count
        for has_luma, has_colour in zip(luma, colour):
            if has_luma:
                r.se(), r.se()
            if has_colour:
                r.se(), r.se(), r.se(), r.se()


def parse_slice_header(nal: bytes, state: dict) -> dict[str, Any]:
    """``{"first", "type" ("I", "P", "B"), "qp"}`` of a coded slice segment NAL unit (types 0-21) as
    far as its ``slice_qp_delta`` (§7.3.6.1); ``first``: it starts its picture (only such are read on)."""
    nal_type = _nal_type(nal)
    r = Bits(rbsp(nal[:HEADER_BYTES], 2))
    first = r.u(1)
    if not first:
        return {"first": False}
    if 16 <= nal_type <= 23:
        r.u(1)  # no_output_of_prior_pics_flag
    pps = state.get("pps", {}).get(r.ue())
    if pps is None or (sps := state.get("sps", {}).get(pps["sps_id"])) is None:
        raise Unreadable("slice before its parameter sets")
    r.u(pps["extra_slice_header_bits"])
    slice_type = r.ue()
    if slice_type not in _SLICE_TYPES:
        raise Unreadable(f"slice_type {slice_type}")
    if pps["output_flag_present"]:
        r.u(1)
    if sps["separate_colour_plane"]:
        r.u(2)
    temporal_mvp, used_by_curr = 0, 0
    if nal_type not in (19, 20):  # not IDR
        r.u(sps["log2_max_poc_lsb"])
        sets = sps["st_rps"]
        if not r.u(1):  # short_term_ref_pic_set_sps_flag
            used_by_curr += _st_ref_pic_set(r, len(sets), sets)[1]
        elif sets:
            index = r.u(_ceil_log2(len(sets))) if len(sets) > 1 else 0
            if index >= len(sets):
                raise Unreadable("short_term_ref_pic_set_idx out of range")
            used_by_curr += sets[index][1]
        if sps["long_term_refs"]:
            listed = sps["lt_used"]
            num_sps = r.ue() if listed else 0
            num_pics = r.ue()
            for i in range(num_sps + num_pics):
                if i < num_sps:
                    index = r.u(_ceil_log2(len(listed))) if len(listed) > 1 else 0
                    if index >= len(listed):
                        raise Unreadable("lt_idx_sps out of range")
                    used_by_curr += listed[index]
                else:
                    r.u(sps["log2_max_poc_lsb"])
                    used_by_curr += r.u(1)
                if r.u(1):  # delta_poc_msb_present_flag
                    r.ue()
        if sps["temporal_mvp"]:
            temporal_mvp = r.u(1)
    chroma = sps["chroma_format_idc"] != 0 and not sps["separate_colour_plane"]
    if sps["sao"]:
        r.u(1)
        if chroma:
            r.u(1)
    kind = _SLICE_TYPES[slice_type]
    if kind != "I":
        l0, l1 = pps["num_ref_idx_l0"], pps["num_ref_idx_l1"]
        if r.u(1):  # num_ref_idx_active_override_flag
            l0 = r.ue() + 1
            if kind == "B":
                l1 = r.ue() + 1
        if pps["lists_modification_present"] and used_by_curr > 1:
            bits = _ceil_log2(used_by_curr)
            for count in (l0, l1) if kind == "B" else (l0,):
                if r.u(1):
                    r.u(bits * count)
        if kind == "B":
            r.u(1)  # mvd_l1_zero_flag
        if pps["cabac_init_present"]:
            r.u(1)
        if temporal_mvp:
            from_l0 = r.u(1) if kind == "B" else 1
            if (from_l0 and l0 > 1) or (not from_l0 and l1 > 1):
                r.ue()
        if (pps["weighted_pred"] and kind == "P") or (pps["weighted_bipred"] and kind == "B"):
            _pred_weight_table(r, chroma, (l0, l1) if kind == "B" else (l0,))
        r.ue()  # five_minus_max_num_merge_cand
    qp = pps["init_qp"] + r.se()
    if not -6 * 8 <= qp <= 51:
        raise Unreadable(f"slice QP {qp}")
    return {"first": True, "type": kind, "qp": qp}


def _hvcc_parameter_sets(hvcc: bytes) -> tuple[int, list[bytes]]:
    """``(NAL length field size, [VPS, SPS, PPS ... NAL units])`` of an ``hvcC`` box's payload (ISO/IEC 14496-15 §8.3.3)."""
    length_size = (hvcc[21] & 3) + 1
    nals, pos = [], 23
    for _ in range(hvcc[22]):
        count = struct.unpack(">H", hvcc[pos + 1:pos + 3])[0]
        pos += 3
        for _ in range(count):
            n = struct.unpack(">H", hvcc[pos:pos + 2])[0]
            nals.append(hvcc[pos + 2:pos + 2 + n])
            pos += 2 + n
    return length_size, nals


HEVC = Syntax(
    name="hevc", entries=("hvc1", "hev1"), matroska_codecs=("V_MPEGH/ISO/HEVC",), config_box=b"hvcC",
    config=_hvcc_parameter_sets, nal_type=_nal_type,
    parameter_sets={_SPS: ("sps", parse_sps), _PPS: ("pps", parse_pps)},  # the VPS holds nothing a slice needs
    slices=frozenset({*range(0, 10), *range(16, 22)}), parse_slice=parse_slice_header, profile_names=_PROFILE_NAMES,
    ts_stream_types=(0x24,), sei=frozenset({39, 40}), nal_header=2,
)


def read_hevc_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """:func:`dfrec.h264.read_encoding` of an HEVC video (``hvc1``/``hev1`` in an MP4/MOV):
    ``{"codec": "hevc", "profile", "qp", "qp_range", "qp_by_type", "frames_read", "frames_in_file"}``
    or ``None``."""
    return read_encoding(path, (HEVC,), max_frames)


def read_video_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """:func:`dfrec.h264.read_encoding` of an H.264, HEVC, VP9 (:mod:`dfrec.vp9`) or AV1
    (:mod:`dfrec.av1`) video, whichever its track holds (one walk of the file): ``{"codec": "h264" |
    "hevc" | "vp9" | "av1", ...}`` or ``None``."""
    from dfrec.av1 import AV1
    from dfrec.vp9 import VP9

    return read_encoding(path, (H264, HEVC, VP9, AV1), max_frames)
