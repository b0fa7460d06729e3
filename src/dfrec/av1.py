"""How an AV1 video was compressed: the quantiser index of its frames, read from the frame headers of
an MP4 (``av01``, as YouTube serves and yt-dlp saves), WebM or Matroska (``V_AV1``) without decoding
pixels.

An AV1 frame header states ``base_q_idx``, 0-255, the index of its quantiser step (AV1 bitstream
specification §5.9.12; libaom's and SVT-AV1's ``--qp``/``--min-q``/``--max-q`` q, 0-63, is index
``4 q`` up to 63 -> 255). Reaching it means reading the sequence header first (§5.5: which optional
fields frame headers carry, the frame size, the superblock size) and then, in each frame header
(§5.9.2), the frame type, screen-content and frame-id fields, order hints, decoder-model times,
reference slots, frame size (with super-resolution) and the tile layout (§5.9.15), which depends on
the frame size. Segments and the delta-q of each superblock may depart from it; neither is read.

A sample of the file is a temporal unit: OBUs (§5.3) with their sizes, the sequence header ahead
of each key frame, one or more frames (a hidden alternate reference and the frame shown after it, or
a frame that only shows an earlier one: that has no quantiser), each a frame OBU or a frame header
OBU with its tile groups. Every coded frame counts, as with VP9's superframes. A frame whose size is
taken from a reference slot (``found_ref``) uses that slot's size where an earlier frame read here
refreshed it, the sequence's largest otherwise (the frame size only decides how many tile-layout
bits there are; encoders keep one size per stream).

The container walk is :func:`dfrec.h264.read_encoding`'s; :data:`AV1` is this codec's
:class:`dfrec.h264.Syntax`. The ``av1_compressed`` caveat goes by the median index read here
(``dfrec.results``; measured with SVT-AV1 clips, ``assets/av1_fake_score.json``).
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from dfrec.h264 import Bits, Syntax, Unreadable, read_encoding

#: OBU types (§6.2.2)
_OBU_SEQUENCE_HEADER, _OBU_FRAME_HEADER, _OBU_FRAME = 1, 3, 6
#: frame types (§6.8.2)
_KEY_FRAME, _INTER_FRAME, _INTRA_ONLY_FRAME, _SWITCH_FRAME = 0, 1, 2, 3
#: seq_force_screen_content_tools / seq_force_integer_mv value meaning "each frame says" (§6.4)
_SELECT = 2
#: the most bytes read of one OBU's payload for its header (a frame header reaches base_q_idx in
#: under 100 bytes; a sequence header is at most a few dozen)
OBU_HEADER_BYTES = 512
PROFILE_NAMES = {0: "Main", 1: "High", 2: "Professional"}


def _uvlc(r: Bits) -> int:
    zeros = 0
    while not r.u(1):
        zeros += 1
        if zeros >= 32:
            raise Unreadable("uvlc() longer than 32 bits")
    return r.u(zeros) + (1 << zeros) - 1


def _ns(r: Bits, n: int) -> int:
    """A non-symmetric unsigned value below ``n`` (§4.10.7)."""
    w = n.bit_length()
    m = (1 << w) - n
    v = r.u(w - 1)
    return v if v < m else (v << 1) - m + r.u(1)


def _tile_log2(block: int, target: int) -> int:
    k = 0
    while (block << k) < target:
        k += 1
    return k


def parse_sequence_header(data: bytes) -> dict[str, Any]:
    """What frame headers depend on, from a sequence header OBU's payload (§5.5). Raises
    :class:`dfrec.h264.Unreadable` when it cannot be read."""
    r = Bits(data[:OBU_HEADER_BYTES])
    seq: dict[str, Any] = {"profile": r.u(3)}
    if seq["profile"] > 2:
        raise Unreadable(f"AV1 seq_profile {seq['profile']}")
    r.u(1)  # still_picture
    reduced = seq["reduced_still_picture_header"] = r.u(1)
    seq.update(equal_picture_interval=0, decoder_model_info_present=0, operating_points=[0], decoder_model_ops=[0])
    if reduced:
        r.u(5)  # seq_level_idx[0]
    else:
        if r.u(1):  # timing_info_present_flag
            r.u(64)  # num_units_in_display_tick, time_scale
            seq["equal_picture_interval"] = r.u(1)
            if seq["equal_picture_interval"]:
                _uvlc(r)  # num_ticks_per_picture_minus_1
            seq["decoder_model_info_present"] = r.u(1)
            if seq["decoder_model_info_present"]:
                seq["buffer_delay_length"] = r.u(5) + 1
                r.u(32)  # num_units_in_decoding_tick
                seq["buffer_removal_time_length"] = r.u(5) + 1
                seq["frame_presentation_time_length"] = r.u(5) + 1
        initial_display_delay_present = r.u(1)
        seq["operating_points"], seq["decoder_model_ops"] = [], []
        for _ in range(r.u(5) + 1):  # operating_points_cnt_minus_1
            seq["operating_points"].append(r.u(12))  # operating_point_idc
            if r.u(5) > 7:  # seq_level_idx
                r.u(1)  # seq_tier
            present = 0
            if seq["decoder_model_info_present"]:
                present = r.u(1)
                if present:  # operating_parameters_info(): two delays, low_delay_mode_flag
                    r.u(2 * seq["buffer_delay_length"] + 1)
            seq["decoder_model_ops"].append(present)
            if initial_display_delay_present and r.u(1):
                r.u(4)  # initial_display_delay_minus_1
    width_bits, height_bits = r.u(4) + 1, r.u(4) + 1
    seq["max_width"], seq["max_height"] = r.u(width_bits) + 1, r.u(height_bits) + 1
    seq["width_bits"], seq["height_bits"] = width_bits, height_bits
    seq["frame_id_numbers_present"] = 0 if reduced else r.u(1)
    if seq["frame_id_numbers_present"]:
        seq["delta_frame_id_length"] = r.u(4) + 2
        seq["frame_id_length"] = r.u(3) + 1 + seq["delta_frame_id_length"]
    seq["sb128"] = r.u(1)
    r.u(2)  # enable_filter_intra, enable_intra_edge_filter
    if reduced:
        seq.update(enable_order_hint=0, enable_ref_frame_mvs=0, force_screen_content_tools=_SELECT,
                   force_integer_mv=_SELECT, order_hint_bits=0)
    else:
        r.u(4)  # enable_interintra_compound, enable_masked_compound, enable_warped_motion, enable_dual_filter
        seq["enable_order_hint"] = r.u(1)
        seq["enable_ref_frame_mvs"] = 0
        if seq["enable_order_hint"]:
            r.u(1)  # enable_jnt_comp
            seq["enable_ref_frame_mvs"] = r.u(1)
        seq["force_screen_content_tools"] = _SELECT if r.u(1) else r.u(1)
        seq["force_integer_mv"] = _SELECT
        if seq["force_screen_content_tools"] > 0 and not r.u(1):  # seq_choose_integer_mv
            seq["force_integer_mv"] = r.u(1)
        seq["order_hint_bits"] = r.u(3) + 1 if seq["enable_order_hint"] else 0
    seq["enable_superres"] = r.u(1)
    return seq


def _superres_and_size(r: Bits, seq: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int]:
    """superres_params() and compute_image_size() (§5.9.8, §7.21) of a frame ``width`` (upscaled) x
    ``height``: ``(width, coded width, MiCols, MiRows)``."""
    denom = 8
    if seq["enable_superres"] and r.u(1):  # use_superres
        denom = r.u(3) + 9  # coded_denom
    coded = (width * 8 + denom // 2) // denom
    return width, coded, 2 * ((coded + 7) >> 3), 2 * ((height + 7) >> 3)


def _frame_size(r: Bits, seq: dict[str, Any], override: int) -> tuple[int, int, int, int, int]:
    """frame_size() and render_size() (§5.9.5, §5.9.6): ``(width, height, coded width, MiCols, MiRows)``."""
    if override:
        width, height = r.u(seq["width_bits"]) + 1, r.u(seq["height_bits"]) + 1
    else:
        width, height = seq["max_width"], seq["max_height"]
    width, coded, mi_cols, mi_rows = _superres_and_size(r, seq, width, height)
    if r.u(1):  # render_and_frame_size_different
        r.u(32)  # render_width_minus_1, render_height_minus_1
    return width, height, coded, mi_cols, mi_rows


def _tile_info(r: Bits, seq: dict[str, Any], mi_cols: int, mi_rows: int) -> None:
    """Read past tile_info() (§5.9.15)."""
    sb_shift = 5 if seq["sb128"] else 4
    sb_cols, sb_rows = (mi_cols + (1 << sb_shift) - 1) >> sb_shift, (mi_rows + (1 << sb_shift) - 1) >> sb_shift
    sb_size = sb_shift + 2
    max_tile_width_sb, max_tile_area_sb = 4096 >> sb_size, (4096 * 2304) >> (2 * sb_size)
    min_log2_cols = _tile_log2(max_tile_width_sb, sb_cols)
    max_log2_cols, max_log2_rows = _tile_log2(1, min(sb_cols, 64)), _tile_log2(1, min(sb_rows, 64))
    min_log2_tiles = max(min_log2_cols, _tile_log2(max_tile_area_sb, sb_rows * sb_cols))
    if r.u(1):  # uniform_tile_spacing_flag
        cols_log2 = min_log2_cols
        while cols_log2 < max_log2_cols and r.u(1):  # increment_tile_cols_log2
            cols_log2 += 1
        rows_log2 = max(min_log2_tiles - cols_log2, 0)
        while rows_log2 < max_log2_rows and r.u(1):  # increment_tile_rows_log2
            rows_log2 += 1
    else:
        widest, start, cols = 0, 0, 0
        while start < sb_cols:
            size = _ns(r, min(sb_cols - start, max_tile_width_sb)) + 1  # width_in_sbs_minus_1
            widest, start, cols = max(widest, size), start + size, cols + 1
        area = (sb_rows * sb_cols) >> (min_log2_tiles + 1) if min_log2_tiles > 0 else sb_rows * sb_cols
        max_height = max(area // widest, 1)
        start, rows = 0, 0
        while start < sb_rows:
            start += _ns(r, min(sb_rows - start, max_height)) + 1  # height_in_sbs_minus_1
            rows += 1
        cols_log2, rows_log2 = _tile_log2(1, cols), _tile_log2(1, rows)
    if cols_log2 or rows_log2:
        r.u(cols_log2 + rows_log2 + 2)  # context_update_tile_id, tile_size_bytes_minus_1


def parse_frame_header(data: bytes, seq: dict[str, Any], refs: dict[int, tuple[int, int]] | None = None,
                       temporal_id: int = 0, spatial_id: int = 0) -> dict[str, Any] | None:
    """``{"type": "I" | "P", "shown": bool, "qp": base_q_idx (0-255), "profile": 0-2}`` of the
    uncompressed frame header at the start of ``data`` (a frame header or frame OBU's payload, §5.9.2)
    under the sequence header ``seq`` (:func:`parse_sequence_header`); ``None`` for a frame that only
    shows an earlier one (show_existing_frame). ``refs`` (slot -> (width, height)) gives the sizes of
    the reference slots and takes this frame's into the slots it refreshes. Raises
    :class:`dfrec.h264.Unreadable` when ``data`` cannot be read so."""
    refs = {} if refs is None else refs
    r = Bits(data[:OBU_HEADER_BYTES])
    timed = seq["decoder_model_info_present"] and not seq["equal_picture_interval"]
    if seq["reduced_still_picture_header"]:
        frame_type, shown, error_resilient = _KEY_FRAME, 1, 1
    else:
        if r.u(1):  # show_existing_frame
            return None
        frame_type, shown = r.u(2), r.u(1)
        if shown and timed:
            r.u(seq["frame_presentation_time_length"])  # temporal_point_info()
        if not shown:
            r.u(1)  # showable_frame
        error_resilient = 1 if frame_type == _SWITCH_FRAME or (frame_type == _KEY_FRAME and shown) else r.u(1)
    intra = frame_type in (_KEY_FRAME, _INTRA_ONLY_FRAME)
    disable_cdf_update = r.u(1)
    screen_content = seq["force_screen_content_tools"]
    if screen_content == _SELECT:
        screen_content = r.u(1)
    if screen_content and seq["force_integer_mv"] == _SELECT:
        integer_mv = r.u(1)
    else:
        integer_mv = seq["force_integer_mv"] if screen_content else 0
    integer_mv = 1 if intra else integer_mv
    if seq["frame_id_numbers_present"]:
        r.u(seq["frame_id_length"])  # current_frame_id
    if frame_type == _SWITCH_FRAME:
        override = 1
    elif seq["reduced_still_picture_header"]:
        override = 0
    else:
        override = r.u(1)  # frame_size_override_flag
    r.u(seq["order_hint_bits"])  # order_hint
    if not (intra or error_resilient):
        r.u(3)  # primary_ref_frame
    if seq["decoder_model_info_present"] and r.u(1):  # buffer_removal_time_present_flag
        for idc, present in zip(seq["operating_points"], seq["decoder_model_ops"]):
            if present and (idc == 0 or ((idc >> temporal_id) & 1 and (idc >> (spatial_id + 8)) & 1)):
                r.u(seq["buffer_removal_time_length"])
    every_slot = 0xFF
    refresh = every_slot if frame_type == _SWITCH_FRAME or (frame_type == _KEY_FRAME and shown) else r.u(8)
    if (not intra or refresh != every_slot) and error_resilient and seq["enable_order_hint"]:
        r.u(8 * seq["order_hint_bits"])  # ref_order_hint[8]
    if intra:
        width, height, coded, mi_cols, mi_rows = _frame_size(r, seq, override)
        if screen_content and width == coded:
            r.u(1)  # allow_intrabc
    else:
        short_signaling = seq["enable_order_hint"] and r.u(1)  # frame_refs_short_signaling
        if short_signaling:
            r.u(6)  # last_frame_idx, gold_frame_idx
        slots = []
        for _ in range(7):  # REFS_PER_FRAME
            slots.append(None if short_signaling else r.u(3))  # ref_frame_idx
            if seq["frame_id_numbers_present"]:
                r.u(seq["delta_frame_id_length"])  # delta_frame_id_minus_1
        if override and not error_resilient:  # frame_size_with_refs()
            for slot in slots:
                if r.u(1):  # found_ref
                    width, height = refs.get(slot) or (seq["max_width"], seq["max_height"])
                    width, coded, mi_cols, mi_rows = _superres_and_size(r, seq, width, height)
                    break
            else:
                width, height, coded, mi_cols, mi_rows = _frame_size(r, seq, override)
        else:
            width, height, coded, mi_cols, mi_rows = _frame_size(r, seq, override)
        if not integer_mv:
            r.u(1)  # allow_high_precision_mv
        if not r.u(1):  # is_filter_switchable
            r.u(2)  # interpolation_filter
        r.u(1)  # is_motion_mode_switchable
        if not error_resilient and seq["enable_ref_frame_mvs"]:
            r.u(1)  # use_ref_frame_mvs
    if not (seq["reduced_still_picture_header"] or disable_cdf_update):
        r.u(1)  # disable_frame_end_update_cdf
    _tile_info(r, seq, mi_cols, mi_rows)
    qp = r.u(8)  # quantization_params(): base_q_idx
    for slot in range(8):
        if refresh >> slot & 1:
            refs[slot] = (width, height)
    return {"type": "I" if intra else "P", "shown": bool(shown), "qp": qp, "profile": seq["profile"]}


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` of the leb128 at ``pos`` (§4.10.5)."""
    value = 0
    for i in range(8):
        if pos + i >= len(data):
            raise Unreadable("OBU size cut short")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise Unreadable("OBU size longer than 8 bytes")


def _obu_header(head: bytes) -> tuple[int, int, int, int, int | None]:
    """``(type, temporal_id, spatial_id, header length, payload size or None: to the end)`` of the
    OBU whose first bytes are ``head`` (§5.3.1-§5.3.3)."""
    if len(head) < 1 or head[0] & 0x80:
        raise Unreadable("no AV1 OBU header")
    kind, extension, has_size = (head[0] >> 3) & 15, head[0] & 4, head[0] & 2
    temporal_id = spatial_id = 0
    pos = 1
    if extension:
        if len(head) < 2:
            raise Unreadable("OBU extension cut short")
        temporal_id, spatial_id, pos = head[1] >> 5, (head[1] >> 3) & 3, 2
    if not has_size:
        return kind, temporal_id, spatial_id, pos, None
    size, pos = _leb128(head, pos)
    return kind, temporal_id, spatial_id, pos, size


def read_config(config: bytes, state: dict) -> None:
    """Take the sequence header from an ``av1C`` box's payload (or Matroska's CodecPrivate, the
    same AV1CodecConfigurationRecord: 4 bytes, then the configOBUs) into ``state``; a damaged one is
    left out (key frames repeat the sequence header)."""
    data, pos = config[4:], 0
    try:
        while pos < len(data):
            kind, _, _, header, size = _obu_header(data[pos:pos + 10])
            size = len(data) - pos - header if size is None else size
            if kind == _OBU_SEQUENCE_HEADER:
                state["seq"] = parse_sequence_header(data[pos + header:pos + header + size])
            pos += header + size
    except Unreadable:
        pass  # the samples' own sequence headers are read instead


def parse_sample(f: BinaryIO, offset: int, size: int, state: dict | None = None) -> list[dict[str, Any]]:
    """The frame headers (:func:`parse_frame_header`) of every coded frame in the AV1 temporal unit
    of ``size`` bytes at ``offset`` of ``f``, under the sequence header in ``state["seq"]`` (from the
    file's configuration, :func:`read_config`, or a sequence header OBU in this or an earlier sample;
    ``state["refs"]``: the reference slots' frame sizes); ``[]`` where one cannot be read."""
    state = {} if state is None else state
    frames: list[dict[str, Any]] = []
    pos, end = offset, offset + size
    try:
        while pos < end:
            f.seek(pos)
            kind, temporal_id, spatial_id, header, length = _obu_header(f.read(min(10, end - pos)))
            length = end - pos - header if length is None else length
            if pos + header + length > end:
                raise Unreadable("OBU runs past its sample")
            if kind in (_OBU_SEQUENCE_HEADER, _OBU_FRAME_HEADER, _OBU_FRAME):
                f.seek(pos + header)
                payload = f.read(min(length, OBU_HEADER_BYTES))
                if kind == _OBU_SEQUENCE_HEADER:
                    state["seq"] = parse_sequence_header(payload)
                elif "seq" not in state:
                    raise Unreadable("AV1 frame before any sequence header")
                elif (got := parse_frame_header(payload, state["seq"], state.setdefault("refs", {}),
                                                temporal_id, spatial_id)) is not None:
                    frames.append(got)
            pos += header + length
    except Unreadable:
        return []
    return frames


AV1 = Syntax(
    name="av1", entries=("av01",), matroska_codecs=("V_AV1",), config_box=b"av1C",
    profile_names=PROFILE_NAMES, parse_sample=parse_sample, read_config=read_config,
    quantiser="base_q_idx", quantiser_max=255,
)


def read_av1_encoding(path: str | os.PathLike, max_frames: int = 240) -> dict[str, Any] | None:
    """:func:`dfrec.h264.read_encoding` of an AV1 video (MP4 ``av01`` or WebM/Matroska ``V_AV1``):
    ``{"codec": "av1", "profile"`` (Main, High, Professional), ``"qp"`` (median base_q_idx, 0-255),
    ``"qp_range", "qp_by_type", "frames_read", "frames_in_file", "quantiser": "base_q_idx",
    "quantiser_max": 255}`` or ``None``."""
    return read_encoding(path, (AV1,), max_frames)
