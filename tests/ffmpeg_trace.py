"""FFmpeg's own reading of a file's video headers, as a reference for dfrec's readers: the
``trace_headers`` bitstream filter logs every syntax element of each packet of the first video
stream (through PyAV; its log captured at TRACE level)."""

from __future__ import annotations

import re

from needs import need_module


def traced_values(path, element: str) -> list[int]:
    """Every value of the syntax element ``element`` (e.g. ``base_q_idx``, ``slice_qp_delta``) in
    decoding order, as FFmpeg's parser for the stream's codec logs it."""
    av = need_module("av")
    import av.logging

    before = av.logging.get_level()
    av.logging.set_level(av.logging.TRACE)
    try:
        with av.open(str(path)) as f, av.logging.Capture() as logs:
            stream = f.streams.video[0]
            trace = av.bitstream.BitStreamFilterContext("trace_headers", stream)
            for packet in f.demux(stream):
                trace.filter(packet)
    finally:
        av.logging.set_level(before)
    pattern = re.compile(rf"\s{re.escape(element)}\s+\S+ = (-?\d+)")
    return [int(m.group(1)) for *_, line in logs if (m := pattern.search(line))]
