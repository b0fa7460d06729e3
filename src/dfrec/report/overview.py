"""The picture of an input with every face boxed and numbered, for ``report.html``.

A downscaled copy of the analysed picture (long side at most :data:`OVERVIEW_SIDE` px) with
each face's box in the colour of its verdict (red: likely swapped, green: no swap detected,
as on the web app's results page) and its number in a tag above the box, so that "Face 1",
"Face 2", ... of a report can be found in the picture without reading box coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from dfrec.results import FAKE_THRESHOLD, VERDICT_COLOR, verdict

#: Long side of the overview picture in pixels (smaller pictures keep their size).
OVERVIEW_SIDE = 800
#: Box colours (RGB) per verdict, those of the web pages (:data:`dfrec.results.VERDICT_COLOR`).
COLORS = {k: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for k, c in VERDICT_COLOR.items()}


def overview_image(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                   threshold: float = FAKE_THRESHOLD, side: int = OVERVIEW_SIDE,
                   labels: Sequence[str] | None = None) -> np.ndarray:
    """``image`` (H, W, 3) uint8 RGB with face ``boxes`` (N, 4) x0, y0, x1, y1 in its pixels
    numbered 1..N in order (or tagged with ``labels``, N strings), coloured by ``scores`` (N,)
    fake score; returns (h, w, 3) uint8, scaled by ``min(1, side / max(H, W))``."""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    out = image if scale >= 1.0 else cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    out = np.ascontiguousarray(out, dtype=np.uint8).copy()
    oh, ow = out.shape[:2]
    thick = max(2, round(max(oh, ow) / 300))
    font, fscale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, max(oh, ow) / 1200)
    ftick = max(1, round(fscale * 2))
    for i, (box, score) in enumerate(zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores).reshape(-1))):
        color = COLORS[verdict(float(score), threshold)]
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        x0, x1 = np.clip([x0, x1], 0, ow - 1)
        y0, y1 = np.clip([y0, y1], 0, oh - 1)
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), color, thick, cv2.LINE_AA)
        label = str(i + 1) if labels is None else str(labels[i])
        (tw, th), base = cv2.getTextSize(label, font, fscale, ftick)
        pad = max(3, th // 3)
        tag_w, tag_h = tw + 2 * pad, th + base + 2 * pad
        tx = int(min(x0, ow - tag_w))
        ty = int(y0 - tag_h) if y0 - tag_h >= 0 else int(y0)  # above the box, or inside it at the top
        cv2.rectangle(out, (tx, ty), (tx + tag_w, ty + tag_h), color, -1)
        cv2.putText(out, label, (tx + pad, ty + pad + th), font, fscale, (255, 255, 255), ftick, cv2.LINE_AA)
    return out
