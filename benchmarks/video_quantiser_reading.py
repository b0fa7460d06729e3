"""How well a video's slice-header QP tells how coarsely it was encoded, against the CRF its encoder states.

``dfrec recover``'s ``h264_compressed`` and ``hevc_compressed`` caveats quote the measured row
(``src/dfrec/assets/<codec>_fake_score.json``, one per x264 / x265 CRF) that fits the video. Until
2026-12-07 the row was picked by the median slice QP of the video's frames alone. x264 writes each
slice header's QP as the QP of the slice's first macroblock, which its adaptive quantisation moves
far from the frame's; x265 writes the frame's. Both write the CRF they ran at into the stream
(:mod:`dfrec.encoder_settings`), which the caveat now goes by.

The pictures are the caveat asset's own kind (``compression_scores.py``'s LFW set: swaps of dfrec's
LFW validation identities pasted into the target's 250 px photo, and those photos), each made into
the 8-frame panning clip the asset measured (``video_clip.VideoRoundTrip``), by:

- **x264, 2 slices**: PyAV's libx264 as the asset made its clips (FFmpeg's slice threads on 2 cores
  cut each frame in two);
- **x264, 1 slice**: ``threads=1``, as FFmpeg's command line writes a small video (frame threads);
- **x265**: libx265, one slice.

Per encoder and CRF: the clips' median slice QP (their median, 10th and 90th percentile), the mean
macroblock QP FFmpeg's H.264 decoder reports (``export_side_data=venc_params``, PyAV; the QP each
macroblock was really quantised at), the CRF the stream states (read back), and the share of clips
whose slice QP picks the asset row of their own CRF (the row the stated CRF picks: all of them).

Usage::

    python benchmarks/video_quantiser_reading.py [--n 24] [--crfs 18,23,28,33,40,45] [--json F]

About 4 minutes on 2 CPU cores at ``--n 24`` (48 pictures); needs PyAV (``pip install -e .[video]``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_LFW = Path(os.environ.get("DFREC_LFW", ROOT.parent / "shared" / "data" / "lfw"))

#: name -> (codec of dfrec's caveat, PyAV encoder, its options besides the CRF)
ENCODERS = {
    "x264, 2 slices": ("h264", "libx264", {}),
    "x264, 1 slice": ("h264", "libx264", {"threads": "1"}),
    "x265": ("hevc", "libx265", {"x265-params": "log-level=error"}),
}


def macroblock_qp(path: str) -> float | None:
    """The median over frames of each frame's mean macroblock QP, as FFmpeg's decoder reports it
    (H.264 only; ``None`` where the decoder exports none, as for HEVC)."""
    import av
    import numpy as np
    from av.sidedata.sidedata import Type

    means = []
    with av.open(path) as f:
        stream = f.streams.video[0]
        stream.codec_context.options = {"export_side_data": "venc_params"}
        for frame in f.decode(stream):
            params = frame.side_data.get(Type.VIDEO_ENC_PARAMS)  # a mapping since PyAV 18.1.1, .get in 18.1.0 too
            if params is None:
                return None
            means.append(float(np.mean(params.qp_map())))
    return float(np.median(means)) if means else None


def clip_reading(picture, codec: str, encoder: str, options: dict, crf: int) -> dict:
    """``{"slice_qp", "mb_qp", "stated_crf"}`` of ``picture``'s 8-frame panning clip at ``crf``."""
    import numpy as np
    from video_clip import CLIP_FRAMES, SUFFIX, encode_clip, pan_clip

    from dfrec.hevc import read_video_encoding

    h, w = picture.shape[:2]
    even = np.pad(picture, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with tempfile.TemporaryDirectory(prefix="dfrec-qp-") as tmp:
        path = os.path.join(tmp, "clip" + SUFFIX.get(codec, ".mp4"))
        encode_clip(path, pan_clip(even, CLIP_FRAMES), {"crf": str(crf), **options}, codec=encoder)
        enc = read_video_encoding(path)
        mb = macroblock_qp(path) if codec == "h264" else None
    stated = (enc.get("encoder") or {}).get("crf")
    return {"slice_qp": enc["qp"], "mb_qp": mb, "stated_crf": stated}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24, help="swaps (and as many untouched photos; default 24)")
    ap.add_argument("--crfs", default="18,23,28,33,40,45", help="CRFs (default: the H.264 asset's)")
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="the LFW folder")
    ap.add_argument("--json", help="write the rows here too")
    a = ap.parse_args(argv)

    import numpy as np
    from compression_scores import lfw_pictures
    from tqdm import tqdm

    from dfrec.results import _nearest_quality, compression_measurement

    pictures = [pic for kind in lfw_pictures(a.lfw, a.n, 224).values() for pic, _ in kind]
    crfs = [int(c) for c in a.crfs.split(",")]
    rows = []
    print(f"{len(pictures)} pictures (LFW validation swaps pasted into their target's photo, and those photos)")
    print("| encoder | CRF | clips | median slice QP: median [p10, p90] | mean macroblock QP: median [p10, p90] "
          "| CRF stated | asset row right by slice QP |")
    print("|---|---|---|---|---|---|---|")
    for name, (codec, encoder, options) in ENCODERS.items():
        asset_rows = compression_measurement(codec)[codec]
        for crf in crfs:
            got = [clip_reading(p, codec, encoder, options, crf)
                   for p in tqdm(pictures, desc=f"{name} CRF {crf}", leave=False)]
            sq = np.array([g["slice_qp"] for g in got])
            mb = np.array([g["mb_qp"] for g in got if g["mb_qp"] is not None])
            right = np.mean([_nearest_quality(asset_rows, q, codec) == str(crf) for q in sq]) \
                if str(crf) in asset_rows else float("nan")
            stated = sorted({g["stated_crf"] for g in got}, key=str)
            row = {"encoder": name, "crf": crf, "clips": len(got),
                   "slice_qp": [float(np.median(sq)), float(np.percentile(sq, 10)), float(np.percentile(sq, 90))],
                   "mb_qp": ([float(np.median(mb)), float(np.percentile(mb, 10)), float(np.percentile(mb, 90))]
                             if len(mb) else None),
                   "stated_crf": stated, "row_right_by_slice_qp": float(right)}
            rows.append(row)
            mbs = f"{row['mb_qp'][0]:.1f} [{row['mb_qp'][1]:.1f}, {row['mb_qp'][2]:.1f}]" if row["mb_qp"] else "–"
            print(f"| {name} | {crf} | {len(got)} | {row['slice_qp'][0]:.1f} "
                  f"[{row['slice_qp'][1]:.1f}, {row['slice_qp'][2]:.1f}] | {mbs} | "
                  f"{', '.join('none' if s is None else f'{s:g}' for s in stated)} | {right:.0%} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"pictures": len(pictures), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
