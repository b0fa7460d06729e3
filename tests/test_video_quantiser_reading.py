"""benchmarks/video_quantiser_reading.py: a picture's clip read three ways (slice QP, FFmpeg's mean
macroblock QP, the CRF the stream states)."""

from __future__ import annotations

import numpy as np

from needs import need_module
from repo_scripts import load_script


def test_a_clip_is_read_by_slice_qp_macroblock_qp_and_stated_crf(astronaut):
    """A picture with a flat top-left corner (a plain wall, as behind many portraits): x264's adaptive
    quantisation gives that first macroblock a low QP, so the slice QP reads about 10 below the CRF
    while the macroblocks sit near it; a coarser CRF raises them; x265 states its CRF too and
    exports no macroblock QPs."""
    need_module("av")
    bench = load_script("benchmarks/video_quantiser_reading.py")
    pic = np.ascontiguousarray(astronaut[:250, 130:380])
    pic[:64, :64] = (120, 130, 140)
    readings = {crf: bench.clip_reading(pic, "h264", "libx264", {}, crf) for crf in (23, 40)}
    for crf, got in readings.items():
        assert got["stated_crf"] == crf
        assert got["slice_qp"] <= crf - 8 and got["mb_qp"] >= got["slice_qp"] + 5
        assert abs(got["mb_qp"] - crf) < 8
    assert readings[40]["mb_qp"] > readings[23]["mb_qp"] + 10
    hevc = bench.clip_reading(pic, "hevc", "libx265", {"x265-params": "log-level=error"}, 28)
    assert hevc["stated_crf"] == 28 and hevc["mb_qp"] is None and hevc["slice_qp"] > 28
